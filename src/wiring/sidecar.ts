import { existsSync } from 'node:fs';
import { diag, DiagLogLevel } from '@opentelemetry/api';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { storeOrSpool } from '../ingest/row-sink.ts';
import { samplesOrSpool, type SamplesClient } from '../sidecar/resources/samples-client.ts';
import { Spool } from '../ingest/spool.ts';
import type { ProcessKind } from '../main.ts';
import { QuotaAuthorityError } from '../quotas/http-authority.ts';
import type { QuotaAuthority } from '../quotas/types.ts';
import { FairQueue } from '../sidecar/fair-queue.ts';
import { DEFAULT_MAX_HELD_REFUSALS, RefusalPacer, unrefSleep } from '../sidecar/refusal-pacer.ts';
import { InferenceService } from '../sidecar/inference-service.ts';
import { loadModelRegistry } from '../sidecar/models/model-registry.ts';
import type { ModelRegistry } from '../sidecar/models/types.ts';
import { QuotaGate } from '../sidecar/quota-client.ts';
import { readCpuCapacityMillicores, readMemoryLimitBytes } from '../sidecar/resources/cgroup.ts';
import { CpuLedger } from '../sidecar/resources/cpu-ledger.ts';
import { probeGpus } from '../sidecar/resources/nvidia-smi.ts';
import { probeDcgmExporter } from '../sidecar/resources/dcgm-exporter.ts';
import { readProcessCpuMicros, readProcessRssBytes } from '../sidecar/resources/process-usage.ts';
import { createResourceSampler, type ResourceSampler } from '../sidecar/resources/sampler.ts';
import type { Store } from '../store/client.ts';
import { RESOURCE_ATTR } from '../telemetry/attributes.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { createTracing, type Tracing } from '../telemetry/tracing.ts';
import { SpanJournalError } from '../telemetry/journaled-span-processor.ts';
import { planOf } from './billing.ts';

/** Part of the composition root (src/main.ts): the inference sidecar's wiring. */

export interface SidecarParts {
  inference: InferenceService;
  registry: ModelRegistry;
  tracing: Tracing;
  sampler: ResourceSampler;
  quotaGate: QuotaGate;
}

/** Where a sidecar leases quota budget: this process's own authority, or the API's over HTTP. */
export interface QuotaSource {
  authority: QuotaAuthority;
  inProcess: boolean;
  /** With standby authorities configured: whether a standby answered last (for a metric). */
  standbyInUse?: () => boolean;
  /** With standby authorities configured: hand back to the primary if it answers again (a job). */
  recheckPrimary?: () => Promise<void>;
}

/**
 * Where spans go. The standalone sidecar exports OTLP when the standard OTel endpoint variables
 * are set (to an ingest endpoint or a collector); otherwise, and always in `up`, spans are written
 * straight to ClickHouse.
 */
export type OtlpProtocol = 'http/protobuf' | 'grpc';

/**
 * The OTLP protocol of a sidecar that exports by OTLP, from the standard variables
 * (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL; default http/protobuf).
 * http/json is refused at start rather than quietly sent as protobuf.
 */
export function otlpProtocolOf(env: Record<string, string | undefined>): OtlpProtocol {
  const name = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const value = (env[name] || 'http/protobuf').trim();
  const problems: string[] = [];
  if (value !== 'http/protobuf' && value !== 'grpc') problems.push(`${name}: the sidecar exports spans by http/protobuf or grpc, not ${JSON.stringify(value)}`);
  // The exporters fall back to localhost on an endpoint they cannot parse, without a word:
  // spans would pile up in the journal while the log blamed a refused connection.
  for (const endpoint of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']) {
    const url = env[endpoint]?.trim();
    if (!url) continue;
    let protocol: string | undefined;
    try {
      protocol = new URL(url).protocol;
    } catch {
      protocol = undefined;
    }
    if (protocol !== 'http:' && protocol !== 'https:') problems.push(`${endpoint}: an http(s) URL such as http://collector:4318, not ${JSON.stringify(url)}`);
  }
  if (problems.length) throw new ConfigError(problems);
  return value as OtlpProtocol;
}

/**
 * What an operator must know about a sidecar that exports by OTLP, said at start. Found by
 * dogfooding: spans of other tenants sent with one tenant's ingest key were refused by the API
 * (OTLP partial success) and the sidecar said nothing; resource samples went to the sidecar's own
 * embedded engine, which no API reads, so capacity cost was zero.
 */
