import { setImmediate } from 'node:timers/promises';
import type { AnomalyFinding } from '../alerts/types.ts';
import { describeAnomaly, type AnomalyMetric, type BreakdownRow, type ContributorDimension } from '../anomalies/describe-anomaly.ts';
import { attributeCosts } from '../attribution/attribute-costs.ts';
import { perUtcDay, readAttributionData, spanOf, type AttributionData, type CostContext, type KeptDays } from '../attribution/cost-service.ts';
import { createDayCache, type DayCache } from '../attribution/day-cache.ts';
import { usageRecordsOf } from '../attribution/usage-table.ts';
import { p95ByKeyQuery, p95Row, scanRow, scanRowsQuery, type P95Row, type ScanRow } from '../store/queries/anomalies.ts';
import type { TimeRange } from '../store/queries/time.ts';
import { expectedLatest, fillHours, HOUR_MS, scoreLatest } from './anomaly-series.ts';

/**
 * The anomaly scan (SPEC §6): per tenant, five hourly metrics over the last `historyDays`, each
 * scored by the causal detector at the latest complete hour, with expected vs actual and the
 * model / variant / instance that moved most. Feeds the alerting service's anomaly findings.
 * Hourly usage costs come from the attribution engine a UTC day at a time; past days and ended
 * hours are reused while their rollup rows keep the same fingerprint.
 */

export interface AnomalyScanDeps {
  costs: CostContext;
  now: () => number;
  historyDays?: number;
  /** Re-scan at most this often within one hour (the latest complete hour only changes hourly). */
  cacheMs?: number;
  /**
   * Findings scoring below this carry no contributors (default 0: all do). Only findings at
   * alerts.anomaly_threshold become alerts, and the breakdown is most of a scan's work.
   */
  contributorsMinScore?: number;
  /** Past days' hourly costs kept in ClickHouse (kind `anomaly-costs`): a restart does not price 28 days again. */
  kept?: KeptDays<DayCosts>;
}

const MIN_HISTORY_MS = 24 * HOUR_MS;
const METRICS: readonly AnomalyMetric[] = ['cost_per_hour', 'requests_per_hour', 'error_rate', 'p95_latency', 'gpu_seconds'];
const DIMENSIONS: ReadonlyArray<[ContributorDimension, (r: ScanRow) => string]> = [
  ['model', (r) => r.model],
  ['variant', (r) => r.model_variant],
  ['instance', (r) => r.instance_id],
];

/** Series value of one metric from scan rows of one hour; NaN where a ratio has no requests. */
function metricOf(metric: AnomalyMetric, rows: readonly ScanRow[]): number {
  const requests = rows.reduce((a, r) => a + r.requests, 0);
  switch (metric) {
    case 'requests_per_hour':
      return requests;
    case 'error_rate':
      return requests === 0 ? NaN : rows.reduce((a, r) => a + r.errors, 0) / requests;
    case 'gpu_seconds':
      return rows.reduce((a, r) => a + r.gpu_us, 0) / 1e6;
    case 'p95_latency':
      return rows.length === 1 ? rows[0]!.p95_ms : NaN;
    case 'cost_per_hour':
      return NaN; // from attribution, not from usage rows
  }
}

export function createAnomalyScanner(deps: AnomalyScanDeps): () => Promise<AnomalyFinding[]> {
  let cached: { at: number; hour: number; findings: AnomalyFinding[] } | undefined;
  // The history's whole days, and the hours of its partial first day and of today (perUtcDay).
  const days = createDayCache<DayCosts>((deps.historyDays ?? 28) + 48);
  return async () => {
    const now = deps.now();
    const latest = Math.floor(now / HOUR_MS) * HOUR_MS - HOUR_MS;
    if (cached && cached.hour === latest && now - cached.at < (deps.cacheMs ?? 300_000)) return cached.findings;
    const findings = await scan(deps, latest, days);
    cached = { at: now, hour: latest, findings };
    return findings;
  };
}

