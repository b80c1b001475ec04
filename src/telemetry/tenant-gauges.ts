import { Gauge, type Registry } from 'prom-client';
import { byWeightDescending, OTHER_TENANT, TenantLabeler } from './tenant-labeler.ts';

/**
 * Tenant-labelled gauges read from the services that own the values, at scrape time: alerts
 * firing, quota usage ratios, month-to-date attributed cost. Each is rebuilt at every scrape, so
 * a series whose source is gone disappears instead of lingering. The series builders are pure.
 *
 * A tenant without a label yet claims one when it shows activity (a firing alert, non-zero quota
 * usage or cost), busiest first; idle tenants fold into `other` and leave the slots to traffic.
 */

/** What the alerts gauge needs of a firing alert (an `Alert` fits). */
export interface FiringAlertSample {
  tenantId: string;
  name: string;
  severity: string;
}

export interface FiringSeries {
  tenant: string;
  alertname: string;
  severity: string;
  count: number;
}

/**
 * Counts firing alerts per tenant × alertname × severity. Tenants with the most firing alerts
 * (ties by name) are offered label slots first; the rest are summed as `other`. A number stands
 * for a fresh labeler with that many slots. Pure but for the slots it claims.
 */
export function countFiring(alerts: readonly FiringAlertSample[], labeler: TenantLabeler | number): FiringSeries[] {
  const tenants = typeof labeler === 'number' ? new TenantLabeler(labeler) : labeler;
  const perTenant = new Map<string, number>();
  for (const a of alerts) perTenant.set(a.tenantId, (perTenant.get(a.tenantId) ?? 0) + 1);
  tenants.rank(byWeightDescending(perTenant));
  const series = new Map<string, FiringSeries>();
  for (const a of alerts) {
    const tenant = tenants.label(a.tenantId);
    const id = JSON.stringify([tenant, a.name, a.severity]);
    const s = series.get(id) ?? { tenant, alertname: a.name, severity: a.severity, count: 0 };
    s.count++;
    series.set(id, s);
  }
  return [...series.values()];
}

/** One quota of one tenant (a `QuotaStatus` fits). */
export interface QuotaRatioSample {
  tenantId: string;
  kind: string;
  ratio: number;
}

export interface QuotaRatioSeries {
  tenant: string;
  quota: string;
  ratio: number;
}

/**
 * Quota usage ratios by tenant × quota. Tenants folded into `other` report the highest ratio
 * among them (a sum of ratios means nothing; the worst one is what an alert needs).
 */
export function quotaRatioSeries(samples: readonly QuotaRatioSample[], labeler: TenantLabeler): QuotaRatioSeries[] {
  const busiest = new Map<string, number>();
  for (const s of samples) if (s.ratio > 0) busiest.set(s.tenantId, Math.max(busiest.get(s.tenantId) ?? 0, s.ratio));
  labeler.rank(byWeightDescending(busiest));
  const out = new Map<string, QuotaRatioSeries>();
  for (const s of samples) {
    if (!Number.isFinite(s.ratio)) continue;
    const tenant = labeler.has(s.tenantId) ? s.tenantId : OTHER_TENANT;
    const id = `${tenant}\u0000${s.kind}`;
    const prev = out.get(id);
    if (!prev || s.ratio > prev.ratio) out.set(id, { tenant, quota: s.kind, ratio: s.ratio });
  }
  return [...out.values()];
}

/** Month-to-date attributed cost per tenant, in currency units, as of the last refresh. */
export interface TenantCostSnapshot {
  currency: string;
  costs: ReadonlyMap<string, number>;
}

/** Cost by tenant; tenants folded into `other` are summed. */
export function costSeries(snapshot: TenantCostSnapshot, labeler: TenantLabeler): Array<{ tenant: string; cost: number }> {
  const positive = new Map([...snapshot.costs].filter(([, c]) => c > 0));
  labeler.rank(byWeightDescending(positive));
  const out = new Map<string, number>();
  for (const [tenantId, cost] of snapshot.costs) {
    const tenant = labeler.has(tenantId) ? tenantId : OTHER_TENANT;
    out.set(tenant, (out.get(tenant) ?? 0) + cost);
  }
  return [...out].map(([tenant, cost]) => ({ tenant, cost }));
}

export interface TenantGaugeSources {
  firingAlerts: () => readonly FiringAlertSample[];
  /** Every configured quota of every tenant; absent where this process is no quota authority. */
  quotaRatios?: () => Promise<readonly QuotaRatioSample[]>;
  /** Absent where this process does no attribution; undefined until the first refresh. */
  costs?: () => TenantCostSnapshot | undefined;
}

export function registerTenantGauges(registry: Registry, labeler: TenantLabeler, sources: TenantGaugeSources): void {
  const registers = [registry];
  const foldNote = `tenants beyond the ${labeler.maxTenants} labelled ones are folded into "${OTHER_TENANT}"`;
  new Gauge({
    name: 'inferledger_alerts_firing',
    help: `Alerts firing now, by tenant, alert name and severity (${foldNote}, summed).`,
    labelNames: ['tenant', 'alertname', 'severity'] as const,
    registers,
    collect() {
      this.reset();
      for (const s of countFiring(sources.firingAlerts(), labeler)) {
        this.set({ tenant: s.tenant, alertname: s.alertname, severity: s.severity }, s.count);
      }
    },
  });
  const quotaRatios = sources.quotaRatios;
  if (quotaRatios) {
    new Gauge({
      name: 'inferledger_quota_usage_ratio',
      help: `Quota usage as a fraction of the limit (1 = exhausted), by tenant and quota (${foldNote}, their highest ratio).`,
      labelNames: ['tenant', 'quota'] as const,
      registers,
      async collect() {
        // An unreadable status leaves no series (unknown), never a made-up 0, and fails no scrape.
        const samples = await quotaRatios().catch(() => []);
        this.reset();
        for (const s of quotaRatioSeries(samples, labeler)) this.set({ tenant: s.tenant, quota: s.quota }, s.ratio);
      },
    });
  }
  const costs = sources.costs;
  if (costs) {
    new Gauge({
      name: 'inferledger_tenant_cost_month_to_date',
      help: `Attributed cost of serving each tenant this UTC month so far (usage, idle and overhead shares), in the pricing currency (${foldNote}, summed).`,
      labelNames: ['tenant', 'currency'] as const,
      registers,
      collect() {
        this.reset();
        const snapshot = costs();
        if (!snapshot) return;
        for (const s of costSeries(snapshot, labeler)) this.set({ tenant: s.tenant, currency: snapshot.currency }, s.cost);
      },
    });
  }
}
