import { createHash } from 'node:crypto';
import { setImmediate } from 'node:timers/promises';
import { apportion, type Micros } from '../money/money.ts';
import { listRevenue } from '../pricing/list-revenue.ts';
import type { PriceBook } from '../pricing/price-book.ts';
import type { Store } from '../store/client.ts';
import { appendAttributionUsageRows, attributionUsageQuery, type AttributionUsageRow, capacityHourRow, capacityHoursQuery, hourFingerprintRow, hourFingerprintsQuery } from '../store/queries/costs.ts';
import type { TimeRange } from '../store/queries/time.ts';
import { attributeCostsByHour } from './attribute-costs.ts';
import type { AttributionCache, DayAttribution, DayCache } from './day-cache.ts';
import { mergeAttributionResults, mergeTenantHours } from './merge-results.ts';
import { piecesInFlightOf } from './in-flight.ts';
import type { PersistedDays } from './persisted-days.ts';
import type { AttributionInput, AttributionResult, CapacityHour, TenantHours } from './types.ts';
import { requestsByTenant, usageRecordsOf, usageTableBuilder, type UsageRecord, type UsageTable, type UsageTableOptions } from './usage-table.ts';

/**
 * Reads the rollups, runs the pure engine, adds revenue and margin. The engine owns every cost
 * decision; this service only moves rows and groups results.
 *
 * Scale: a month of every tenant's usage is read one day at a time into columns (usage-table.ts),
 * and priced one day at a time: the engine runs on each day and the days' results are merged
 * (merge-results.ts), which is exact because every amount is a sum over hours. List revenue is
 * summed in the same pass (it is rounded per row and meter, so it is a sum over rows too).
 */

export interface CostContext {
  store: Store;
  pricing: PriceBook;
  planOf: (tenantId: string) => string;
  now: () => number;
  /** Results of past days, reused by `attributeRange` while their rollup rows are unchanged. */
  cache?: AttributionCache;
  /** The same, kept in ClickHouse: shared with other replicas and across restarts. */
  kept?: KeptDays<DayAttribution>;
}

/**
 * A digest of the prices and of every tenant's plan (the plan of a tenant not listed is the
 * default plan, which is part of `pricing`): what a kept day's value depends on besides its rows.
 */
export function pricingKeyOf(pricing: PriceBook, planByTenant: Readonly<Record<string, string>>): string {
  const plans = Object.entries(planByTenant).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const text = JSON.stringify({ pricing, plans }, (_key, value: unknown) => (typeof value === 'bigint' ? `${value}n` : value));
  return createHash('sha256').update(text).digest('hex');
}

const HOUR = 3_600_000;
/** Rows are read and priced this many hours at a time: bounds the JSON text and row objects alive at once. */
export const SPAN_MS = 24 * HOUR;

/** Attribution works on whole hours: from is floored and to is ceiled; responses say so. */
export function toWholeHours(range: TimeRange): TimeRange {
  return { from: Math.floor(range.from / HOUR) * HOUR, to: Math.ceil(range.to / HOUR) * HOUR };
}

export interface AttributionData {
  range: TimeRange;
  capacity: CapacityHour[];
  /**
   * Every usage row of the range, in columns, a day per chunk. Rows come out as objects through
   * `usageRecordsOf(table, from, to)`, a span of hours at a time (each call builds them anew).
   */
  table: UsageTable;
}

/** The spans of at most `stepMs` that cover [from, to), in order. */
export function spansOf(range: TimeRange, stepMs: number): TimeRange[] {
  const out: TimeRange[] = [];
  for (let from = range.from; from < range.to; from += stepMs) out.push({ from, to: Math.min(from + stepMs, range.to) });
  return out;
}

/** Attribution data from rows already in memory (whole hours; usage split into day chunks here). */
export function attributionDataOf(range: TimeRange, capacity: CapacityHour[], usage: readonly UsageRecord[]): AttributionData {
  const builder = usageTableBuilder();
  for (const span of spansOf(range, SPAN_MS)) builder.add(span.from, span.to, usage.filter((u) => u.hour >= span.from && u.hour < span.to));
  return { range, capacity, table: builder.table() };
}

