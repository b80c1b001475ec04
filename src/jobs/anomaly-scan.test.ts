import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore } from '../../test/support/store.ts';
import { pricingSchema } from '../pricing/price-book.ts';
import type { Store } from '../store/client.ts';
import { attributionUsageQuery } from '../store/queries/costs.ts';
import { pricingKeyOf, type KeptDays } from '../attribution/cost-service.ts';
import { createDayCache } from '../attribution/day-cache.ts';
import { createPersistedDays } from '../attribution/persisted-days.ts';
import { DAY_COSTS_FORMAT_VERSION, decodeDayCosts, encodeDayCosts } from './day-costs-codec.ts';
import { createAnomalyScanner, hourlyCostsOf, type DayCosts, type HourlyCosts } from './anomaly-scan.ts';
import { expectedLatest, fillHours, HOUR_MS, scoreLatest } from './anomaly-series.ts';

const T0 = Date.UTC(2026, 9, 1);
const DAYS = 14;
const LATEST = T0 + DAYS * 24 * HOUR_MS; // the hour that spikes
const pricing = pricingSchema.parse({
  capacity: [{ effective_from: '2026-01-01T00:00:00Z', vcpu_hour: '3600', memory_gib_hour: '0' }],
  plans: { standard: [{ effective_from: '2026-01-01T00:00:00Z', meters: {} }] },
});

const chTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

/** A daily cycle (busy days, quiet nights) with small deterministic noise. */
const normal = (hour: number, i: number) => 100 + 60 * Math.sin((2 * Math.PI * (hour % 24)) / 24) + ((i * 7919) % 11);

describe('anomaly series helpers', () => {
  it('fills missing hours and expects the same hour of previous days', () => {
    const series = fillHours(new Map([[0, 5], [2 * HOUR_MS, 7]]), 0, 3 * HOUR_MS, 0);
    expect(series).toEqual([5, 0, 7]);
    const daily = Array.from({ length: 24 * 8 }, (_, i) => (i % 24 === 23 ? 50 : 10));
    expect(expectedLatest(daily)).toBe(50); // same hour of day, not the overall median
  });

  it('scores a spike at the end far above the same series without it', () => {
    const base = Array.from({ length: 24 * DAYS }, (_, i) => normal(i, i));
    expect(scoreLatest([...base, 900], 0)).toBeGreaterThan(0.7);
    expect(scoreLatest([...base, normal(24 * DAYS, 24 * DAYS)], 0)).toBeLessThan(0.6);
  });
});

// One embedded ClickHouse for the file (chdb holds one data directory per process).
let store: Store;
beforeAll(async () => {
  ({ store } = await openTestStore());
});
afterAll(() => store.close());