export function otlpExportNotes(env: Record<string, string | undefined>, storeMode: 'embedded' | 'server', apiUrl?: string): string[] {
  const notes: string[] = [];
  const headers = `${env.OTEL_EXPORTER_OTLP_HEADERS ?? ''},${env.OTEL_EXPORTER_OTLP_TRACES_HEADERS ?? ''}`;
  if (/\bil_ingest_/.test(headers)) {
    notes.push('note: spans are exported with an ingest key, which writes for its own tenant only: the API refuses spans of every other tenant this sidecar serves (logged as a partial success); a sidecar serving several tenants exports with the admin key');
  }
  // With an API to send them to, the start-up check of that API says where they go.
  if (storeMode === 'embedded' && apiUrl === undefined) {
    notes.push('warning: resource samples (the capacity that cost attribution prices) are written to this sidecar\'s own embedded ClickHouse, which no API reads: set quotas.authority_url (and the API\'s admin key as quotas.authority_key) to send them to the API, or CLICKHOUSE_URL to the ClickHouse server the API uses, or its costs will have no capacity from this sidecar');
  }
  return notes;
}

/** An export failure with what the server said: "Not Found" alone does not say which URL or why. */
/** Journal files waiting in a spool folder (0 when there is none). */
function pendingIn(dir: string): number {
  return existsSync(dir) ? new Spool(dir).pending().length : 0;
}

function describeExportError(err: unknown): string {
  const e = err as Error & { code?: number; data?: string };
  const body = typeof e.data === 'string' && e.data ? `: ${e.data.slice(0, 200)}` : '';
  return `${e.message}${e.code !== undefined ? ` (HTTP ${e.code}${body})` : ''}`;
}

export function telemetryExporter(config: Readonly<Config>, kind: ProcessKind, env: Record<string, string | undefined>): 'clickhouse' | 'otlp' {
  if (kind === 'sidecar' && (env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)) return 'otlp';
  return config.telemetry.exporter;
}

