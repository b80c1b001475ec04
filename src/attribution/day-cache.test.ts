import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openTestStore } from '../../test/support/store.ts';
import { pricingSchema } from '../pricing/price-book.ts';
import type { Store } from '../store/client.ts';
import { attributionUsageQuery } from '../store/queries/costs.ts';
import { attributionReport, tenantCostReport } from './cost-reports.ts';
import { attributeRange, pricingKeyOf, rangeAttributionOf, readAttributionData, type CostContext, type KeptDays, type RangeAttribution } from './cost-service.ts';
import { createAttributionCache, createDayCache, type DayAttribution } from './day-cache.ts';
import { DAY_FORMAT_VERSION, decodeDay, encodeDay } from './day-codec.ts';
import { piecesInFlightOf } from './in-flight.ts';
import { createPersistedDays } from './persisted-days.ts';

/**
 * The day cache against a real embedded ClickHouse: a cached month must be exactly what pricing
 * every row again gives, after every kind of change to the rollups (late row, recomputed hour,
 * capacity change, today's traffic), and only the changed days are read again.
 */

const H = 3_600_000;
const DAY = 24 * H;
const D0 = Date.UTC(2026, 9, 1); // 2026-10-01, a UTC midnight
const NOW = D0 + 4 * DAY + 10.5 * H; // day 4 is today, 10 and a half hours in
const RANGE = { from: D0 + 5 * H, to: NOW }; // starts mid-day: the first day is partial, cached by the hour
/** The pieces of RANGE: hours 5–23 of day 0, days 1–3, hours 0–10 of today (the last in progress). */
const WHOLE_DAYS = 3;
/**
 * What pricing RANGE with nothing reusable reads: a usage query per whole day, and one per run of
 * consecutive hours to price (here: the partial first day's, today's).
 */
const HOUR_RUNS = 2;
const COLD_READS = WHOLE_DAYS + HOUR_RUNS;

const pricingInput = (vcpuHour: string) => ({
  idle_policy: 'proportional',
  capacity: [{ effective_from: '2026-01-01T00:00:00Z', vcpu_hour: vcpuHour, memory_gib_hour: '0.01', overhead_hour: '0.01' }],
  plans: { standard: [{ effective_from: '2026-01-01T00:00:00Z', meters: { requests: { unit_price: '0.001' }, cpu_seconds: { unit_price: '0.0001' } } }] },
});
const pricing = pricingSchema.parse(pricingInput('0.036'));

let store: Store;
/** Every query the code under test sends, so the test can see which days were read again. */
const sent: string[] = [];
/** The parameters of each query in `sent`, at the same index. */
const sentParams: unknown[] = [];

const iso = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
const usageRow = (tenant: string, hour: number, cpuUs: number, computedAt = '2026-10-10 00:00:00.000') => ({
  tenant_id: tenant, hour: iso(hour), model: 'm', model_variant: 'm', instance_id: 'i-1', requests: 10, errors: 0, rejected: 0,
  cpu_us: cpuUs, gpu_us: 0, input_tokens: 0, output_tokens: 0, input_elements: 0, output_elements: 0, duration_ns_sum: 0, computed_at: computedAt,
});
const capacityRow = (hour: number, millicores = 2000, computedAt = '2026-10-10 00:00:00.000') => ({
  instance_id: 'i-1', hour: iso(hour), window_ms: H, cpu_millicore_ms: String(millicores * H), memory_byte_ms: String(4 * 2 ** 30 * H),
  memory_used_byte_ms: String(2 ** 30 * H), gpu_model: '', gpu_ms: '0', cpu_used_us: 0, inference_cpu_us: 0, computed_at: computedAt,
});

beforeAll(async () => {
  ({ store } = await openTestStore());
  const usage = [];
  const capacity = [];
  for (let h = 0; h < 4 * 24 + 10; h += 3) {
    usage.push(usageRow('a', D0 + h * H, 1_000_000 + h), usageRow('b', D0 + h * H, 3_000_000));
    capacity.push(capacityRow(D0 + h * H));
  }
  await store.insert('usage_hourly', usage);
  await store.insert('capacity_hourly', capacity);
});