async function scan(deps: AnomalyScanDeps, latest: number, days: DayCache<DayCosts>): Promise<AnomalyFinding[]> {
  const from = latest - (deps.historyDays ?? 28) * 24 * HOUR_MS;
  const range = { from, to: latest + HOUR_MS };
  const { store } = deps.costs;
  const [totals, costs] = await Promise.all([store.query({ ...scanRowsQuery(range, 'totals'), schema: scanRow }), hourlyCostsOf(deps.costs, range, deps.now(), days, deps.kept)]);
  // Grouped once: filtering every row for every tenant was quadratic.
  const totalsByTenant = groupBy(totals, (r) => r.tenant_id);
  const scored: Scored[] = [];
  for (const tenantId of [...totalsByTenant.keys()].sort()) {
    const ownTotals = totalsByTenant.get(tenantId)!;
    // A tenant's first day is its warm-up: against weeks of zeros before it existed, any traffic
    // would look anomalous and page on-call for every new customer.
    const firstActive = ownTotals.reduce((min, r) => Math.min(min, r.hour_ms), Infinity);
    if (latest - firstActive < MIN_HISTORY_MS) continue;
    // The detector is synchronous; the API and the quota authority share this event loop.
    await setImmediate();
    for (const metric of METRICS) {
      const series = metricSeries(metric, metric === 'cost_per_hour' ? costs.total(tenantId) : byHour(ownTotals, (rows) => metricOf(metric, rows)), from, latest);
      scored.push({ tenantId, metric, series, score: scoreLatest(series, from) });
    }
  }
  // Contributors only where someone reads them: the breakdown runs the detector on every model,
  // variant and instance's series, and its rows are every rollup row of the history.
  const minScore = deps.contributorsMinScore ?? 0;
  const explained = [...new Set(scored.filter((s) => s.score >= minScore).map((s) => s.tenantId))];
  const onlyFor = explained.length < totalsByTenant.size ? explained : undefined;
  const explainsP95 = scored.some((s) => s.metric === 'p95_latency' && s.score >= minScore);
  const [detail, p95s] = await Promise.all([
    explained.length ? store.query({ ...scanRowsQuery(range, 'detail', onlyFor), schema: scanRow }) : [],
    explainsP95 ? store.query({ ...p95ByKeyQuery(range, onlyFor), schema: p95Row }) : [],
  ]);
  const detailByTenant = groupBy(detail, (r) => r.tenant_id);
  const p95ByTenant = groupBy(p95s, (r) => r.tenant_id);
  const findings: AnomalyFinding[] = [];
  for (const s of scored) {
    if (s.metric === METRICS[0]) await setImmediate(); // once per tenant, as above
    const own = { detail: detailByTenant.get(s.tenantId) ?? [], p95: p95ByTenant.get(s.tenantId) ?? [], totals: totalsByTenant.get(s.tenantId) ?? [] };
    const breakdown = s.score >= minScore ? breakdownOf(s, own, costs, from, latest) : [];
    const actual = s.series[s.series.length - 1] ?? 0;
    const d = describeAnomaly({ metric: s.metric, expected: finiteOr0(expectedLatest(s.series)), actual: finiteOr0(actual), breakdown });
    findings.push({ tenantId: s.tenantId, at: latest, score: s.score, ...d });
  }
  return findings;
}

const finiteOr0 = (v: number) => (Number.isFinite(v) ? v : 0);

interface Scored {
  tenantId: string;
  metric: AnomalyMetric;
  series: number[];
  score: number;
}

/** The hourly series of one metric over [from, latest]: missing hours are 0 for counts, NaN for ratios. */
function metricSeries(metric: AnomalyMetric, values: Map<number, number>, from: number, latest: number): number[] {
  const additive = metric !== 'error_rate' && metric !== 'p95_latency';
  return fillHours(values, from, latest + HOUR_MS, additive ? 0 : NaN);
}

/**
 * Expected and actual of each model, variant and instance of the tenant, for the contributors.
 * Keys come from the whole history, not only the latest hour: a model that dropped to zero is
 * the contributor of a drop. Per metric (found by dogfooding, each named the wrong contributor):
 * - p95: each key's own p95, merged from its digests (`p95ByKeyQuery`);
 * - error rate: each key's errors over the *tenant's* requests, its share of the tenant's rate,
 *   so a model with 1 failure in 2 requests does not outrank one with 93 in 282;
 * - counts and cost: the key's own series.
 */
function breakdownOf(
  s: Scored,
  own: { detail: readonly ScanRow[]; p95: readonly P95Row[]; totals: readonly ScanRow[] },
  costs: HourlyCosts,
  from: number,
  latest: number,
): BreakdownRow[] {
  const tenantRequests = new Map(own.totals.map((r) => [r.hour_ms, r.requests]));
  const breakdown: BreakdownRow[] = [];
  for (const [dimension, keyOf] of DIMENSIONS) {
    const rowsByKey = groupBy(own.detail, keyOf);
    const p95ByKey = groupBy(
      own.p95.filter((r) => r.dimension === dimension),
      (r) => r.key,
    );
    for (const [key, rows] of rowsByKey) {
      let values: Map<number, number>;
      if (s.metric === 'cost_per_hour') values = costs.byKey(s.tenantId, dimension, key);
      else if (s.metric === 'p95_latency') values = new Map((p95ByKey.get(key) ?? []).map((r) => [r.hour_ms, r.p95_ms]));
      else if (s.metric === 'error_rate') values = errorShares(rows, tenantRequests);
      else values = byHour(rows, (g) => metricOf(s.metric, g));
      const keySeries = metricSeries(s.metric, values, from, latest);
      breakdown.push({ dimension, key, expected: expectedLatest(keySeries), actual: keySeries[keySeries.length - 1] ?? 0 });
    }
  }
  return breakdown.filter((b) => Number.isFinite(b.expected) && Number.isFinite(b.actual));
}