/** With `keepRows`, the table also keeps the rows' objects: for data priced once, right away (a day of `perUtcDay`). */
export async function readAttributionData(store: Store, requested: TimeRange, options: UsageTableOptions = {}): Promise<AttributionData> {
  const range = toWholeHours(requested);
  const capacityRows = await store.query({ ...capacityHoursQuery(range), schema: attributionCapacityRow });
  const builder = usageTableBuilder(options);
  // One day at a time, in order: only one day's JSON text and parsed rows are ever alive.
  for (const span of spansOf(range, SPAN_MS)) {
    const rows: AttributionUsageRow[] = [];
    const raws = await store.queryCompact(attributionUsageQuery(span));
    for (let i = 0; i < raws.length; i++) {
      appendAttributionUsageRows(rows, raws[i]!, i, span);
      if (i % GROUPS_BETWEEN_YIELDS === GROUPS_BETWEEN_YIELDS - 1) await setImmediate();
    }
    await setImmediate();
    builder.add(span.from, span.to, rows);
  }
  return { range, capacity: capacityRows, table: builder.table() };
}

/**
 * Grouped usage rows (a tenant × instance × variant's day, its hours in arrays) unpacked between
 * two yields to the event loop. Unpacking a whole day at once held the loop that the API and the
 * quota authority share for 60–160 ms at 30M stored requests a month (600 tenants, 3,600 groups
 * a day), and in all, with parsing and building the day's columns, for up to 380 ms; about 10 ms
 * at a time here.
 */
const GROUPS_BETWEEN_YIELDS = 500;

const attributionCapacityRow = capacityHourRow.transform(
  (r): CapacityHour => ({
    instanceId: r.instance_id,
    hour: r.hour_ms,
    cpuMillicoreMs: r.cpu_millicore_ms,
    memoryByteMs: r.memory_byte_ms,
    memoryUsedByteMs: r.memory_used_byte_ms,
    gpuModel: r.gpu_model,
    gpuMs: r.gpu_ms,
  }),
);

/**
 * The engine over `range` (default: the data's), one chunk of `data.table` at a time, merged;
 * with each tenant's figures per hour of the range. `onRows` sees every usage row in the range
 * exactly once, a span at a time.
 */
export function runAttribution(
  ctx: CostContext,
  data: AttributionData,
  range = data.range,
  onRows?: (rows: readonly UsageRecord[]) => void,
): { result: AttributionResult; tenantHours: TenantHours } {
  const now = ctx.now();
  const parts = piecesOf(range, data.table).map((piece) => {
    const usage = usageRecordsOf(data.table, piece.from, piece.to);
    onRows?.(usage);
    const input: AttributionInput = {
      from: piece.from,
      to: piece.to,
      now,
      capacity: data.capacity.filter((c) => c.hour >= piece.from && c.hour < piece.to),
      usage,
      prices: ctx.pricing.capacity,
      idlePolicy: ctx.pricing.idle_policy,
    };
    return attributeCostsByHour(input);
  });
  return { result: mergeAttributionResults(parts.map((p) => p.result)), tenantHours: mergeTenantHours(parts.map((p) => p.tenantHours)) };
}

/** [from, to) cut at the table's chunk bounds: each piece lies within one chunk (or none). */
function piecesOf(range: TimeRange, table: UsageTable): TimeRange[] {
  const cuts = new Set([range.from, range.to]);
  for (const c of table.chunks) for (const b of [c.from, c.to]) if (b > range.from && b < range.to) cuts.add(b);
  const sorted = [...cuts].sort((a, b) => a - b);
  if (sorted.length === 1) return [range];
  return sorted.slice(1).map((to, i) => ({ from: sorted[i]!, to }));
}

/** List revenue per tenant × model, summed row by row (exact: it is rounded per row and meter). */
export interface RevenueCounter {
  add(rows: readonly UsageRecord[]): void;
  of(tenantId: string, model: string): Micros;
  /** Everything counted, per tenant and model. */
  table(): Map<string, Map<string, Micros>>;
}