afterAll(async () => {
  await store?.close();
});

function context(cache = createAttributionCache(), prices = pricing): CostContext {
  const counting: Store = {
    ...store,
    query: (spec) => (sent.push(spec.query), sentParams.push(spec.params), store.query(spec)),
    queryCompact: (spec) => (sent.push(spec.query), sentParams.push(spec.params), store.queryCompact(spec)),
  };
  return { store: counting, pricing: prices, planOf: () => 'standard', now: () => NOW, cache };
}

/**
 * The attribution report and tenant cost reports (series in steps within a day, across days, of
 * a day): everything GET /v1/attribution and GET /v1/tenants/{t}/costs answer.
 */
function reports(ctx: CostContext, attribution: RangeAttribution): string {
  const tenants = ['a', 'b', 'c'].flatMap((t) => [3600, 5 * 3600, 86_400].map((step) => tenantCostReport(ctx, attribution, t, step)));
  return JSON.stringify([attributionReport(ctx, attribution), ...tenants]);
}

/** The reference: every row of the range read and priced in one pass, no cache. */
async function fresh() {
  const ctx: CostContext = { store, pricing, planOf: () => 'standard', now: () => NOW };
  return reports(ctx, rangeAttributionOf(ctx, await readAttributionData(store, RANGE)));
}

async function cachedReport(ctx: CostContext) {
  return reports(ctx, await attributeRange(ctx, RANGE));
}

/** The usage reads (one per day priced) sent since `mark`. */
function usageReadsSince(mark: number): string[] {
  return sent.slice(mark).filter((q) => q === attributionUsageQuery({ from: 0, to: 0 }).query);
}

/** The ranges of the usage reads sent since `mark`, as ISO times. */
function usageRangesSince(mark: number): string[] {
  const usage = attributionUsageQuery({ from: 0, to: 0 }).query;
  return sent.flatMap((q, i) => {
    if (i < mark || q !== usage) return [];
    const { from, to } = sentParams[i] as { from: number; to: number };
    return [`${new Date(from).toISOString()} – ${new Date(to).toISOString()}`];
  });
}

describe('attributeRange with the day cache', () => {
  const cache = createAttributionCache();
  const ctx = context(cache);

  it('gives exactly the uncached report, and caches whole past days and the hours that have ended', async () => {
    const mark = sent.length;
    expect(await cachedReport(ctx)).toBe(await fresh());
    expect(usageReadsSince(mark)).toHaveLength(COLD_READS);
    // Days 1, 2, 3 are whole and over; hours 5–23 of day 0 and 0–9 of today have ended.
    expect(cache.size()).toBe(WHOLE_DAYS + 19 + 10);
  });

  it('reads only the hour in progress again when nothing changed', async () => {
    const mark = sent.length;
    expect(await cachedReport(ctx)).toBe(await fresh());
    expect(usageReadsSince(mark)).toHaveLength(1);
  });

  // The hour in progress is read every time (1); a changed past day or hour once more (2), unless
  // it is next to the hour in progress.
  it.each<[string, () => Promise<void>, number]>([
    ['a late row for a past day', () => store.insert('usage_hourly', [usageRow('c', D0 + 2 * DAY + 5 * H, 7_000_000)]), 2],
    ['a recomputed hour (newer computed_at, other CPU)', () => store.insert('usage_hourly', [usageRow('a', D0 + DAY + 6 * H, 9_999_999, '2026-10-11 00:00:00.000')]), 2],
    ['a changed capacity sample', () => store.insert('capacity_hourly', [capacityRow(D0 + 3 * DAY + 3 * H, 8000, '2026-10-11 00:00:00.000')]), 2],
    ['a late row for an ended hour of the partial first day', () => store.insert('usage_hourly', [usageRow('c', D0 + 7 * H, 2_000_000)]), 2],
    ["today's traffic in an earlier hour (a run of its own)", () => store.insert('usage_hourly', [usageRow('c', D0 + 4 * DAY + 3 * H, 6_000_000)]), 2],
    // The changed hour 9 and the hour in progress are one run: one read.
    ["today's traffic in an hour that has ended", () => store.insert('usage_hourly', [usageRow('a', D0 + 4 * DAY + 9 * H, 5_000_000)]), 1],
    ['traffic in the hour in progress', () => store.insert('usage_hourly', [usageRow('b', D0 + 4 * DAY + 10 * H, 4_000_000)]), 1],
  ])('after %s: still exactly the uncached report, and only the changed day or hour is priced again', async (_name, change, reads) => {
    const before = await cachedReport(ctx);
    await change();
    const mark = sent.length;
    const after = await cachedReport(ctx);
    expect(after).not.toBe(before);
    expect(after).toBe(await fresh());
    expect(usageReadsSince(mark)).toHaveLength(reads);
  });

  it('prices again under other prices, never reusing a day priced with different ones', async () => {
    const other = pricingSchema.parse(pricingInput('0.072'));
    const before = await cachedReport(ctx);
    const mark = sent.length;
    const report = await cachedReport(context(cache, other));
    expect(report).not.toBe(before);
    expect(usageReadsSince(mark)).toHaveLength(COLD_READS);
  });
});

