import { hostname } from 'node:os';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { resolveAdminKey, type AdminKeyResult } from './auth/admin-key.ts';
import { KeyService } from './auth/key-service.ts';
import { createHttpApp } from './api/app.ts';
import type { AppEnv } from './api/env.ts';
import type { Config } from './config/schema.ts';
import { Spool } from './ingest/spool.ts';
import { issueClosedStatements } from './jobs/issue-statements.ts';
import { refreshRollups } from './jobs/rollup.ts';
import { startJobs, type JobScheduler, type JobSpec } from './jobs/scheduler.ts';
import { AdmissionQueue } from './sidecar/admission.ts';
import { InferenceService } from './sidecar/inference-service.ts';
import { loadModelRegistry } from './sidecar/models/model-registry.ts';
import type { ModelRegistry } from './sidecar/models/types.ts';
import { readCpuCapacityMillicores, readMemoryLimitBytes } from './sidecar/resources/cgroup.ts';
import { CpuLedger } from './sidecar/resources/cpu-ledger.ts';
import { probeGpus } from './sidecar/resources/nvidia-smi.ts';
import { readProcessCpuMicros, readProcessRssBytes } from './sidecar/resources/process-usage.ts';
import { createResourceSampler, type ResourceSampler } from './sidecar/resources/sampler.ts';
import { openStore, type Store } from './store/client.ts';
import { migrate } from './store/migrate.ts';
import { RESOURCE_ATTR } from './telemetry/attributes.ts';
import type { FocusContext } from './statements/render.ts';
import { createTracing, type Tracing } from './telemetry/tracing.ts';

/**
 * The composition root: the only place that builds clients and wires adapters into services.
 * `up` runs every part in one process; `sidecar` and `api` run one side each.
 */

export type ProcessKind = 'up' | 'sidecar' | 'api';

export interface StartOptions {
  kind: ProcessKind;
  port: number;
  log?: (line: string) => void;
  /** Environment for the standard OTEL_* variables (defaults to process.env). */
  env?: Record<string, string | undefined>;
}

export interface Platform {
  readonly app: OpenAPIHono<AppEnv>;
  readonly store: Store;
  readonly keys: KeyService;
  readonly adminKey: AdminKeyResult;
  /** Bound port (useful when started on port 0). */
  readonly port: number;
  readonly inference?: InferenceService;
  /** Writes buffered spans and resource samples out now (tests, demo, shutdown). */
  flushTelemetry(): Promise<void>;
  runRollup(): Promise<void>;
  close(): Promise<void>;
}

interface SidecarParts {
  inference: InferenceService;
  registry: ModelRegistry;
  tracing: Tracing;
  sampler: ResourceSampler;
}

export async function startPlatform(config: Readonly<Config>, opts: StartOptions): Promise<Platform> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const store = await openStore({ url: config.clickhouse.url, cluster: config.clickhouse.cluster, dataDir: config.data_dir });
  const closers: Array<() => Promise<void>> = [() => store.close()];
  try {
    // A sidecar on a shared server leaves the schema to `migrate`/`api`; on its own embedded
    // engine nobody else would create it.
    if (opts.kind !== 'sidecar' || store.mode === 'embedded') {
      const result = await migrate(store, { cluster: config.clickhouse.cluster, rawTtlDays: config.clickhouse.raw_ttl_days }, log);
      if (result.applied.length) log(`migrations applied: ${result.applied.join(', ')}`);
    }
    const adminKey = resolveAdminKey(config.admin_key, config.data_dir);
    const keys = new KeyService(store, adminKey.key);
    await keys.load();
    const spool = new Spool(join(config.data_dir, 'spool'));

    const exporter = telemetryExporter(config, opts.kind, opts.env ?? process.env);
    const sidecar = opts.kind === 'api' ? undefined : await startSidecar(config, store, spool, exporter, log);
    if (sidecar) closers.unshift(() => stopSidecar(sidecar));

    const jobs: JobSpec[] = [];
    jobs.push({ name: 'spool-drain', cron: '*/10 * * * * *', run: () => spool.drain((table, rows) => store.insert(table, rows)) });
    const rollupOptions = { rawTtlDays: config.clickhouse.raw_ttl_days };
    const billing = opts.kind === 'sidecar' ? undefined : billingServices(config, store);
    if (billing) {
      jobs.push({ name: 'rollups', cron: '*/30 * * * * *', run: () => refreshRollups(store, rollupOptions) });
      jobs.push({ name: 'issue-statements', cron: '0 5 * * * *', run: () => issueClosedStatements(billing.statements) });
    }
    const scheduler: JobScheduler = startJobs(jobs, (job, err) => log(`job ${job} failed: ${(err as Error).message}`));
    closers.unshift(() => scheduler.stop());

    const app = createHttpApp({
      store,
      keys,
      tenantExists: (t) => t in config.tenants || keys.tenantsWithKeys().has(t),
      readiness: [{ name: 'clickhouse', check: () => store.ping() }],
      maxBodyBytes: config.server.max_body_bytes,
      now: Date.now,
      api: billing,
      sidecar: sidecar && {
        inference: sidecar.inference,
        trustTenantHeader: config.sidecar.trust_tenant_header,
        isReady: () => true,
      },
    });
    const { server, port } = await listen(app, config.server.host, opts.port);
    closers.unshift(() => new Promise<void>((resolve) => server.close(() => resolve())));

    return {
      app,
      store,
      keys,
      adminKey,
      port,
      inference: sidecar?.inference,
      async flushTelemetry() {
        if (!sidecar) return;
        await sidecar.sampler.sampleNow();
        await sidecar.tracing.flush();
      },
      async runRollup() {
        await refreshRollups(store, rollupOptions);
      },
      async close() {
        for (const close of closers) await close().catch((err: unknown) => log(`shutdown: ${(err as Error).message}`));
      },
    };
  } catch (err) {
    for (const close of closers) await close().catch(() => {});
    throw err;
  }
}

