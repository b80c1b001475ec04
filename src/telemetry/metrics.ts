import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { registerIngestMetrics, type IngestMetrics } from './ingest-metrics.ts';
import { registerJobMetrics, type JobMetrics } from './job-metrics.ts';
import { registerKeptDaysMetrics, type KeptDaysMetrics } from './kept-days-metrics.ts';
import { registerRequestMetrics } from './request-families.ts';
import type { RequestMetrics } from './request-metrics.ts';
import { registerTenantGauges, type FiringAlertSample, type QuotaRatioSample, type TenantCostSnapshot } from './tenant-gauges.ts';
import { DEFAULT_MAX_TENANTS, TenantLabeler } from './tenant-labeler.ts';

export { countFiring, type FiringAlertSample, type FiringSeries } from './tenant-gauges.ts';
export { OTHER_TENANT, TenantLabeler } from './tenant-labeler.ts';

/**
 * The Prometheus metrics of one process (SPEC §8), on a registry of its own: nothing is
 * registered globally, so two platforms in one process (tests) never share series. Families fed
 * by events (requests, ingest) are recorded through ports; the others read their values at scrape
 * time from the services that own them. One `TenantLabeler` bounds the tenant label of all of them.
 */

export interface MetricsOptions {
  /** Alerts firing right now, read at every scrape. */
  firingAlerts?: () => readonly FiringAlertSample[];
  /** Every configured quota of every tenant (a quota authority's status), read at every scrape. */
  quotaRatios?: () => Promise<readonly QuotaRatioSample[]>;
  /** Month-to-date attributed cost per tenant, as of the last refresh. */
  costs?: () => TenantCostSnapshot | undefined;
  /** Spooled batches waiting for ClickHouse, read at every scrape (default: no spool, 0). */
  spoolPending?: () => number;
  /** Spooled batches set aside as refused for their rows, read at every scrape (default: 0). */
  spoolQuarantined?: () => number;
  /** With standby quota authorities configured: whether one is in charge now (read at every scrape). */
  quotaStandbyInUse?: () => boolean;
  /** Distinct `tenant` label values per family; the rest are folded into `other`. */
  maxTenants?: number;
  /** The labeler to share (the composition root ranks tenants into it); default: a new one of maxTenants. */
  tenants?: TenantLabeler;
  /** Process and Node.js runtime metrics (CPU, memory, event loop, GC). Default on. */
  processMetrics?: boolean;
  /** Whether this process prices attribution (not a standalone sidecar): its kept-days families. Default on. */
  attribution?: boolean;
}

export interface Metrics {
  readonly registry: Registry;
  /** Where the inference service reports requests. */
  readonly requests: RequestMetrics;
  /** Where telemetry writers report rows written, failed writes and spool replays. */
  readonly ingest: IngestMetrics;
  /** Offer label slots to the busiest tenants (before traffic takes them first come). */
  readonly tenants: TenantLabeler;
  /** Where the job scheduler reports runs, failures and skipped runs. */
  readonly jobs: JobMetrics;
  /** Where kept attribution days report where each day came from, and their problems. */
  readonly keptDays: KeptDaysMetrics;
}

/**
 * prom-client's default collectors also export `nodejs_active_{handles,requests,resources}_total`:
 * gauges named like counters, which `promtool check metrics` rejects. They are the sums of the
 * by-type gauges of the same name without `_total`, so nothing is lost without them.
 */
const LINT_FAILING_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (opts.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
    for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(name);
  }
  const tenants = opts.tenants ?? new TenantLabeler(opts.maxTenants ?? DEFAULT_MAX_TENANTS);
  const requests = registerRequestMetrics(registry, tenants);
  registerTenantGauges(registry, tenants, {
    firingAlerts: opts.firingAlerts ?? (() => []),
    quotaRatios: opts.quotaRatios,
    costs: opts.costs,
  });
  const ingest = registerIngestMetrics(registry, opts.spoolPending ?? (() => 0), opts.spoolQuarantined);
  const standbyInUse = opts.quotaStandbyInUse;
  if (standbyInUse) {
    new Gauge({
      name: 'inferledger_quota_standby_in_use',
      help: 'This process leases from (or, on the standby, is) a standby quota authority: 1 while the primary is unreachable.',
      registers: [registry],
      collect() {
        this.set(standbyInUse() ? 1 : 0);
      },
    });
  }
  const keptDays = (opts.attribution ?? true) ? registerKeptDaysMetrics(registry) : { days: () => {}, problem: () => {} };
  return { registry, requests, ingest, tenants, jobs: registerJobMetrics(registry), keptDays };
}