describe('attributeRange with days kept in ClickHouse (a restart, another replica)', () => {
  const problems: string[] = [];
  const problemKinds: string[] = [];
  /** Days by source, as the last `kept()` observed them (what the metrics count). */
  let sources: Record<string, number> = {};
  const standard = () => 'standard';
  const codec = { encode: encodeDay, decode: decodeDay };
  /** What a process keeps days with: a fresh PersistedDays each time, as after a restart. */
  const kept = (opts: { prices?: typeof pricing; version?: number; decode?: typeof decodeDay; on?: Store } = {}): KeptDays<DayAttribution> => {
    const prices = opts.prices ?? pricing;
    const days = createPersistedDays({ store: opts.on ?? store, kind: 'attribution', version: opts.version ?? DAY_FORMAT_VERSION, codec: { ...codec, decode: opts.decode ?? decodeDay }, onProblem: (m, kind) => (problems.push(m), problemKinds.push(kind)) });
    sources = {};
    const observe = (source: string, n: number) => void (sources[source] = (sources[source] ?? 0) + n);
    return { days, pricing: prices, planOf: standard, key: pricingKeyOf(prices, {}), observe };
  };
  /** A new process: empty memory cache, the kept days of `keep`. */
  const replica = (keep: KeptDays<DayAttribution>): CostContext => ({ ...context(createAttributionCache(), keep.pricing), planOf: keep.planOf, kept: keep });
  const storedDays = async () => (await store.query<{ n: string }>({ query: `SELECT toString(count()) AS n FROM attribution_days FINAL WHERE kind = 'attribution'` }))[0]!.n;

  it('the first process prices every day and keeps the whole past ones', async () => {
    const mark = sent.length;
    expect(await cachedReport(replica(kept()))).toBe(await fresh());
    expect(usageReadsSince(mark)).toHaveLength(COLD_READS);
    expect(await storedDays()).toBe('3');
    expect(sources).toEqual({ memory: 0, stored: 0, priced: 3 });
  });

  it('a restarted process reads the past days back: exactly the same report, only the partial days\' hours priced', async () => {
    const mark = sent.length;
    const restarted = replica(kept());
    expect(await cachedReport(restarted)).toBe(await fresh());
    expect(usageReadsSince(mark)).toHaveLength(HOUR_RUNS);
    expect(problems).toEqual([]);
    expect(sources).toEqual({ memory: 0, stored: 3, priced: 0 });
    await cachedReport(restarted);
    expect(sources).toEqual({ memory: 3, stored: 3, priced: 0 });
  });

  it('after a late row, prices the changed day again and keeps it for the next process', async () => {
    const before = await cachedReport(replica(kept()));
    await store.insert('usage_hourly', [usageRow('d', D0 + 3 * DAY + 7 * H, 4_000_000)]);
    let mark = sent.length;
    const after = await cachedReport(replica(kept()));
    expect(after).not.toBe(before);
    expect(after).toBe(await fresh());
    expect(usageReadsSince(mark)).toHaveLength(HOUR_RUNS + 1);
    expect(sources).toEqual({ memory: 0, stored: 2, priced: 1 });
    mark = sent.length;
    expect(await cachedReport(replica(kept()))).toBe(after);
    expect(usageReadsSince(mark)).toHaveLength(HOUR_RUNS);
  });

  it('never serves a day kept under other prices, another format version, or with prices its context does not use', async () => {
    const other = pricingSchema.parse(pricingInput('0.072'));
    for (const [ctx, name] of [
      [replica(kept({ prices: other })), 'other prices'],
      [replica(kept({ version: DAY_FORMAT_VERSION + 1 })), 'other version'],
      [{ ...replica(kept()), pricing: other }, 'context prices differ from the kept days\''],
    ] as const) {
      const mark = sent.length;
      const expected = reports(ctx, rangeAttributionOf(ctx, await readAttributionData(store, RANGE)));
      expect(await cachedReport(ctx), name).toBe(expected);
      expect(usageReadsSince(mark), name).toHaveLength(COLD_READS);
    }
  });

  it('prices a day whose kept value does not decode, and says so', async () => {
    problems.length = 0;
    problemKinds.length = 0;
    const mark = sent.length;
    expect(await cachedReport(replica(kept({ decode: () => ({ error: 'damaged' }) })))).toBe(await fresh());
    expect(usageReadsSince(mark)).toHaveLength(COLD_READS);
    expect(problemKinds).toEqual(['unreadable', 'unreadable', 'unreadable']);
    expect(sources).toEqual({ memory: 0, stored: 0, priced: 3 });
    expect(problems[0]).toMatch(/^attribution days \(attribution\): day 2026-10-0\d is stored but unreadable, pricing it instead: damaged$/);
  });

  it('prices a day whose stored row is damaged (not a deflated value), and says so', async () => {
    problems.length = 0;
    // Every wanted day answered with one of the wanted fingerprints and a payload that is base64 but not deflate.
    const rowsFor = (params: Record<string, unknown>) =>
      (params.days as string[]).map((day) => ({ day_text: day, fingerprint: (params.fingerprints as string[])[0]!, payload: Buffer.from('not deflated').toString('base64') }));
    const damaged: Store = {
      ...store,
      query: ((spec) => (spec.query.includes('FROM attribution_days') ? Promise.resolve(rowsFor(spec.params!)) : store.query(spec))) as Store['query'],
    };
    expect(await cachedReport(replica(kept({ on: damaged })))).toBe(await fresh());
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]).toMatch(/^attribution days \(attribution\): day 2026-10-0\d is stored but unreadable, pricing it instead: not a deflated value: /);
  });

  it('still answers exactly when the table can be neither read nor written', async () => {
    problems.length = 0;
    problemKinds.length = 0;
    const failing: Store = {
      ...store,
      query: (spec) => (spec.query.includes('attribution_days') ? Promise.reject(new Error('table is gone')) : store.query(spec)),
      insert: (table, rows) => (table === 'attribution_days' ? Promise.reject(new Error('read-only')) : store.insert(table, rows)),
    };
    expect(await cachedReport(replica(kept({ on: failing })))).toBe(await fresh());
    expect(problems[0]).toBe('attribution days (attribution): reading stored days failed, pricing them instead: table is gone');
    expect(problems.slice(1)).toEqual([
      'attribution days (attribution): keeping day 2026-10-02 failed (it will be priced again next time): read-only',
      'attribution days (attribution): keeping day 2026-10-03 failed (it will be priced again next time): read-only',
      'attribution days (attribution): keeping day 2026-10-04 failed (it will be priced again next time): read-only',
    ]);
    expect(problemKinds).toEqual(['read_failed', 'write_failed', 'write_failed', 'write_failed']);
  });
});