export function revenueCounter(ctx: CostContext): RevenueCounter {
  const byTenant = new Map<string, { plan: PriceBook['plans'][string]; byModel: Map<string, Micros> }>();
  const single: UsageRecord[] = [];
  return {
    add(rows) {
      for (const r of rows) {
        let t = byTenant.get(r.tenantId);
        if (!t) {
          t = { plan: ctx.pricing.plans[ctx.planOf(r.tenantId)] ?? [], byModel: new Map() };
          byTenant.set(r.tenantId, t);
        }
        single[0] = r;
        t.byModel.set(r.model, (t.byModel.get(r.model) ?? 0n) + listRevenue(t.plan, single));
      }
    },
    of: (tenantId, model) => byTenant.get(tenantId)?.byModel.get(model) ?? 0n,
    table: () => new Map([...byTenant].map(([tenantId, t]) => [tenantId, new Map(t.byModel)])),
  };
}

/**
 * A tenant's idle and overhead shares (`pool`) spread over its parts (models, variants,
 * instances) by `weights`, exactly; evenly when no part has weight (the `even` idle policy charges
 * tenants without usage too). No parts: nothing to spread over.
 */
export function spreadShares(pool: Micros, weights: readonly bigint[]): Micros[] {
  return apportion(pool, weights) ?? apportion(pool, weights.map(() => 1n)) ?? [];
}

export interface ModelMargin {
  tenantId: string;
  model: string;
  revenue: Micros;
  cost: Micros;
}

/**
 * Revenue (list price) and fully loaded cost per tenant x model. A tenant's idle and overhead
 * shares are spread over its models by usage cost, so model costs add up to the tenant's total.
 */
export function marginByModel(ctx: CostContext, result: AttributionResult, revenue: Pick<RevenueCounter, 'of'>): ModelMargin[] {
  const out: ModelMargin[] = [];
  for (const t of result.tenants) {
    const usageCost = new Map<string, Micros>();
    const usageValue = new Map<string, bigint>();
    for (const m of t.byModel) {
      usageCost.set(m.model, (usageCost.get(m.model) ?? 0n) + m.usageCost);
      usageValue.set(m.model, (usageValue.get(m.model) ?? 0n) + m.usageValue);
    }
    const models = [...usageCost.keys()].sort();
    // Shares follow unrounded usage (as the proportional policy does); with no usage at all
    // (the `even` policy charges idle tenants too) they are split evenly across models.
    const pool = t.idleShare + t.overheadShare;
    const values = models.map((model) => usageValue.get(model) ?? 0n);
    const shares = spreadShares(pool, values);
    models.forEach((model, i) => {
      out.push({ tenantId: t.tenantId, model, revenue: revenue.of(t.tenantId, model), cost: (usageCost.get(model) ?? 0n) + (shares[i] ?? 0n) });
    });
  }
  return out;
}

/** A range's attribution with what the reports add to it: list revenue and requests per tenant. */
export interface RangeAttribution {
  range: TimeRange;
  result: AttributionResult;
  revenue: Pick<RevenueCounter, 'of'>;
  requestsByTenant: ReadonlyMap<string, bigint>;
  /** Each tenant's figures per hour, one entry per piece of the range, in order (a tenant's cost series). */
  tenantHours: readonly TenantHours[];
}

/** The attribution of data already in memory (whole range, no cache). */
export function rangeAttributionOf(ctx: CostContext, data: AttributionData): RangeAttribution {
  const day = attributeData(ctx, data, ctx.now());
  return { range: data.range, result: day.result, revenue: lookupOf(day.revenue), requestsByTenant: day.requests, tenantHours: [day.tenantHours] };
}

/**
 * Reads and prices [from, to) (whole hours), one UTC day at a time, merged. With `ctx.cache`, a
 * day that has ended is taken from the cache when its rollup rows have the fingerprint it was
 * priced with (one cheap query for all of them); only new or changed days are read and priced.
 */
