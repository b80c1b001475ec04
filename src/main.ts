import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Server as HttpServer } from 'node:http';
import { setTimeout as delay, setImmediate } from 'node:timers/promises';
import { serve, type ServerType } from '@hono/node-server';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { resolveAdminKey, type AdminKeyResult } from './auth/admin-key.ts';
import { KeyService } from './auth/key-service.ts';
import { createHttpApp } from './api/app.ts';
import type { AppEnv } from './api/env.ts';
import type { Config } from './config/schema.ts';
import { ConfigError } from './config/load.ts';
import { issuedTermsProblems } from './statements/statement-service.ts';
import { startOtlpGrpcServer } from './ingest/otlp/grpc-server.ts';
import { isMetricTable } from './ingest/otlp/metric-rows.ts';
import { createOtlpReceiver } from './ingest/otlp/receiver.ts';
import { groupCommit } from './ingest/group-commit.ts';
import { isDataRefusal } from './ingest/refusal.ts';
import { storeOrSpool } from './ingest/row-sink.ts';
import type { RemoteKeys } from './auth/key-service.ts';
import { checkAdminAccess, httpRemoteKeys } from './auth/remote-keys.ts';
import { isSampleTable } from './ingest/resource-samples.ts';
import { createSamplesClient, SamplesRefusedError, type SamplesClient } from './sidecar/resources/samples-client.ts';
import { Spool } from './ingest/spool.ts';
import { unknownWebhookTenantNotes } from './alerts/config.ts';
import { createAlerting } from './alerts/create-alerting.ts';
import { createAnomalyScanner } from './jobs/anomaly-scan.ts';
import { issueClosedStatements } from './jobs/issue-statements.ts';
import { createMetricsPortApp } from './api/routes/metrics.ts';
import { createCostSnapshot } from './telemetry/cost-snapshot.ts';
import { countInserts } from './telemetry/ingest-metrics.ts';
import { createMetrics, TenantLabeler } from './telemetry/metrics.ts';
import { refreshRollups } from './jobs/rollup.ts';
import { TenantsWithUsage } from './usage/tenants-with-usage.ts';
import { startJobs, type JobScheduler, type JobSpec } from './jobs/scheduler.ts';
import type { InferenceService } from './sidecar/inference-service.ts';
import type { LocalQuotaAuthority } from './quotas/authority.ts';
import { createTakeoverAuthority } from './quotas/failover-authority.ts';
import { openStore, type Store } from './store/client.ts';
import { migrate } from './store/migrate.ts';
import { billingServices, keptAnomalyCosts, localQuotaAuthority, newQuotaAuthority, quotaSourceOf, checkQuotaAuthorities } from './wiring/billing.ts';
import { otlpExportNotes, otlpProtocolOf, startSidecar, stopSidecar, telemetryExporter } from './wiring/sidecar.ts';

/**
 * OTLP writes that arrive while an insert is in flight go out together (one part per insert, not
 * per export); past 100k waiting rows (~100 MB of span rows) senders get 503 + Retry-After.
 * Metric exports are never merged: metric points have no id to count them once by, so each
 * export's rows go in as an insert of their own, and ClickHouse's block deduplication drops an
 * export sent again (to another replica, after a restart). Spans are counted once by span id.
 */
const OTLP_GROUP_COMMIT = { maxBatchRows: 50_000, maxPendingRows: 100_000, writeAlone: isMetricTable } as const;

/**
 * The composition root: the only place that builds clients and wires adapters into services.
 * `up` runs every part in one process; `sidecar` and `api` run one side each.
 */

export type ProcessKind = 'up' | 'sidecar' | 'api';

