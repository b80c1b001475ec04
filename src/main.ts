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
import { createAlerting } from './alerts/create-alerting.ts';
import { createAnomalyScanner } from './jobs/anomaly-scan.ts';
import { issueClosedStatements } from './jobs/issue-statements.ts';
import { createMetricsPortApp } from './api/routes/metrics.ts';
import { createCostSnapshot } from './telemetry/cost-snapshot.ts';
import { countInserts } from './telemetry/ingest-metrics.ts';
import { createMetrics, TenantLabeler, type Metrics } from './telemetry/metrics.ts';
import { refreshRollups } from './jobs/rollup.ts';
import { startJobs, type JobScheduler, type JobSpec } from './jobs/scheduler.ts';
import { createQuotaAuthority, type LocalQuotaAuthority } from './quotas/authority.ts';
import type { QuotaLimits } from './quotas/config.ts';
import { createHttpQuotaAuthority } from './quotas/http-authority.ts';
import { createMonthlyUsageReader } from './quotas/monthly-usage.ts';
import type { QuotaAuthority } from './quotas/types.ts';
import { FairQueue } from './sidecar/fair-queue.ts';
import { QuotaGate } from './sidecar/quota-client.ts';
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
  /** Bound port of the unauthenticated GET /metrics listener, when server.metrics_port is set. */
  readonly metricsPort?: number;
  readonly inference?: InferenceService;
  /** This process's quota authority (`up`, `api`; a `sidecar` without quotas.authority_url has a local one). */
  readonly quotas?: LocalQuotaAuthority;
  /** Writes buffered spans and resource samples out now (tests, demo, shutdown). */
  flushTelemetry(): Promise<void>;
  runRollup(): Promise<void>;
  /** Runs one alert evaluation now and waits for its deliveries (tests, demo). */
  evaluateAlerts(): Promise<void>;
  close(): Promise<void>;
}

interface SidecarParts {
  inference: InferenceService;
  registry: ModelRegistry;
  tracing: Tracing;
  sampler: ResourceSampler;
  quotaGate: QuotaGate;
}

/** Where a sidecar leases quota budget: this process's own authority, or the API's over HTTP. */
interface QuotaSource {
  authority: QuotaAuthority;
  inProcess: boolean;
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

    const jobs: JobSpec[] = [];
    const quotas = localQuotaAuthority(config, opts.kind, store, keys, log);
    if (quotas) {
      jobs.push({ name: 'quota-usage', cron: '*/15 * * * * *', run: () => quotas.refresh() });
      await quotas.refresh().catch((err: unknown) => log(`quota usage: ${(err as Error).message} (monthly quotas unknown until the next refresh)`));
    }
    const quotaSource = quotaSourceOf(config, quotas, adminKey.key);

    const billing = opts.kind === 'sidecar' ? undefined : billingServices(config, store);
    const knownTenants = () => new Set([...Object.keys(config.tenants), ...keys.tenantsWithKeys()]);
    const alerting =
      billing && quotas
        ? createAlerting({
            store,
            config: config.alerts,
            quotaAuthority: quotas,
            tenants: knownTenants,
            now: Date.now,
            log,
            publicUrl: `http://${hostname()}:${opts.port}`,
            anomalyFindings: createAnomalyScanner({ costs: billing.costs, now: Date.now }),
          })
        : undefined;
    if (alerting) jobs.push(...alerting.jobs);

    // Metric label slots go to the month's busiest tenants first (each cost refresh offers them).
    const tenantLabels = new TenantLabeler(config.server.metrics_max_tenants);
    const costSnapshot = billing && createCostSnapshot(billing.costs, { onRanking: (busiest) => tenantLabels.rank(busiest) });
    const statusQuotas = opts.kind === 'sidecar' ? undefined : quotas;
    const metrics = createMetrics({
      tenants: tenantLabels,
      firingAlerts: () => alerting?.firing() ?? [],
      quotaRatios: statusQuotas && (async () => (await Promise.all([...knownTenants()].map((t) => statusQuotas.status(t)))).flat()),
      costs: costSnapshot ? () => costSnapshot.current() : undefined,
      spoolPending: () => spool.pending().length,
    });
    if (costSnapshot) {
      // Attribution over the whole month: every 5 minutes is plenty for a figure the hourly rollups move.
      jobs.push({ name: 'cost-metrics', cron: '40 */5 * * * *', run: () => costSnapshot.refresh() });
      await costSnapshot.refresh().catch((err: unknown) => log(`cost metrics: ${(err as Error).message} (no cost gauge until the next refresh)`));
    }
    // Telemetry writers see a store that counts what it takes and what it refuses (ingest health).
    const telemetryStore = countInserts(store, metrics.ingest);

    const exporter = telemetryExporter(config, opts.kind, opts.env ?? process.env);
    const sidecar = opts.kind === 'api' ? undefined : await startSidecar(config, telemetryStore, spool, exporter, quotaSource, metrics, log);
    if (sidecar) closers.unshift(() => stopSidecar(sidecar));