export async function attributeRange(ctx: CostContext, requested: TimeRange): Promise<RangeAttribution> {
  const range = toWholeHours(requested);
  const now = ctx.now();
  const days = await perUtcDay(ctx, range, now, {
    cache: ctx.cache,
    kept: ctx.kept,
    compute: async (run) => attributePieces(ctx, await readAttributionData(ctx.store, spanOf(run), { keepRows: true }), run, now),
    assemble: mergeDayAttributions,
  });
  return {
    range,
    result: mergeAttributionResults(days.map((d) => d.result)),
    revenue: lookupOf(sumNested(days.map((d) => d.revenue))),
    requestsByTenant: sumFlat(days.map((d) => d.requests)),
    tenantHours: days.map((d) => d.tenantHours),
  };
}

/**
 * Priced days kept in ClickHouse (persisted-days.ts), and the prices and plans they are priced
 * with. Used only while a context prices with these very objects, under `key`, a digest of their
 * content (`pricingKeyOf`): process-local identities would not match after a restart.
 */
export interface KeptDays<T> {
  days: PersistedDays<T>;
  pricing: PriceBook;
  planOf: (tenantId: string) => string;
  key: string;
  /** Hears where each call's past days came from (metrics), whether or not they could be kept. */
  observe?: (source: DaySource, days: number) => void;
}

/** Where a past day's value came from: this process's memory, ClickHouse, or pricing it now. */
export type DaySource = 'memory' | 'stored' | 'priced';

export interface PieceSources<T> {
  /** This process's memory: past days and ended hours. */
  cache?: DayCache<T>;
  /** ClickHouse: past days, shared with other replicas and across restarts. */
  kept?: KeptDays<T>;
  /** Prices a run of consecutive pieces (a whole day alone, or hours of one day) with one read. */
  compute: (run: readonly TimeRange[]) => Promise<T[]>;
  /**
   * A day's value from the values of its 24 hours, in order (exact when values merge exactly).
   * Without it, a day that has just ended is read and priced whole although most of its hours
   * are in memory: seconds at every UTC midnight at 100M requests a month.
   */
  assemble?: (hours: readonly T[]) => T;
}

/**
 * The value of each UTC day of `range`, in order. A whole day that has ended is reused while its
 * fingerprint is unchanged: the rollup rows of the day (one query for all of them,
 * `hourFingerprintsQuery`) and the prices and plans of `ctx`. It comes from `cache` (this
 * process), else from `kept` (ClickHouse: written by an earlier run, or another replica), else it
 * is computed and put in both. The fingerprint is read before the rows, so rows landing in
 * between make the next call compute the day again, never the reverse. An empty range (the first
 * instant of a month, say) is one empty piece.
 *
 * With a memory cache, the rest of the range (today, a partial first day) is computed an hour at
 * a time, and each hour that has ended is reused from memory the same way, under its own
 * fingerprint: a month's figures otherwise priced all of today's hours again at every call (the
 * 5-minute cost gauge, a dashboard refresh), seconds at 100M requests a month. A day that has
 * just ended is assembled from its hours (`assemble`): those in memory, and the others (its last
 * hour, which was still in progress at the last call) priced. Results are exact either way: the
 * engine prices hour by hour and its results merge exactly (merge-results.ts).
 *
 * Calls at the same time on one cache price each ended piece once: a later call waits for the
 * pieces an earlier one is pricing (in-flight.ts).
 *
 * Hours are not kept in ClickHouse: after a restart today is priced once more. Keeping them was
 * measured and dropped: an hour's value holds every tenant's result, nearly a day's size, so
 * reading 23 of them back took as long as pricing them (10M requests: 493 against 511 ms for a
 * restarted month) for 24 more stored rows a day.
 */