describe('the fingerprint days are kept under', () => {
  it('is what one query per day gives (the form earlier versions stored), though hours are fingerprinted now', async () => {
    const keep: KeptDays<DayAttribution> = {
      days: createPersistedDays({ store, kind: 'attribution', version: DAY_FORMAT_VERSION, codec: { encode: encodeDay, decode: decodeDay } }),
      pricing,
      planOf: () => 'standard',
      key: pricingKeyOf(pricing, {}),
    };
    await attributeRange({ ...context(createAttributionCache(), pricing), planOf: keep.planOf, kept: keep }, RANGE);
    // The day query of the previous version, verbatim but for the range.
    const perDay = await store.query<{ day: string; usage: string; capacity: string }>({
      query: `SELECT day, anyIf(nh, source = 'usage') AS usage, anyIf(nh, source = 'capacity') AS capacity FROM (
                SELECT 'usage' AS source, toString(toDate(hour)) AS day, concat(toString(count()), ' ', toString(sum(cityHash64(tenant_id, instance_id, hour, model, model_variant, requests, input_tokens, output_tokens, cpu_us, gpu_us)))) AS nh
                FROM usage_hourly FINAL GROUP BY day
                UNION ALL
                SELECT 'capacity' AS source, toString(toDate(hour)) AS day, concat(toString(count()), ' ', toString(sum(cityHash64(instance_id, hour, cpu_millicore_ms, memory_byte_ms, memory_used_byte_ms, gpu_model, gpu_ms)))) AS nh
                FROM capacity_hourly FINAL GROUP BY day)
              WHERE day IN ('2026-10-02', '2026-10-03', '2026-10-04')
              GROUP BY day ORDER BY day`,
    });
    expect(perDay).toHaveLength(3);
    const stored = new Set(
      (await store.query<{ k: string }>({ query: `SELECT concat(toString(day), ' ', fingerprint) AS k FROM attribution_days FINAL WHERE kind = 'attribution'` })).map((r) => r.k),
    );
    for (const d of perDay) expect(stored).toContain(`${d.day} v${DAY_FORMAT_VERSION} | prices ${keep.key} | usage ${d.usage} | capacity ${d.capacity}`);
  });
});