export { billingServices, planOf, quotaLimitsOf } from './wiring/billing.ts';
export { telemetryExporter } from './wiring/sidecar.ts';

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
  /** Bound port of the OTLP/gRPC listener, when server.otlp_grpc_port is set (`up`, `api`). */
  readonly otlpGrpcPort?: number;
  /** Bound port of the unauthenticated GET /metrics listener, when server.metrics_port is set. */
  readonly metricsPort?: number;
  readonly inference?: InferenceService;
  /**
   * This process's quota authority: `up`; an `api` or `sidecar` without quotas.authority_url
   * (an `api` replica with it forwards to that authority instead).
   */
  readonly quotas?: LocalQuotaAuthority;
  /** Writes buffered spans and resource samples out now (tests, demo, shutdown). */
  flushTelemetry(): Promise<void>;
  runRollup(): Promise<void>;
  /** No scheduled job runs until resumeJobs(); resolves once runs in progress have ended (bench: a job measured alone). */
  pauseJobs(): Promise<void>;
  resumeJobs(): Promise<void>;
  /** Runs one alert evaluation now and waits for its deliveries (tests, demo). */
  evaluateAlerts(): Promise<void>;
  close(): Promise<void>;
}

export async function startPlatform(config: Readonly<Config>, opts: StartOptions): Promise<Platform> {
  const log = opts.log ?? ((line: string) => console.log(line));
  // The export settings are checked before anything is opened or migrated: a typo fails at once.
  const exporter = telemetryExporter(config, opts.kind, opts.env ?? process.env);
  const otlpProtocol = exporter === 'otlp' ? otlpProtocolOf(opts.env ?? process.env) : undefined;
  const storeMode = config.clickhouse.url ? 'server' : 'embedded';
  // An OTLP-exporting sidecar on its own embedded engine sends its resource samples to the API it leases from.
  const samplesApi = opts.kind === 'sidecar' && exporter === 'otlp' && storeMode === 'embedded' ? config.quotas.authority_url : undefined;
  if (exporter === 'otlp') for (const note of otlpExportNotes(opts.env ?? process.env, storeMode, samplesApi)) log(note);
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
    // Shown now, not once the process is up: a start that fails later (a port in use) must not
    // leave a key on disk that was never shown.
    if (adminKey.generated) log(`\nadmin key (shown once, saved to ${adminKey.path} with mode 0600):\n  ${adminKey.key}\n`);
    const { remoteKeys, samplesClient } = await sidecarApiUse(config, opts.kind, store.mode, samplesApi, adminKey.key, log);
    const keys = new KeyService(store, adminKey.key, Date.now, remoteKeys);
    await keys.load();
    const spool = new Spool(join(config.data_dir, 'spool'));
    // Found by dogfooding: on a read-only spool the process started, answered 200s and lost them
    // in a crash. Without a writable spool nothing is crash-safe: say so now, not after a loss.
    try {
      spool.probe();
    } catch (err) {
      throw new Error(`the spool ${join(config.data_dir, 'spool')} cannot be written (${(err as Error).message}): the span journal and the outage spool live there; free space or fix its permissions`, { cause: err });
    }

    const jobs: JobSpec[] = [];
    const quotas = localQuotaAuthority(config, opts.kind, store, keys, log);
    if (quotas) {
      jobs.push({ name: 'quota-usage', cron: '*/15 * * * * *', run: () => quotas.refresh() });
      await quotas.refresh().catch((err: unknown) => log(`quota usage: ${(err as Error).message} (monthly quotas, and usage from before this start, unknown until the next refresh)`));
    }
    // A standby API keeps no counters until the primary authority is unreachable (see failover-authority.ts).
    const takeover = opts.kind === 'api' && config.quotas.standby ? createTakeoverAuthority(() => newQuotaAuthority(config, 'api', store, keys)) : undefined;
    if (config.quotas.standby && !takeover) log(`quotas.standby applies to \`api\` only: this ${opts.kind} ignores it`);
    if (takeover && store.mode === 'embedded') {
      // Found by dogfooding: a standby on its own embedded engine read back nothing the primary
      // had admitted and granted the whole limit again (70 admitted for 40).
      log(
        "warning: quotas.standby on the embedded ClickHouse: standing in, this standby cannot read back what the primary admitted (those requests are recorded in the primary's ClickHouse), " +
          "so a tenant can get up to its whole limit again in the window of a takeover; it does not know the tenant keys made on the primary (401); and the alerts it fires are stored apart, so the primary fires them again when it returns and the standby's stay listed as firing. " +
          'Set CLICKHOUSE_URL to the ClickHouse server the primary uses',
      );
    }
    const quotaSource = quotaSourceOf(config, quotas, adminKey.key, { takeover, log });
    if (!quotaSource.inProcess) await checkQuotaAuthorities(config, adminKey.key, log);
    const { recheckPrimary } = quotaSource;
    if (recheckPrimary) jobs.push({ name: 'quota-primary-check', cron: '*/15 * * * * *', run: recheckPrimary });
    if (takeover) jobs.push({ name: 'quota-usage', cron: '*/15 * * * * *', run: () => takeover.refresh() });

    const billingSide = opts.kind !== 'sidecar';
    const knownTenants = () => new Set([...Object.keys(config.tenants), ...keys.tenantsWithKeys()]);
    // A standby evaluates alerts too, with its own counters, but only while it is in charge:
    // quota alerts must not pause for as long as the primary is down.
    const inCharge = () => !takeover || takeover.active();
    const alertQuotas = quotas ?? takeover;
    const statusQuotas = billingSide ? alertQuotas : undefined;

    // Metric label slots go to the month's busiest tenants first (each cost refresh offers them).
    const tenantLabels = new TenantLabeler(config.server.metrics_max_tenants);
    // Before the services it watches, which report to it; the alerts and the cost snapshot
    // created below are read only at scrape time.
    const metrics = createMetrics({
      tenants: tenantLabels,
      firingAlerts: () => (alerting && inCharge() ? alerting.firing() : []),
      quotaRatios: statusQuotas && (async () => (inCharge() ? (await Promise.all([...knownTenants()].map((t) => statusQuotas.status(t)))).flat() : [])),
      costs: billingSide ? () => costSnapshot?.current() : undefined,
      spoolPending: () => spool.pending().length,
      spoolQuarantined: () => spool.quarantinedCount(),
      quotaStandbyInUse: quotaSource.standbyInUse,
      attribution: billingSide,
    });

    const keptDaysReporting = { log, metrics: metrics.keptDays };
    const billing = billingSide ? billingServices(config, store, keptDaysReporting) : undefined;
    if (billing) {
      // Issued statements are re-rated for late usage with their plan and currency: a price book
      // that lost either would refund or break them (see issuedTermsProblems).
      const problems = await issuedTermsProblems(billing.statements);
      if (problems.length) throw new ConfigError(problems);
    }
    const alerting =
      billing && alertQuotas
        ? createAlerting({
            store,
            config: config.alerts,
            quotaAuthority: alertQuotas,
            tenants: knownTenants,
            now: Date.now,
            log,
            publicUrl: `http://${hostname()}:${opts.port}`,
            anomalyFindings: createAnomalyScanner({
              costs: billing.costs,
              now: Date.now,
              contributorsMinScore: config.alerts.anomaly_threshold,
              kept: keptAnomalyCosts(config, billing.costs, keptDaysReporting),
            }),
            dataDir: config.data_dir,
          })
        : undefined;
    if (alerting) {
      jobs.push(...alerting.jobs.map((job) => ({ ...job, run: async () => (inCharge() ? job.run() : undefined) })));
      for (const note of unknownWebhookTenantNotes(config.alerts.webhooks, knownTenants())) log(note);
    }
    const costSnapshot = billing && createCostSnapshot(billing.costs, { onRanking: (busiest) => tenantLabels.rank(busiest) });
    if (costSnapshot) {
      // Attribution over the whole month: every 5 minutes is plenty for a figure the hourly rollups move.
      jobs.push({ name: 'cost-metrics', cron: '40 */5 * * * *', run: () => costSnapshot.refresh() });
      await costSnapshot.refresh().catch((err: unknown) => log(`cost metrics: ${(err as Error).message} (no cost gauge until the next refresh)`));
    }
    // Telemetry writers see a store that counts what it takes and what it refuses (ingest health).
    const telemetryStore = countInserts(store, metrics.ingest);

    const sidecar = opts.kind === 'api' ? undefined : await startSidecar(config, telemetryStore, spool, exporter, quotaSource, metrics, log, otlpProtocol, samplesClient);
    // Runs after the sidecar has stopped and before the store closes: a quota crossing since the
    // last evaluation is still only a peak in memory, and a deploy in a minute's last seconds
    // must not lose its page. Stored and put in the webhook outbox now (sent after the start if
    // not now); Alertmanager keeps nothing on disk, so it gets a few seconds to take it now
    // (found by dogfooding: such a firing never reached it, only its resolve after the restart).
    if (alerting) {
      closers.unshift(async () => {
        if (!inCharge()) return;
        await alerting.evaluate();
        await Promise.race([alerting.flush(), delay(SHUTDOWN_DELIVERY_MS, undefined, { ref: false })]);
      });
    }
    if (sidecar) closers.unshift(() => stopSidecar(sidecar));

    jobs.push({
      name: 'spool-drain',
      cron: '*/10 * * * * *',
      run: async () =>
        metrics.ingest.replayed(
          await spool.drain(
            (table, rows) => (samplesClient && isSampleTable(table) ? samplesClient.send(table, rows) : telemetryStore.insert(table, rows)),
            (table, err) => log(`spool: replaying ${table} failed, its batches wait on disk and are retried every 10 s: ${(err as Error).message}`),
            {
              // Refused for its rows 3 drains in a row (30 s): it would refuse forever, so it is
              // set aside (kept) and the table's later batches go in. `inferledger spool` lists
              // and requeues.
              isRefusal: (err) => isDataRefusal(err) || err instanceof SamplesRefusedError,
              after: 3,
              onQuarantine: (b) => log(`spool: a ${b.table} batch of ${b.rows} rows is quarantined in ${b.file} (${b.reason}); fix the cause, then \`inferledger spool requeue\``),
            },
          ),
        ),
    });
    const tenantsWithUsage = new TenantsWithUsage(store);
    const rollupOptions = { rawTtlDays: config.clickhouse.raw_ttl_days };
    const runRollups = async () => {
      await refreshRollups(store, rollupOptions);
      await tenantsWithUsage.refresh();
    };
    if (billing) {
      await tenantsWithUsage.refresh().catch((err: unknown) => log(`tenants with usage: ${(err as Error).message} (known after the next rollup)`));
      jobs.push({ name: 'rollups', cron: '*/30 * * * * *', run: runRollups });
      jobs.push({ name: 'issue-statements', cron: '0 5 * * * *', run: () => issueClosedStatements(billing.statements) });
    }
    const scheduler: JobScheduler = startJobs(jobs, (job, err) => log(`job ${job} failed: ${(err as Error).message}`), { metrics: metrics.jobs, log });
    closers.unshift(() => scheduler.stop());

    /** Times the raw tables keep, for what is received from outside (spans, resource samples). */
    const storableWindow = () => {
      const now = Date.now();
      const ttlMs = config.clickhouse.raw_ttl_days * 86_400_000;
      // A day's margin (half the TTL when it is shorter): the rollup must read a row before its part is dropped.
      return { notBeforeMs: now - ttlMs + Math.min(86_400_000, ttlMs / 2), notAfterMs: now + 86_400_000 };
    };
    const otlp =
      opts.kind === 'sidecar'
        ? undefined
        : createOtlpReceiver({
            onRefused: (signal, count) => metrics.ingest.refused(signal, count),
            spanWindow: storableWindow,
            sink: groupCommit(
              storeOrSpool(telemetryStore, spool, (err) => log(`otlp ingest: ${(err as Error).message} (spooled, will retry)`)),
              OTLP_GROUP_COMMIT,
            ),
          });
    const app = createHttpApp({
      store,
      keys,
      tenantExists: (t) => t in config.tenants || keys.tenantsWithKeys().has(t) || tenantsWithUsage.has(t),
      // The spool too: with a full disk, requests that cannot be journaled fail whenever the store does.
      readiness: [
        { name: 'clickhouse', check: () => store.ping() },
        { name: 'spool', check: async () => (spool.probe(), true) },
      ],
      maxBodyBytes: config.server.max_body_bytes,
      now: Date.now,
      api: billing,
      metrics: metrics.registry,
      otlp,
      resourceSamples: opts.kind === 'sidecar' ? undefined : { sink: storeOrSpool(telemetryStore, spool, (err) => log(`resource samples: ${(err as Error).message} (spooled, will retry)`)), window: storableWindow },
      // An API replica with quotas.authority_url serves the quota routes by forwarding them.
      quotas: opts.kind === 'sidecar' ? undefined : (quotas ?? quotaSource.authority),
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
    const otlpGrpc =
      otlp && config.server.otlp_grpc_port !== undefined
        ? await startOtlpGrpcServer({ otlp, keys, maxMessageBytes: config.server.max_body_bytes }, config.server.host, config.server.otlp_grpc_port)
        : undefined;
    if (otlpGrpc) closers.unshift(() => otlpGrpc.close());

    return {
      app,
      store,
      keys,
      adminKey,
      port,
      metricsPort: metricsListener?.port,
      otlpGrpcPort: otlpGrpc?.port,
      inference: sidecar?.inference,
      quotas,
      async flushTelemetry() {
        if (!sidecar) return;
        await sidecar.sampler.sampleNow();
        await sidecar.tracing.flush();
      },
      runRollup: runRollups,
      pauseJobs: () => scheduler.pause(),
      resumeJobs: () => scheduler.resume(),
      async evaluateAlerts() {
        if (!alerting || !inCharge()) return;
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

function listen(app: { fetch: Parameters<typeof serve>[0]['fetch'] }, hostname: string, port: number): Promise<{ server: ServerType; port: number }> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname, port }, (info) => resolve({ server, port: info.port }));
    // A client that half-closes (FIN) after a complete request still wants the answer (RFC 9112
    // §9.6). Node's default aborts the request instead, after it may already have run and been
    // billed; with this it answers every request received, then closes. (Node's own flag, set by
    // its test suite; `createServer` has no option for it.)
    (server as HttpServer & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    server.once('error', reject);
  });
}

/** How long a stop waits for the alert notifications of its last evaluation to be delivered. */
const SHUTDOWN_DELIVERY_MS = 5_000;

/** A stop keeps accepting until no connection or request has arrived for this long... */
const STOP_QUIET_MS = 100;
/** ...or this long has passed (clients that keep sending get refused connections after it). */
const STOP_DRAIN_MAX_MS = 2_000;

/**
 * Waits, still accepting and serving, until the server has seen no new connection or request for
 * STOP_QUIET_MS (at most STOP_DRAIN_MAX_MS). Closing at once reset requests that clients had
 * fully sent: connections still in the listen backlog, or accepted but not read yet, while the
 * event loop was busy (loading a model, serving). Found by dogfooding: 5 of 6, then 25 to 67 of
 * 100 concurrent requests sent 100 ms before a SIGTERM got ECONNRESET. Each check comes after
 * the loop has polled its sockets (see below), so a quiet spell means the backlog was taken and
 * every request that had arrived was read. Connections a client opens later are refused, as after
 * any stop.
 */
async function quietArrivals(server: ServerType, quietMs = STOP_QUIET_MS, maxMs = STOP_DRAIN_MAX_MS): Promise<void> {
  let last = Date.now();
  const arrived = () => {
    last = Date.now();
  };
  server.on('connection', arrived);
  server.on('request', arrived);
  try {
    const start = Date.now();
    for (;;) {
      await delay(Math.max(1, Math.min(25, quietMs / 4)));
      // Judged after the loop's next poll for I/O: a timer that fires after a long synchronous
      // stretch (a large body parsed) runs before the sockets that stretch kept waiting are read.
      await setImmediate();
      if (Date.now() - last >= quietMs || Date.now() - start >= maxMs) break;
    }
  } finally {
    server.off('connection', arrived);
    server.off('request', arrived);
  }
}

/** How long a stop waits for requests in flight before it cuts their connections. */
const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Stops accepting (once arrivals have gone quiet: quietArrivals), closes idle keep-alive
 * connections, and gives requests in flight
 * SHUTDOWN_GRACE_MS to finish. Then every connection is cut: `server.close()` also stops Node's
 * request timeout, so one client that sent half a body and went silent would otherwise hold the
 * stop (and the telemetry flush after it) for as long as it kept its socket open.
 */
async function closeServer(server: ServerType, graceMs = SHUTDOWN_GRACE_MS): Promise<void> {
  const connections = server as Partial<Pick<HttpServer, 'closeAllConnections' | 'closeIdleConnections'>>;
  await quietArrivals(server);
  return new Promise<void>((resolve) => {
    const cut = setTimeout(() => connections.closeAllConnections?.(), graceMs);
    server.close(() => {
      clearTimeout(cut);
      resolve();
    });
    connections.closeIdleConnections?.();
  });
}

/**
 * What a standalone sidecar on its own embedded engine uses the API it leases from
 * (`quotas.authority_url`) for, besides quotas: the keys its own store does not hold, and, when
 * it exports spans by OTLP, a place for its resource samples. Both need the API's admin key as
 * `quotas.authority_key`, checked once here: with another key (a tenant's ingest key) neither is
 * used, with a warning; an API not answering yet is used anyway (samples wait in the spool).
 * Elsewhere keys and samples are in the one store every process reads.
 */
async function sidecarApiUse(
  config: Readonly<Config>,
  kind: StartOptions['kind'],
  storeMode: 'embedded' | 'server',
  samplesApi: string | undefined,
  adminKey: string,
  log: (line: string) => void,
): Promise<{ remoteKeys?: RemoteKeys; samplesClient?: SamplesClient }> {
  const apiUrl = config.quotas.authority_url;
  if (kind !== 'sidecar' || storeMode !== 'embedded' || apiUrl === undefined) return {};
  const key = config.quotas.authority_key ?? adminKey;
  const problem = await checkAdminAccess({ baseUrl: apiUrl, adminKey: key });
  if (problem !== null && problem !== 'unreachable') {
    log(`warning: ${problem}: tenant keys made on the API are unknown to this sidecar (401)${samplesApi ? ", and its resource samples (the capacity that cost attribution prices) stay in its embedded ClickHouse, which no API reads" : ''}`);
    return {};
  }
  if (problem === 'unreachable') log(`${apiUrl} is not answering yet: tenant keys made there are checked with it${samplesApi ? ' and resource samples wait in the spool' : ''} until it does`);
  log(`note: API keys this sidecar's embedded ClickHouse does not hold are looked up at ${apiUrl} (an answer is kept 30 s: a key revoked there stops working here within that)`);
  const samplesClient = samplesApi === undefined ? undefined : createSamplesClient({ baseUrl: samplesApi, key });
  if (samplesClient) log(`note: resource samples (the capacity that cost attribution prices) are sent to the API at ${samplesClient.url}`);
  return { remoteKeys: httpRemoteKeys({ baseUrl: apiUrl, adminKey: key }), samplesClient };
}