export async function perUtcDay<T>(
  ctx: Pick<CostContext, 'store' | 'pricing' | 'planOf'>,
  range: TimeRange,
  now: number,
  { cache, kept, compute, assemble }: PieceSources<T>,
): Promise<T[]> {
  const keep = kept && kept.pricing === ctx.pricing && kept.planOf === ctx.planOf ? kept : undefined;
  const pastDay = (p: TimeRange) => p.to - p.from === DAY_MS && p.from % DAY_MS === 0 && p.to <= now;
  const pastHour = (p: TimeRange) => p.to - p.from === HOUR && p.from % HOUR === 0 && p.to <= now;
  const days = range.from < range.to ? cutAt(range, DAY_MS) : [range];
  const pieces = cache ? days.flatMap((p) => (pastDay(p) ? [p] : cutAt(p, HOUR))) : days;
  const reusableDays = cache || keep ? pieces.filter(pastDay) : [];
  const reusable = cache ? pieces.filter((p) => pastDay(p) || pastHour(p)) : reusableDays;
  const fingerprints = reusable.length ? await readFingerprints(ctx.store, { from: reusable[0]!.from, to: reusable[reusable.length - 1]!.to }) : undefined;
  const rowsOf = (p: TimeRange) => fingerprints?.of(p) ?? EMPTY_PIECE;
  // A day and its first hour start at the same instant: the hour's key says it is one.
  const memoryKey = (p: TimeRange) => `prices ${pricingIdOf(ctx)} | ${pastHour(p) ? 'hour | ' : ''}${rowsOf(p)}`;
  const keptKey = (p: TimeRange) => `prices ${keep!.key} | ${rowsOf(p)}`;

  const values = new Map<TimeRange, T>();
  for (const p of reusable) {
    const value = cache?.get(p.from, memoryKey(p));
    if (value !== undefined) values.set(p, value);
  }
  // A past day missing from memory whose hours are (some of) there is worked out by the hour.
  const byHours = new Map<TimeRange, TimeRange[]>();
  if (cache && assemble) {
    for (const day of reusableDays) {
      if (values.has(day)) continue;
      const hours = cutAt(day, HOUR);
      const found = hours.map((hour) => cache.get(hour.from, memoryKey(hour)));
      if (found.every((v) => v === undefined)) continue;
      byHours.set(day, hours);
      hours.forEach((hour, i) => found[i] !== undefined && values.set(hour, found[i]));
    }
  }
  const work = pieces.flatMap((p) => byHours.get(p) ?? [p]);
  // Ended pieces priced by a concurrent call are waited for, not priced twice (in-flight.ts). The
  // hour in progress is not shared: its value depends on each call's clock.
  const flightKey = (p: TimeRange) => `${p.from} ${p.to} | ${memoryKey(p)}`;
  const shared = cache ? work.filter((p) => (pastDay(p) || pastHour(p)) && !values.has(p)) : [];
  const claim = cache ? piecesInFlightOf<T>(cache).claim(shared.map(flightKey)) : undefined;
  try {
    for (const p of shared) {
      const value = await claim!.theirs.get(flightKey(p));
      if (value !== undefined) values.set(p, value);
    }
    // Days another call priced meanwhile count as memory: this call read no row for them.
    const daysFromMemory = reusableDays.filter((p) => values.has(p)).length;
    /** Days assembled from hours all found in memory (counted as memory: no row was read). */
    let daysAssembled = 0;
    let daysStored = 0;
    if (keep) {
      const wanted = work.filter((p) => pastDay(p) && !values.has(p));
      const stored = await keep.days.load(wanted.map((p) => ({ day: p.from, fingerprint: keptKey(p) })));
      for (const p of wanted) {
        const value = stored.get(p.from);
        if (value === undefined) continue;
        values.set(p, value);
        daysStored += 1;
        cache?.set(p.from, memoryKey(p), value);
        claim?.settle(flightKey(p), value);
      }
    }
    let daysPriced = 0;
    const priced = new Set<TimeRange>();
    for (const run of missingRuns(work, values)) {
      const computed = await compute(run);
      if (computed.length !== run.length) throw new RangeError(`perUtcDay: compute gave ${computed.length} values for ${run.length} pieces`);
      for (const [i, piece] of run.entries()) {
        const value = computed[i]!;
        values.set(piece, value);
        priced.add(piece);
        if (pastDay(piece) || pastHour(piece)) cache?.set(piece.from, memoryKey(piece), value);
        claim?.settle(flightKey(piece), value);
        if (pastDay(piece)) {
          daysPriced += 1;
          if (keep) await keep.days.save(piece.from, keptKey(piece), value);
        }
      }
    }
    for (const [day, hours] of byHours) {
      if (hours.some((hour) => priced.has(hour))) daysPriced += 1;
      else daysAssembled += 1;
      const value = assemble!(hours.map((hour) => values.get(hour)!));
      values.set(day, value);
      cache?.set(day.from, memoryKey(day), value);
      if (keep) await keep.days.save(day.from, keptKey(day), value);
    }
    kept?.observe?.('memory', daysFromMemory + daysAssembled);
    kept?.observe?.('stored', daysStored);
    kept?.observe?.('priced', daysPriced);
    return pieces.map((p) => values.get(p)!);
  } finally {
    claim?.release();
  }
}

