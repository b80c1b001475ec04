import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/**
 * The Prometheus metrics of the API process (SPEC §8), on a registry of its own: nothing is
 * registered globally, so two platforms in one process (tests) never share series. Metric
 * families read their values at scrape time from the services that own them.
 */

/** What the alerts gauge needs of a firing alert (an `Alert` fits). */
export interface FiringAlertSample {
  tenantId: string;
  name: string;
  severity: string;
}

export interface MetricsOptions {
  /** Alerts firing right now, read at every scrape. */
  firingAlerts?: () => readonly FiringAlertSample[];
  /** Distinct `tenant` label values per family; the rest are summed under `other`. */
  maxTenants?: number;
  /** Process and Node.js runtime metrics (CPU, memory, event loop, GC). Default on. */
  processMetrics?: boolean;
}

export interface Metrics {
  readonly registry: Registry;
}

export const OTHER_TENANT = 'other';
const DEFAULT_MAX_TENANTS = 50;

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (opts.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const maxTenants = opts.maxTenants ?? DEFAULT_MAX_TENANTS;
  const firingAlerts = opts.firingAlerts ?? (() => []);

  new Gauge({
    name: 'inferledger_alerts_firing',
    help: `Alerts firing now, by tenant, alert name and severity (tenants beyond the ${maxTenants} with the most firing alerts are summed as "${OTHER_TENANT}").`,
    labelNames: ['tenant', 'alertname', 'severity'] as const,
    registers: [registry],
    collect() {
      // Rebuilt at each scrape: a resolved alert's series disappears instead of lingering at 0.
      this.reset();
      for (const s of countFiring(firingAlerts(), maxTenants)) {
        this.set({ tenant: s.tenant, alertname: s.alertname, severity: s.severity }, s.count);
      }
    },
  });
  return { registry };
}

export interface FiringSeries {
  tenant: string;
  alertname: string;
  severity: string;
  count: number;
}

/**
 * Counts firing alerts per tenant × alertname × severity, keeping the tenant label bounded: the
 * `maxTenants` tenants with the most firing alerts (ties by name) keep their own label, the rest
 * become `other`. Pure.
 */
export function countFiring(alerts: readonly FiringAlertSample[], maxTenants: number): FiringSeries[] {
  const perTenant = new Map<string, number>();
  for (const a of alerts) perTenant.set(a.tenantId, (perTenant.get(a.tenantId) ?? 0) + 1);
  const kept = new Set(
    [...perTenant]
      .sort(([ta, na], [tb, nb]) => nb - na || (ta < tb ? -1 : ta > tb ? 1 : 0))
      .slice(0, maxTenants)
      .map(([t]) => t),
  );
  const series = new Map<string, FiringSeries>();
  for (const a of alerts) {
    const tenant = kept.has(a.tenantId) ? a.tenantId : OTHER_TENANT;
    const id = JSON.stringify([tenant, a.name, a.severity]);
    const s = series.get(id) ?? { tenant, alertname: a.name, severity: a.severity, count: 0 };
    s.count++;
    series.set(id, s);
  }
  return [...series.values()];
}