describe('attributeRange called twice at once on one cache', () => {
  it('prices each ended piece once: the second call waits for the first instead of reading the month again', async () => {
    const cache = createAttributionCache();
    const usageQuery = attributionUsageQuery({ from: 0, to: 0 }).query;
    // The first call's first usage read is held until released, so the second starts while the
    // first is surely still pricing.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let holdNext = true;
    let reads = 0;
    const base = context(cache);
    const holding: Store = {
      ...base.store,
      queryCompact: async (spec) => {
        if (spec.query === usageQuery) {
          reads += 1;
          if (holdNext) {
            holdNext = false;
            await held;
          }
        }
        return base.store.queryCompact(spec);
      },
    };
    const ctx: CostContext = { ...base, store: holding };
    const first = attributeRange(ctx, RANGE);
    await vi.waitFor(() => expect(reads).toBe(1));
    const second = attributeRange(ctx, RANGE);
    // Let the second call read its fingerprints and reach its wait before the first goes on.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    release();
    const [a, b] = await Promise.all([first, second]);
    const expected = await fresh();
    expect(reports(ctx, a)).toBe(expected);
    expect(reports(ctx, b)).toBe(expected);
    // The first call's reads, and the second's hour in progress (never shared: it depends on the
    // clock). Each pricing every piece itself would be 2 × COLD_READS.
    expect(reads).toBe(COLD_READS + 1);
    expect(piecesInFlightOf(cache).size()).toBe(0);
  });
});