const DAY_MS = 24 * HOUR;
const EMPTY_PIECE = 'usage 0 0 | capacity 0 0';

function attributeData(ctx: CostContext, data: AttributionData, now: number): DayAttribution {
  const revenue = revenueCounter(ctx);
  return dayAttributionOf(data, [runAttribution({ ...ctx, now: () => now }, data, data.range, (rows) => revenue.add(rows))], revenue);
}

/**
 * Hours priced between two yields to the event loop. Pricing is synchronous, and the API, the
 * quota authority sidecars lease from, and the jobs share one loop: a whole day at 10M stored
 * requests a month held it for a few hundred milliseconds, and for seconds at 100M. Slices merge
 * exactly (every amount is a sum over hours), so the result is the same.
 */
const PRICING_SLICE_MS = HOUR;

/**
 * Each piece of `data` (a day, or hours of one) priced on its own, an hour at a time, letting
 * other work run in between.
 */
async function attributePieces(ctx: CostContext, data: AttributionData, pieces: readonly TimeRange[], now: number): Promise<DayAttribution[]> {
  const out: DayAttribution[] = [];
  for (const piece of pieces) {
    const revenue = revenueCounter(ctx);
    const parts: Array<ReturnType<typeof runAttribution>> = [];
    // An empty piece (the first instant of a month) is priced as itself: an empty result.
    for (const slice of piece.from < piece.to ? spansOf(piece, PRICING_SLICE_MS) : [piece]) {
      await setImmediate();
      parts.push(runAttribution({ ...ctx, now: () => now }, data, slice, (rows) => revenue.add(rows)));
    }
    out.push(dayAttributionOf(data, parts, revenue, piece));
  }
  return out;
}

/** The priced parts of `range` (default: all of `data`) as one piece's attribution. */
function dayAttributionOf(data: AttributionData, parts: ReadonlyArray<ReturnType<typeof runAttribution>>, revenue: RevenueCounter, range = data.range): DayAttribution {
  return {
    result: mergeAttributionResults(parts.map((p) => p.result)),
    revenue: revenue.table(),
    requests: requestsByTenant(data.table, range.from, range.to),
    tenantHours: mergeTenantHours(parts.map((p) => p.tenantHours)),
  };
}

/** Consecutive pieces' attributions as the attribution of their union (exact: see merge-results.ts). */
export function mergeDayAttributions(parts: readonly DayAttribution[]): DayAttribution {
  return {
    result: mergeAttributionResults(parts.map((p) => p.result)),
    revenue: sumNested(parts.map((p) => p.revenue)),
    requests: sumFlat(parts.map((p) => p.requests)),
    tenantHours: mergeTenantHours(parts.map((p) => p.tenantHours)),
  };
}

/** [from, to) cut at multiples of `step` (UTC midnights, whole hours); an empty range stays one empty piece. */
function cutAt(range: TimeRange, step: number): TimeRange[] {
  if (range.from >= range.to) return [range];
  const out: TimeRange[] = [];
  for (let from = range.from; from < range.to; ) {
    const to = Math.min((Math.floor(from / step) + 1) * step, range.to);
    out.push({ from, to });
    from = to;
  }
  return out;
}

/**
 * The pieces `values` lacks, in runs that one read serves: a whole day alone (a day's rows are as
 * many as memory should hold at once), consecutive hours of one UTC day together (one query
 * instead of one per hour).
 */