/**
 * Where spans go. The standalone sidecar exports OTLP when the standard OTel endpoint variables
 * are set (to an ingest endpoint or a collector); otherwise, and always in `up`, spans are written
 * straight to ClickHouse.
 */
export function telemetryExporter(config: Readonly<Config>, kind: ProcessKind, env: Record<string, string | undefined>): 'clickhouse' | 'otlp' {
  if (kind === 'sidecar' && (env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)) return 'otlp';
  return config.telemetry.exporter;
}

async function startSidecar(
  config: Readonly<Config>,
  store: Store,
  spool: Spool,
  exporter: 'clickhouse' | 'otlp',
  log: (line: string) => void,
): Promise<SidecarParts> {
  const registry = await loadModelRegistry(config.models, config.tenants);
  const instanceId = config.sidecar.instance_id ?? `${hostname()}-${process.pid}`;
  const gpus = await probeGpus().catch(() => []);
  const resource = {
    [RESOURCE_ATTR.serviceName]: config.telemetry.service_name,
    [RESOURCE_ATTR.serviceInstanceId]: instanceId,
    [RESOURCE_ATTR.serviceVersion]: '0.1.0',
    [RESOURCE_ATTR.hostName]: hostname(),
    ...(gpus.length ? { [RESOURCE_ATTR.gpuModel]: gpus[0]!.name, [RESOURCE_ATTR.gpuCount]: gpus.length } : {}),
  };
  const onError = (err: unknown) => log(`telemetry: ${(err as Error).message} (spooled, will retry)`);
  const tracing =
    exporter === 'otlp'
      ? createTracing({ exporter: 'otlp', resource, batchDelayMs: config.telemetry.batch_delay_ms, maxBatchSize: config.telemetry.max_batch_size })
      : createTracing({ exporter: 'clickhouse', store, spool, resource, batchDelayMs: config.telemetry.batch_delay_ms, maxBatchSize: config.telemetry.max_batch_size, onError });

  const ledger = new CpuLedger(readProcessCpuMicros());
  const inference = new InferenceService({
    registry,
    tracer: tracing.tracer,
    ledger,
    admission: new AdmissionQueue(config.sidecar.max_concurrency, config.sidecar.max_queue),
    readCpuMicros: readProcessCpuMicros,
  });
  const sampler = createResourceSampler({
    intervalMs: config.sidecar.sample_interval_s * 1000,
    instanceId,
    host: hostname(),
    serviceName: config.telemetry.service_name,
    ledger,
    readCpuMicros: readProcessCpuMicros,
    readRssBytes: readProcessRssBytes,
    readCapacity: () => ({ cpuMillicores: readCpuCapacityMillicores(), memoryBytes: readMemoryLimitBytes() }),
    probeGpus: () => probeGpus(),
    now: Date.now,
    onSample: (sample, gpuRows) => writeOrSpool(store, spool, [['resource_samples', [sample]], ['gpu_samples', gpuRows]], onError),
    onError: (err) => log(`resource sampler: ${(err as Error).message}`),
  });
  sampler.start();
  return { inference, registry, tracing, sampler };
}

async function stopSidecar(parts: SidecarParts): Promise<void> {
  await parts.sampler.stop();
  await parts.tracing.shutdown();
  await parts.registry.close();
}

/** Samples are billing inputs too: a failed write goes to the spool, never away. */
async function writeOrSpool(store: Store, spool: Spool, batches: Array<[string, readonly object[]]>, onError: (err: unknown) => void): Promise<void> {
  for (const [table, rows] of batches) {
    if (rows.length === 0) continue;
    try {
      await store.insert(table, rows);
    } catch (err) {
      onError(err);
      spool.append(table, rows);
    }
  }
}

/** The cost, statement and FOCUS contexts of the API, from config. */
export function billingServices(config: Readonly<Config>, store: Store) {
  const plan = (tenantId: string) => planOf(config, tenantId);
  return {
    costs: { store, pricing: config.pricing, planOf: plan, now: Date.now },
    statements: { store, pricing: config.pricing, planOf: plan, closeGraceHours: config.billing.close_grace_hours, now: Date.now },
    focus: (tenantId: string): FocusContext => ({
      providerName: config.billing.provider_name,
      publisherName: config.billing.provider_name,
      invoiceIssuerName: config.billing.invoice_issuer_name,
      billingAccountId: tenantId,
      billingAccountName: tenantId,
      serviceName: config.billing.service_name,
      serviceCategory: 'AI and Machine Learning',
    }),
  };
}

export function planOf(config: Readonly<Config>, tenantId: string): string {
  return config.tenants[tenantId]?.plan ?? config.pricing.default_plan;
}

function listen(app: OpenAPIHono<AppEnv>, hostname: string, port: number): Promise<{ server: ServerType; port: number }> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname, port }, (info) => resolve({ server, port: info.port }));
    server.once('error', reject);
  });
}