/** A key's errors as a share of the tenant's requests, every hour the tenant served any (0 without errors). */
function errorShares(rows: readonly ScanRow[], tenantRequests: ReadonlyMap<number, number>): Map<number, number> {
  const errors = byHour(rows, (g) => g.reduce((a, r) => a + r.errors, 0));
  const out = new Map<number, number>();
  for (const [hour, requests] of tenantRequests) if (requests > 0) out.set(hour, (errors.get(hour) ?? 0) / requests);
  return out;
}

function groupBy<T, K>(rows: readonly T[], keyOf: (row: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const r of rows) {
    const k = keyOf(r);
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  return groups;
}

function byHour(rows: readonly ScanRow[], value: (rows: ScanRow[]) => number): Map<number, number> {
  return new Map([...groupBy(rows, (r) => r.hour_ms)].map(([hour, g]) => [hour, value(g)]));
}

export interface HourlyCosts {
  total(tenantId: string): Map<number, number>;
  byKey(tenantId: string, dimension: ContributorDimension, key: string): Map<number, number>;
}

/** Usage cost per cell key (tenant, or tenant × dimension × key) of one UTC day, by hour of the piece. */
export interface DayCosts {
  from: number;
  cells: Map<string, Float64Array>;
}

/**
 * Hourly usage costs of `range`, a UTC day at a time (partial days an hour at a time); past days
 * and ended hours come from `cache` (days also from ClickHouse, `kept`) while their rollup rows
 * are unchanged (`perUtcDay`), so a scan prices only new and changed hours and days.
 */
export async function hourlyCostsOf(
  ctx: CostContext,
  range: { from: number; to: number },
  now: number,
  cache: DayCache<DayCosts>,
  kept?: KeptDays<DayCosts>,
): Promise<HourlyCosts> {
  const days = await perUtcDay(ctx, range, now, {
    cache,
    kept,
    compute: async (run) => {
      const data = await readAttributionData(ctx.store, spanOf(run), { keepRows: true });
      const out: DayCosts[] = [];
      for (const piece of run) out.push(await pieceCosts(ctx, data, piece, now));
      return out;
    },
    assemble: dayCostsOfHours,
  });
  const series = (cell: string) => {
    const out = new Map<number, number>();
    for (const d of days) d.cells.get(cell)?.forEach((v, h) => v !== 0 && out.set(d.from + h * HOUR_MS, v));
    return out;
  };
  return {
    total: (tenantId) => series(`${tenantId}\u0000total`),
    byKey: (tenantId, dimension, key) => series(`${tenantId}\u0000${dimension}\u0000${key}`),
  };
}

/** A day's costs from its 24 hours' (in order): each cell's hours side by side. */
export function dayCostsOfHours(hours: readonly DayCosts[]): DayCosts {
  const cells = new Map<string, Float64Array>();
  hours.forEach((hour, i) => {
    for (const [key, values] of hour.cells) {
      let c = cells.get(key);
      if (!c) cells.set(key, (c = new Float64Array(hours.length)));
      c[i] = values[0]!;
    }
  });
  return { from: hours[0]!.from, cells };
}

/**
 * Usage cost per tenant and hour (and per model / variant / instance) of one piece, one engine
 * run per hour, yielding to the event loop between hours (see PRICING_SLICE_MS). Converted to
 * plain numbers for the detector only: nothing here is summed into money.
 */
async function pieceCosts(ctx: CostContext, data: AttributionData, piece: TimeRange, now: number): Promise<DayCosts> {
  const hours = Math.round((piece.to - piece.from) / HOUR_MS);
  const cells = new Map<string, Float64Array>();
  const add = (key: string, hour: number, micros: bigint) => {
    let c = cells.get(key);
    if (!c) cells.set(key, (c = new Float64Array(hours)));
    c[(hour - piece.from) / HOUR_MS]! += Number(micros) / 1e6;
  };
  const capacityByHour = groupBy(
    data.capacity.filter((c) => c.hour >= piece.from && c.hour < piece.to),
    (c) => c.hour,
  );
  const usageByHour = groupBy(usageRecordsOf(data.table, piece.from, piece.to), (u) => u.hour);
  for (const hour of new Set([...capacityByHour.keys(), ...usageByHour.keys()])) {
    await setImmediate();
    const result = attributeCosts({
      from: hour,
      to: hour + HOUR_MS,
      now,
      capacity: capacityByHour.get(hour) ?? [],
      usage: usageByHour.get(hour) ?? [],
      prices: ctx.pricing.capacity,
      idlePolicy: ctx.pricing.idle_policy,
    });
    for (const t of result.tenants) {
      // Usage cost, not total: idle and overhead shares move with other tenants and with
      // capacity, and a tenant's own cost anomaly is about what it used.
      add(`${t.tenantId}\u0000total`, hour, t.usageCost);
      for (const m of t.byModel) {
        add(`${t.tenantId}\u0000model\u0000${m.model}`, hour, m.usageCost);
        add(`${t.tenantId}\u0000variant\u0000${m.modelVariant}`, hour, m.usageCost);
      }
      for (const i of t.byInstance) add(`${t.tenantId}\u0000instance\u0000${i.instanceId}`, hour, i.usageCost);
    }
  }
  return { from: piece.from, cells };
}