function missingRuns<T>(pieces: readonly TimeRange[], values: ReadonlyMap<TimeRange, T>): TimeRange[][] {
  const runs: TimeRange[][] = [];
  let run: TimeRange[] = [];
  const dayOf = (p: TimeRange) => Math.floor(p.from / DAY_MS);
  const isDay = (p: TimeRange) => p.to - p.from === DAY_MS;
  // Pieces are contiguous: a run ends at a piece that is there, a day, or a UTC midnight.
  for (const piece of pieces) {
    const last = run[run.length - 1];
    if (values.has(piece) || (last && (isDay(piece) || isDay(last) || dayOf(piece) !== dayOf(last)))) {
      if (run.length) runs.push(run);
      run = [];
    }
    if (!values.has(piece)) run.push(piece);
  }
  if (run.length) runs.push(run);
  return runs;
}

/** From the first piece's start to the last one's end (what one read of a run covers). */
export function spanOf(run: readonly TimeRange[]): TimeRange {
  return { from: run[0]!.from, to: run[run.length - 1]!.to };
}

const UINT64 = 1n << 64n;

interface PieceCounts {
  usage: { n: bigint; h: bigint };
  capacity: { n: bigint; h: bigint };
}

/**
 * Fingerprints of the rollup rows attribution reads (one query, per hour): `of` gives a piece's
 * (an hour, a day), the sum of its hours' counts and hash sums. The text is what a query grouped
 * by day gave before hours were fingerprinted, so days kept in ClickHouse under it still match.
 */
async function readFingerprints(store: Store, range: TimeRange): Promise<{ of(piece: TimeRange): string }> {
  const rows = await store.query({ ...hourFingerprintsQuery(range), schema: hourFingerprintRow });
  const hours = new Map<number, PieceCounts>();
  for (const r of rows) {
    const counts = hours.get(r.hour_ms) ?? { usage: { n: 0n, h: 0n }, capacity: { n: 0n, h: 0n } };
    counts[r.source] = { n: r.n, h: r.h };
    hours.set(r.hour_ms, counts);
  }
  return {
    of(piece) {
      let usageN = 0n;
      let usageH = 0n;
      let capacityN = 0n;
      let capacityH = 0n;
      for (let hour = piece.from; hour < piece.to; hour += HOUR) {
        const c = hours.get(hour);
        if (!c) continue;
        usageN += c.usage.n;
        usageH += c.usage.h;
        capacityN += c.capacity.n;
        capacityH += c.capacity.h;
      }
      return `usage ${usageN} ${usageH % UINT64} | capacity ${capacityN} ${capacityH % UINT64}`;
    },
  };
}

/** A number per (prices, plan assignment) in this process: a cached day is reused only under the same ones. */
const pricingIds = new WeakMap<object, WeakMap<object, number>>();
let nextPricingId = 1;
function pricingIdOf(ctx: Pick<CostContext, 'pricing' | 'planOf'>): number {
  let byPlanOf = pricingIds.get(ctx.pricing);
  if (!byPlanOf) pricingIds.set(ctx.pricing, (byPlanOf = new WeakMap()));
  let id = byPlanOf.get(ctx.planOf);
  if (id === undefined) byPlanOf.set(ctx.planOf, (id = nextPricingId++));
  return id;
}

function lookupOf(table: ReadonlyMap<string, ReadonlyMap<string, Micros>>): Pick<RevenueCounter, 'of'> {
  return { of: (tenantId, model) => table.get(tenantId)?.get(model) ?? 0n };
}

function sumNested(tables: ReadonlyArray<ReadonlyMap<string, ReadonlyMap<string, Micros>>>): Map<string, Map<string, Micros>> {
  const out = new Map<string, Map<string, Micros>>();
  for (const table of tables) {
    for (const [tenantId, byModel] of table) {
      let acc = out.get(tenantId);
      if (!acc) out.set(tenantId, (acc = new Map()));
      for (const [model, micros] of byModel) acc.set(model, (acc.get(model) ?? 0n) + micros);
    }
  }
  return out;
}

function sumFlat(maps: ReadonlyArray<ReadonlyMap<string, bigint>>): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const m of maps) for (const [k, v] of m) out.set(k, (out.get(k) ?? 0n) + v);
  return out;
}