describe('anomaly scan (chdb)', () => {
  beforeAll(async () => {
    const rows: object[] = [];
    const capacity: object[] = [];
    for (let i = 0; i <= DAYS * 24; i++) {
      const hour = T0 + i * HOUR_MS;
      const small = Math.round(normal(i, i));
      const large = i === DAYS * 24 ? 800 : 5; // the spike comes from one model
      for (const [model, requests] of [['small', small], ['large', large]] as const) {
        rows.push({
          tenant_id: 'acme', hour: chTime(hour), model, model_variant: model, instance_id: 'i-1', requests, errors: 0,
          rejected: 0, cpu_us: requests * 1000, gpu_us: 0, input_tokens: 0, output_tokens: 0, input_elements: 0,
          output_elements: 0, duration_ns_sum: 0, computed_at: '2026-10-01 00:00:00.000',
        });
      }
      capacity.push({
        instance_id: 'i-1', hour: chTime(hour), window_ms: HOUR_MS, cpu_millicore_ms: String(2000 * HOUR_MS), memory_byte_ms: '0',
        memory_used_byte_ms: '0', gpu_model: '', gpu_ms: '0', cpu_used_us: 0, inference_cpu_us: 0, computed_at: '2026-10-01 00:00:00.000',
      });
    }
    await store.insert('usage_hourly', rows);
    await store.insert('capacity_hourly', capacity);
  });

  it('flags the spiking tenant metric at the latest hour with expected, actual and the model that moved', async () => {
    const scan = createAnomalyScanner({
      costs: { store, pricing, planOf: () => 'standard', now: () => LATEST + HOUR_MS + 600_000 },
      now: () => LATEST + HOUR_MS + 600_000,
      historyDays: DAYS,
    });
    const findings = await scan();
    expect(findings.map((f) => f.metric).sort()).toEqual(['cost_per_hour', 'error_rate', 'gpu_seconds', 'p95_latency', 'requests_per_hour']);
    const requests = findings.find((f) => f.metric === 'requests_per_hour')!;
    expect(requests).toMatchObject({ tenantId: 'acme', at: LATEST });
    expect(requests.score).toBeGreaterThan(0.7);
    expect(requests.actual).toBe(Math.round(normal(DAYS * 24, DAYS * 24)) + 800);
    expect(requests.expected).toBeLessThan(200);
    expect(requests.severity).toBe('critical');
    expect(requests.topContributors[0]).toMatchObject({ dimension: 'model', key: 'large', actual: 800, expected: 5 });

    const cost = findings.find((f) => f.metric === 'cost_per_hour')!;
    expect(cost.actual).toBeGreaterThan(cost.expected * 3);
    expect(findings.find((f) => f.metric === "error_rate")!.score).toBeLessThan(0.5);
    // Cached within the hour: the same objects come back without re-querying.
    expect(await scan()).toBe(findings);
  });

  it('breaks down only the findings at contributorsMinScore: the others carry no contributors', async () => {
    const at = LATEST + HOUR_MS + 600_000;
    const scan = createAnomalyScanner({ costs: { store, pricing, planOf: () => 'standard', now: () => at }, now: () => at, historyDays: DAYS, contributorsMinScore: 0.7 });
    const findings = await scan();
    const requests = findings.find((f) => f.metric === 'requests_per_hour')!;
    expect(requests.score).toBeGreaterThan(0.7);
    expect(requests.topContributors[0]).toMatchObject({ dimension: 'model', key: 'large', actual: 800, expected: 5 });
    const errors = findings.find((f) => f.metric === 'error_rate')!;
    expect(errors.score).toBeLessThan(0.7);
    expect(errors.topContributors).toEqual([]);
    // Scores, expected and actual are those of a scan that breaks everything down.
    const full = await createAnomalyScanner({ costs: { store, pricing, planOf: () => 'standard', now: () => at }, now: () => at, historyDays: DAYS })();
    expect(findings.map(({ topContributors: _, ...f }) => f)).toEqual(full.map(({ topContributors: _, ...f }) => f));
  });

  it('names the contributor that moved: p95 merged per key, errors by share of the tenant rate, a model that dropped to 0', async () => {
    // Tenant "contrib": `big` on i-1 and i-2 (~300 requests, 1 % errors, 90 ms), `tiny` on i-2
    // (2 requests). At the latest hour `big` slows to ~2,000 ms and fails 93 of 282, `tiny` fails
    // 1 of 2, and `gone` (200 requests an hour on i-3 until then) serves nothing.
    const hours = DAYS * 24;
    /** One series of hourly rows (with latency digests around `ms`), its last hour set apart. */
    const series = async (model: string, instance: string, usual: [number, number, number], last: [number, number, number] | null) => {
      await store.command(
        `INSERT INTO usage_hourly (tenant_id, hour, model, model_variant, instance_id, requests, errors, rejected, cpu_us, gpu_us,
           input_tokens, output_tokens, input_elements, output_elements, duration_ns_sum, latency_ms_quantiles, computed_at)
         SELECT 'contrib', toDateTime({t0:UInt32}, 'UTC') + h * 3600, {model:String}, {model:String}, {instance:String},
           if(h = {last:UInt32}, {lr:UInt64}, {ur:UInt64}), if(h = {last:UInt32}, {le:UInt64}, {ue:UInt64}), 0, 0, 0, 0, 0, 0, 0, 0,
           quantilesState(0.5, 0.95, 0.99)(toFloat64(if(h = {last:UInt32}, {lm:Float64}, {um:Float64}) + n % 7)), '2026-10-01 00:00:00.000'
         FROM (SELECT intDiv(number, 20) AS h, number % 20 AS n FROM numbers({rows:UInt64}))
         GROUP BY h`,
        {
          model, instance, t0: T0 / 1000, last: hours, rows: (last ? hours + 1 : hours) * 20,
          ur: usual[0], ue: usual[1], um: usual[2], lr: last?.[0] ?? 0, le: last?.[1] ?? 0, lm: last?.[2] ?? 0,
        },
      );
    };
    await series('big', 'i-1', [150, 1, 90], [141, 46, 2000]);
    await series('big', 'i-2', [150, 2, 90], [141, 47, 2000]);
    await series('tiny', 'i-2', [2, 0, 80], [2, 1, 80]);
    await series('gone', 'i-3', [200, 0, 50], null); // no row at the last hour
    const at = LATEST + HOUR_MS + 600_000;
    const findings = (await createAnomalyScanner({ costs: { store, pricing, planOf: () => 'standard', now: () => at }, now: () => at, historyDays: DAYS })()).filter(
      (f) => f.tenantId === 'contrib',
    );
    const of = (metric: string) => findings.find((f) => f.metric === metric)!.topContributors.map((c) => `${c.dimension}=${c.key}`);
    // Before: `big` spans two rows a hour (two instances) and had no p95; only `tiny` was named.
    expect(of('p95_latency')).toContain('model=big');
    expect(of('p95_latency')).not.toContain('model=tiny');
    // Before: tiny's own rate (0 → 0.5) outranked big's (0.01 → 0.33).
    expect(of('error_rate').slice(0, 2)).toEqual(['model=big', 'variant=big']);
    // Before: only keys of the latest hour were considered, and a drop had no contributor.
    expect(of('requests_per_hour')).toEqual(expect.arrayContaining(['model=gone', 'instance=i-3']));
  });

  it('gives a new tenant a day of warm-up instead of paging on its first traffic', async () => {
    const hour = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
    await store.insert('usage_hourly', [
      {
        tenant_id: 'newbie', hour: hour(LATEST - 3 * HOUR_MS), model: 'small', model_variant: 'small', instance_id: 'i-1', requests: 50,
        errors: 0, rejected: 0, cpu_us: 1, gpu_us: 0, input_tokens: 0, output_tokens: 0, input_elements: 0, output_elements: 0,
        duration_ns_sum: 0, computed_at: '2026-10-01 00:00:00.000',
      },
    ]);
    const scan = createAnomalyScanner({ costs: { store, pricing, planOf: () => 'standard', now: () => LATEST + HOUR_MS }, now: () => LATEST + HOUR_MS, historyDays: DAYS });
    const tenants = new Set((await scan()).map((f) => f.tenantId));
    expect(tenants.has('newbie')).toBe(false);
    expect(tenants.has('acme')).toBe(true);
  });
});