describe('attributeRange when a UTC day ends', () => {
  const dayFour = D0 + 4 * DAY;
  const beforeMidnight = dayFour + 23.5 * H; // day 4's hours 0–22 have ended, hour 23 is in progress
  const afterMidnight = dayFour + DAY + 0.5 * H;
  const at = (now: number, ctx: CostContext): CostContext => ({ ...ctx, now: () => now });
  const freshAt = async (now: number) => {
    const ctx: CostContext = { store, pricing, planOf: () => 'standard', now: () => now };
    return reports(ctx, rangeAttributionOf(ctx, await readAttributionData(store, { from: RANGE.from, to: now })));
  };

  beforeAll(async () => {
    const rows = [];
    for (let h = 11; h < 25; h++) rows.push(usageRow('a', dayFour + h * H, 2_000_000 + h), usageRow('e', dayFour + h * H, 500_000));
    await store.insert('usage_hourly', rows);
  });

  it('assembles the day from its hours in memory, pricing only its last hour, and keeps it in ClickHouse as a day', async () => {
    const keep: KeptDays<DayAttribution> = {
      days: createPersistedDays({ store, kind: 'midnight', version: DAY_FORMAT_VERSION, codec: { encode: encodeDay, decode: decodeDay } }),
      pricing,
      planOf: () => 'standard',
      key: pricingKeyOf(pricing, {}),
    };
    const ctx: CostContext = { ...context(createAttributionCache()), planOf: keep.planOf, kept: keep };
    expect(reports(at(beforeMidnight, ctx), await attributeRange(at(beforeMidnight, ctx), { from: RANGE.from, to: beforeMidnight }))).toBe(await freshAt(beforeMidnight));

    let mark = sent.length;
    const after = reports(at(afterMidnight, ctx), await attributeRange(at(afterMidnight, ctx), { from: RANGE.from, to: afterMidnight }));
    expect(after).toBe(await freshAt(afterMidnight));
    // Day 4's hour 23, and today's hour in progress: day 4 is not read as a whole.
    expect(usageRangesSince(mark)).toEqual(['2026-10-05T23:00:00.000Z – 2026-10-06T00:00:00.000Z', '2026-10-06T00:00:00.000Z – 2026-10-06T01:00:00.000Z']);

    // Another process finds day 4 kept as a day, with the days priced on the way: it prices only
    // the partial first day's hours and the hour in progress.
    mark = sent.length;
    const replica: CostContext = { ...context(createAttributionCache()), planOf: keep.planOf, kept: keep, now: () => afterMidnight };
    expect(reports(replica, await attributeRange(replica, { from: RANGE.from, to: afterMidnight }))).toBe(after);
    expect(usageRangesSince(mark)).toEqual(['2026-10-01T05:00:00.000Z – 2026-10-02T00:00:00.000Z', '2026-10-06T00:00:00.000Z – 2026-10-06T01:00:00.000Z']);
  });
});

describe('attributeRange on an empty range', () => {
  it('gives an empty result (the cost job runs at the first instant of a month too)', async () => {
    const today = D0 + 4 * DAY;
    const a = await attributeRange(context(), { from: today, to: today });
    expect(a.result).toMatchObject({ from: today, to: today, tenants: [], capacityCost: 0n, overheadCost: 0n });
    expect(a.requestsByTenant.size).toBe(0);
  });
});

describe('createDayCache', () => {
  it('keeps at most maxDays, dropping the least recently used', () => {
    const cache = createDayCache<string>(2);
    cache.set(1, 'f', 'one');
    cache.set(2, 'f', 'two');
    expect(cache.get(1, 'f')).toBe('one'); // 1 is now the most recent
    cache.set(3, 'f', 'three');
    expect(cache.size()).toBe(2);
    expect(cache.get(2, 'f')).toBeUndefined();
    expect(cache.get(1, 'f')).toBe('one');
    expect(cache.get(1, 'other fingerprint')).toBeUndefined();
  });
});