export async function startSidecar(
  config: Readonly<Config>,
  store: Store,
  spool: Spool,
  exporter: 'clickhouse' | 'otlp',
  quotaSource: QuotaSource,
  metrics: Pick<Metrics, 'requests'>,
  log: (line: string) => void,
  otlpProtocol: OtlpProtocol = 'http/protobuf',
  /** Resource samples go to this API instead of `store` (an OTLP-exporting sidecar on its own embedded engine). */
  samplesClient?: SamplesClient,
): Promise<SidecarParts> {
  const registry = await loadModelRegistry(config.models, config.tenants);
  const instanceId = config.sidecar.instance_id ?? `${hostname()}-${process.pid}`;
  const dcgmUrl = config.sidecar.dcgm_exporter_url;
  // nvidia-smi, or the node's DCGM exporter when configured: the same readings either way.
  const readGpus = dcgmUrl === undefined ? () => probeGpus() : () => probeDcgmExporter({ url: dcgmUrl });
  const gpus = await readGpus().catch((err: unknown) => {
    if (dcgmUrl !== undefined) log(`GPUs: ${(err as Error).message} (no GPU in the resource attributes; samples retry every window)`);
    return [];
  });
  const resource = {
    [RESOURCE_ATTR.serviceName]: config.telemetry.service_name,
    [RESOURCE_ATTR.serviceInstanceId]: instanceId,
    [RESOURCE_ATTR.serviceVersion]: '0.1.0',
    [RESOURCE_ATTR.hostName]: hostname(),
    ...(gpus.length ? { [RESOURCE_ATTR.gpuModel]: gpus[0]!.name, [RESOURCE_ATTR.gpuCount]: gpus.length } : {}),
  };
  // A failed delivery's spans are always kept (journal file, spool, or memory) and retried; a
  // journal problem's message says itself what became of its spans.
  const onError = (err: unknown) => log(`telemetry: ${describeExportError(err)}${err instanceof SpanJournalError ? '' : ' (kept, will retry)'}`);
  if (exporter === 'otlp') {
    // The OTLP exporters report a partial success (spans the API refused, and why) only through
    // OTel's diag logger, which is silent unless set: route its warnings and errors to the log.
    const toLog = (message: string, ...args: unknown[]) => log(`telemetry: ${[message, ...args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a)))].join(' ')}`);
    diag.setLogger({ error: toLog, warn: toLog, info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.WARN);
  }
  const otlpJournalDir = join(config.data_dir, 'otlp-journal');
  const leftover = pendingIn(otlpJournalDir);
  if (leftover > 0 && exporter !== 'otlp') {
    log(
      `warning: ${leftover} file(s) of acknowledged spans in ${otlpJournalDir} wait for an OTLP export, which this configuration (spans to ClickHouse) does not make: ` +
        'start once with OTEL_EXPORTER_OTLP_ENDPOINT set to export them, or they are never billed',
    );
  } else if (leftover > 0 && !config.telemetry.journal) {
    log(`telemetry: ${leftover} file(s) of acknowledged spans in ${otlpJournalDir}, left by a run with the span journal on: exporting them`);
  }
  const tracing =
    exporter === 'otlp'
      ? createTracing({
          exporter: 'otlp',
          protocol: otlpProtocol,
          resource,
          batchDelayMs: config.telemetry.batch_delay_ms,
          maxBatchSize: config.telemetry.max_batch_size,
          // Its own spool: the spool-drain job inserts into ClickHouse, this one exports by OTLP.
          journalSpool: config.telemetry.journal ? new Spool(otlpJournalDir) : undefined,
          leftoverJournal: !config.telemetry.journal && leftover > 0 ? new Spool(otlpJournalDir) : undefined,
          onError,
        })
      : createTracing({
          exporter: 'clickhouse',
          store,
          spool,
          resource,
          batchDelayMs: config.telemetry.batch_delay_ms,
          maxBatchSize: config.telemetry.max_batch_size,
          journal: config.telemetry.journal,
          onError,
        });

  const quotaGate = new QuotaGate({
    authority: quotaSource.authority,
    holder: instanceId,
    // In process a lease is a function call: lease one unit at a time and count exactly.
    maxChunk: quotaSource.inProcess ? 1 : config.quotas.lease_max_chunk,
    leaseTtlS: config.quotas.lease_ttl_s,
    failMode: config.quotas.fail_mode,
    onError: (err) => {
      const status = err instanceof QuotaAuthorityError ? err.status : undefined;
      const effect =
        status === 401 || status === 403
          ? "it refuses this sidecar's key: requests are refused with 503 quota_authority_refused, whatever the fail_mode"
          : `fail_mode ${config.quotas.fail_mode}: requests are ${config.quotas.fail_mode === 'open' ? 'admitted without quotas' : 'refused with 503'} until it answers`;
      log(`quota authority: ${(err as Error).message} (${effect})`);
    },
    onRecovered: (downMs, failures) => log(`quota authority answers again after ${Math.round(downMs / 1000)} s (${failures} calls failed meanwhile); quotas are enforced again`),
  });
  quotaGate.start();
  const ledger = new CpuLedger(readProcessCpuMicros());
  const inference = new InferenceService({
    registry,
    tracer: tracing.tracer,
    ledger,
    admission: new FairQueue({
      maxConcurrency: config.sidecar.max_concurrency,
      maxQueue: config.sidecar.max_queue,
      maxQueuePerTenant: Math.min(config.quotas.max_queue_per_tenant, Math.max(1, config.sidecar.max_queue)),
      weightOf: (tenantId) => config.quotas.plan_weights[planOf(config, tenantId)] ?? 1,
    }),
    readCpuMicros: readProcessCpuMicros,
    quotas: quotaGate,
    refusalPacer: new RefusalPacer({ delayMs: config.quotas.repeat_refusal_delay_ms, maxHeld: DEFAULT_MAX_HELD_REFUSALS, now: Date.now, sleep: unrefSleep }),
    metrics: metrics.requests,
    recorded: (span) => tracing.recorded(span.spanContext().spanId),
  });
  // Samples are billing inputs too: a failed write goes to the spool, never away.
  const sampleSink = samplesClient ? samplesOrSpool(samplesClient, spool, (err) => log(`${(err as Error).message} (spooled, will retry)`)) : storeOrSpool(store, spool, onError);
  const sampler = createResourceSampler({
    intervalMs: config.sidecar.sample_interval_s * 1000,
    instanceId,
    host: hostname(),
    serviceName: config.telemetry.service_name,
    ledger,
    readCpuMicros: readProcessCpuMicros,
    readRssBytes: readProcessRssBytes,
    readCapacity: () => ({ cpuMillicores: readCpuCapacityMillicores(), memoryBytes: readMemoryLimitBytes() }),
    probeGpus: readGpus,
    now: Date.now,
    onSample: async (sample, gpuRows) => {
      await sampleSink.write('resource_samples', [sample]);
      await sampleSink.write('gpu_samples', gpuRows);
    },
    onError: (err) => log(`resource sampler: ${(err as Error).message}`),
  });
  sampler.start();
  return { inference, registry, tracing, sampler, quotaGate };
}

export async function stopSidecar(parts: SidecarParts): Promise<void> {
  await parts.quotaGate.stop();
  await parts.sampler.stop();
  await parts.tracing.shutdown();
  await parts.registry.close();
}