    jobs.push({
      name: 'spool-drain',
      cron: '*/10 * * * * *',
      run: async () => metrics.ingest.replayed(await spool.drain((table, rows) => telemetryStore.insert(table, rows))),
    });
    const rollupOptions = { rawTtlDays: config.clickhouse.raw_ttl_days };
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
      metrics: metrics.registry,
      quotas: opts.kind === 'sidecar' ? undefined : quotas,
      sidecar: sidecar && {
        inference: sidecar.inference,
        trustTenantHeader: config.sidecar.trust_tenant_header,
        isReady: () => true,
      },
    });
    const { server, port } = await listen(app, config.server.host, opts.port);
    closers.unshift(() => closeServer(server));
    const metricsListener =
      config.server.metrics_port === undefined ? undefined : await listen(createMetricsPortApp(metrics.registry), config.server.host, config.server.metrics_port);
    if (metricsListener) closers.unshift(() => closeServer(metricsListener.server));

    return {
      app,
      store,
      keys,
      adminKey,
      port,
      metricsPort: metricsListener?.port,
      inference: sidecar?.inference,
      quotas,
      async flushTelemetry() {
        if (!sidecar) return;
        await sidecar.sampler.sampleNow();
        await sidecar.tracing.flush();
      },
      async runRollup() {
        await refreshRollups(store, rollupOptions);
      },
      async evaluateAlerts() {
        if (!alerting) return;
        await alerting.evaluate();
        await alerting.flush();
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
  quotaSource: QuotaSource,
  metrics: Pick<Metrics, 'requests'>,
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

  const quotaGate = new QuotaGate({
    authority: quotaSource.authority,
    holder: instanceId,
    // In process a lease is a function call: lease one unit at a time and count exactly.
    maxChunk: quotaSource.inProcess ? 1 : config.quotas.lease_max_chunk,
    leaseTtlS: config.quotas.lease_ttl_s,
    failMode: config.quotas.fail_mode,
    onError: (err) => log(`quota authority: ${(err as Error).message} (fail ${config.quotas.fail_mode})`),
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
    metrics: metrics.requests,
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
  return { inference, registry, tracing, sampler, quotaGate };
}

async function stopSidecar(parts: SidecarParts): Promise<void> {
  await parts.quotaGate.stop();
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

/**
 * The in-memory quota authority, in every process that is not a sidecar leasing from an API. A
 * standalone sidecar without quotas.authority_url enforces its quotas alone: exact for one
 * replica, N x L for N replicas, hence the warning.
 */
function localQuotaAuthority(config: Readonly<Config>, kind: ProcessKind, store: Store, keys: KeyService, log: (line: string) => void): LocalQuotaAuthority | undefined {
  if (kind === 'sidecar' && config.quotas.authority_url) return undefined;
  if (kind === 'sidecar' && hasQuotas(config)) log('quotas: no quotas.authority_url: this sidecar enforces quotas on its own (per replica, not global)');
  return createQuotaAuthority({
    limitsOf: (tenantId) => quotaLimitsOf(config, tenantId),
    now: Date.now,
    leaseTtlS: config.quotas.lease_ttl_s,
    readMonthlyUsage: createMonthlyUsageReader({
      store,
      statements: billingServices(config, store).statements,
      knownTenants: () => [...Object.keys(config.tenants), ...keys.tenantsWithKeys()],
    }),
  });
}

/**
 * Where the sidecar leases: this process's own authority, else the API at quotas.authority_url.
 * Without quotas.authority_key it presents its own admin key (the same INFERLEDGER_ADMIN_KEY on
 * the API and the sidecars works).
 */
function quotaSourceOf(config: Readonly<Config>, local: LocalQuotaAuthority | undefined, adminKey: string): QuotaSource {
  if (local) return { authority: local, inProcess: true };
  const authority = createHttpQuotaAuthority({ baseUrl: config.quotas.authority_url!, key: config.quotas.authority_key ?? adminKey });
  return { authority, inProcess: false };
}

/** A tenant's own quota limits replace the defaults as a whole (config: `tenants.<id>.quotas`). */
export function quotaLimitsOf(config: Readonly<Config>, tenantId: string): QuotaLimits {
  return config.tenants[tenantId]?.quotas ?? config.quotas.defaults;
}

function hasQuotas(config: Readonly<Config>): boolean {
  const any = (l: QuotaLimits | undefined) => l !== undefined && Object.values(l).some((v) => v !== undefined);
  return any(config.quotas.defaults) || Object.values(config.tenants).some((t) => any(t.quotas));
}

export function planOf(config: Readonly<Config>, tenantId: string): string {
  return config.tenants[tenantId]?.plan ?? config.pricing.default_plan;
}

function listen(app: { fetch: Parameters<typeof serve>[0]['fetch'] }, hostname: string, port: number): Promise<{ server: ServerType; port: number }> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname, port }, (info) => resolve({ server, port: info.port }));
    server.once('error', reject);
  });
}

function closeServer(server: ServerType): Promise<void> {
  return new Promise<void>((resolve) => server.close(() => resolve()));
}