describe('hourly costs, a day at a time with unchanged past days reused (chdb)', () => {
  // Instance i-2: apart from the scan tests' i-1, whose costs these rows must not change.
  const now = T0 + 3 * 24 * HOUR_MS + 5 * HOUR_MS + 600_000; // day 3, 05:10
  const range = { from: T0 + 7 * HOUR_MS, to: T0 + 3 * 24 * HOUR_MS + 5 * HOUR_MS }; // a partial first day, two whole days, today
  // Priced as hours 7–23 of the first day, two days, hours 0–4 of today (all ended by `now`): one
  // read per whole day and per run of consecutive hours.
  const HOURS = 17 + 5;
  const COLD_READS = 2 + 2;
  const row = (tenant: string, hour: number, model: string, cpuUs: number, computedAt = '2026-10-01 00:00:00.000') => ({
    tenant_id: tenant, hour: chTime(hour), model, model_variant: model, instance_id: 'i-2', requests: 1, errors: 0, rejected: 0, cpu_us: cpuUs,
    gpu_us: 0, input_tokens: 0, output_tokens: 0, input_elements: 0, output_elements: 0, duration_ns_sum: 0, computed_at: computedAt,
  });
  beforeAll(async () => {
    const rows: object[] = [];
    const capacity: object[] = [];
    for (let h = 0; h < 3 * 24 + 5; h++) {
      rows.push(row('a', T0 + h * HOUR_MS, 'small', 1000 * (1 + (h % 5))), row('b', T0 + h * HOUR_MS, 'large', 3000));
      capacity.push({
        instance_id: 'i-2', hour: chTime(T0 + h * HOUR_MS), window_ms: HOUR_MS, cpu_millicore_ms: String(2000 * HOUR_MS), memory_byte_ms: '0',
        memory_used_byte_ms: '0', gpu_model: '', gpu_ms: '0', cpu_used_us: 0, inference_cpu_us: 0, computed_at: '2026-10-01 00:00:00.000',
      });
    }
    await store.insert('usage_hourly', rows);
    await store.insert('capacity_hourly', capacity);
  });

  const sent: string[] = [];
  const usageReads = () => sent.filter((q) => q === attributionUsageQuery({ from: 0, to: 0 }).query).length;
  // One plan assignment for every call: cached days are keyed by the prices and plans they used.
  const planOf = () => 'standard';
  /** The hours each usage read covered, in order ("day 2 23–24"), as the scan asked for them. */
  const usageSpans: string[] = [];
  const spanText = (params: unknown) => {
    const { from, to } = params as { from: number; to: number };
    const day = Math.floor((from - T0) / (24 * HOUR_MS));
    return `day ${day} ${(from - T0) / HOUR_MS - 24 * day}–${(to - T0) / HOUR_MS - 24 * day}`;
  };
  const counting = (): Store => ({
    ...store,
    query: (spec) => (sent.push(spec.query), store.query(spec)),
    queryCompact: (spec) => {
      sent.push(spec.query);
      if (spec.query === attributionUsageQuery({ from: 0, to: 0 }).query) usageSpans.push(spanText(spec.params));
      return store.queryCompact(spec);
    },
  });
  const ctx = () => ({ store: counting(), pricing, planOf, now: () => now });
  const snapshot = (c: HourlyCosts) => ({
    a: [...c.total('a')].sort(([x], [y]) => x - y),
    b: [...c.total('b')].sort(([x], [y]) => x - y),
    aSmall: [...c.byKey('a', 'model', 'small')].sort(([x], [y]) => x - y),
    bInstance: [...c.byKey('b', 'instance', 'i-2')].sort(([x], [y]) => x - y),
  });
  const fresh = async () => snapshot(await hourlyCostsOf({ store, pricing, planOf: () => 'standard', now: () => now }, range, now, createDayCache<DayCosts>(60)));

  it('equals pricing every hour afresh, and prices nothing again while the rows are the same', async () => {
    const cache = createDayCache<DayCosts>(60);
    let before = usageReads();
    const first = snapshot(await hourlyCostsOf(ctx(), range, now, cache));
    expect(usageReads() - before).toBe(COLD_READS);
    expect(first).toEqual(await fresh());
    expect(first.a.length).toBeGreaterThan(60);
    expect(cache.size()).toBe(2 + HOURS);
    before = usageReads();
    expect(snapshot(await hourlyCostsOf(ctx(), range, now, cache))).toEqual(first);
    expect(usageReads() - before).toBe(0);

    // A recomputed hour of a cached day: that day is priced again, and the numbers follow.
    const changedHour = T0 + 24 * HOUR_MS + 10 * HOUR_MS;
    await store.insert('usage_hourly', [row('a', changedHour, 'small', 250_000, '2026-10-02 00:00:00.000')]);
    const mark = usageReads();
    const after = snapshot(await hourlyCostsOf(ctx(), range, now, cache));
    expect(usageReads() - mark).toBe(1);
    expect(after).toEqual(await fresh());
    expect(after.a.find(([h]) => h === changedHour)![1]).toBeGreaterThan(first.a.find(([h]) => h === changedHour)![1]);
  });

  it('assembles a day that has just ended from its hours in memory: only its last hour is priced', async () => {
    const cache = createDayCache<DayCosts>(60);
    const dayTwoEnd = T0 + 3 * 24 * HOUR_MS;
    // The last call before midnight: day 2's hours 0–22 have ended, hour 23 is in progress.
    await hourlyCostsOf(ctx(), { from: range.from, to: dayTwoEnd }, dayTwoEnd - 1_800_000, cache);
    const mark = usageSpans.length;
    const after = snapshot(await hourlyCostsOf(ctx(), range, now, cache));
    // Day 2's hour 23, and today's hours: no read of day 2 as a whole.
    expect(usageSpans.slice(mark)).toEqual(['day 2 23–24', 'day 3 0–5']);
    expect(after).toEqual(await fresh());
    // The assembled day is kept in memory as a day: asked again, nothing is read.
    const again = usageReads();
    expect(snapshot(await hourlyCostsOf(ctx(), range, now, cache))).toEqual(after);
    expect(usageReads() - again).toBe(0);
  });

  it('reads past days back from attribution_days after a restart: the same costs, only the partial days\' hours priced', async () => {
    const problems: string[] = [];
    const kept = (): KeptDays<DayCosts> => ({
      days: createPersistedDays({ store, kind: 'anomaly-costs', version: DAY_COSTS_FORMAT_VERSION, codec: { encode: encodeDayCosts, decode: decodeDayCosts }, onProblem: (m) => problems.push(m) }),
      pricing,
      planOf,
      key: pricingKeyOf(pricing, {}),
    });
    const expected = await fresh();
    let mark = usageReads();
    expect(snapshot(await hourlyCostsOf(ctx(), range, now, createDayCache<DayCosts>(60), kept()))).toEqual(expected);
    expect(usageReads() - mark).toBe(COLD_READS);
    mark = usageReads();
    // A new process: empty memory cache, the days ClickHouse kept.
    expect(snapshot(await hourlyCostsOf(ctx(), range, now, createDayCache<DayCosts>(60), kept()))).toEqual(expected);
    expect(usageReads() - mark).toBe(2);
    expect(problems).toEqual([]);
  });
});
