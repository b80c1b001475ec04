import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { attributionReport, tenantCostReport } from '../attribution/cost-reports.ts';
import { attributeRange, type CostContext } from '../attribution/cost-service.ts';
import { createAttributionCache, type AttributionCache } from '../attribution/day-cache.ts';
import { billingServices } from '../main.ts';
import { getStatement } from '../statements/statement-service.ts';
import { capacityHoursQuery, usageHoursQuery } from '../store/queries/costs.ts';
import type { Store } from '../store/client.ts';
import { timeSequential } from './load.ts';
import {
  capacityRowsInsert,
  dropSyntheticCommands,
  engineOnly,
  foreignUsageQuery,
  loadedTotalsQuery,
  previousMonth,
  syntheticLayout,
  syntheticTenant,
  usageRowsInsert,
} from './queries-data.ts';
import { metric } from './report.ts';
import { percentile, perSecond } from './stats.ts';
import type { Suite } from './suite.ts';
import type { SuiteOutcome } from './types.ts';

/**
 * SPEC §10 statement and attribution latency: N synthetic requests loaded into the rollups of the
 * started platform's store (last month, so the platform's own jobs, which look at this month,
 * leave them alone), then the exact service calls behind GET /v1/tenants/{t}/statements/{month}
 * and GET /v1/attribution?from&to for that month, timed without HTTP. The statement is computed
 * as an open month (its context's clock is inside the month): a closed month would be issued
 * once and then served from storage, which is not what this measures. Baseline: the engine alone
 * running the same SELECTs with the rows counted in the engine (no transfer, parsing or pricing).
 */

const gib = (bytes: number) => (bytes / 2 ** 30).toFixed(1);

async function timeP50(runs: number, fn: () => Promise<unknown>): Promise<number | null> {
  return percentile(await timeSequential(runs, 1, fn), 50);
}

/** p50 of `timed(state)` over `runs` runs, each after an untimed `prepare()`. */
async function timePreparedP50<S>(runs: number, prepare: () => Promise<S>, timed: (state: S) => Promise<unknown>): Promise<number | null> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const state = await prepare();
    const t0 = performance.now();
    await timed(state);
    out.push(performance.now() - t0);
  }
  return percentile(out, 50);
}

async function countRows(store: Store, spec: { query: string; params: Record<string, unknown> }): Promise<number> {
  const [row] = await store.query<{ n: string }>(engineOnly(spec));
  return Number(row?.n ?? 0);
}

/**
 * Attribution keeps the month's usage rows in compact columns (~60 bytes a row) and one day's
 * parsed rows at a time; 200 bytes a row leaves room for the engine's per-day results. (Before it
 * read the month a day at a time, ~1 KB a row ran a 4 GiB heap out at 100M requests.) Past this
 * estimate the measurement is left out with the reason instead of crashing the run.
 */
const ATTRIBUTION_HEAP_BYTES_PER_ROW = 200;

const DAY_MS = 86_400_000;
const HALF_HOUR_MS = 1_800_000;

type Month = ReturnType<typeof previousMonth>;
type Layout = ReturnType<typeof syntheticLayout>;

/** Loads the month's synthetic rollups; a reason instead when the directory is not a scratch one. */
async function loadSynthetic(store: Store, month: Month, layout: Layout): Promise<{ loadMs: number } | { refused: string }> {
  const range = { from: month.start, to: month.end };
  // Never mix synthetic tenants into real usage: a --data-dir must be a scratch directory.
  const [foreign] = await store.query<{ n: string }>(foreignUsageQuery(range));
  if (Number(foreign?.n ?? 0) > 0) return { refused: `the data directory holds real usage for ${month.period}: use an empty --data-dir` };
  for (const c of dropSyntheticCommands(range)) await store.command(c.query, c.params);
  const t0 = performance.now();
  for (const q of [usageRowsInsert(layout, month.start), capacityRowsInsert(layout, month.start)]) await store.command(q.query, q.params);
  const loadMs = performance.now() - t0;
  const [loaded] = await store.query<{ rows: string; requests: string }>(loadedTotalsQuery(range));
  if (Number(loaded?.rows) !== layout.usageRows || Number(loaded?.requests) !== layout.requests) {
    return { refused: `loaded ${layout.usageRows} rows carrying ${layout.requests} requests, the month holds ${loaded?.rows} rows carrying ${loaded?.requests}` };
  }
  return { loadMs };
}

export const queriesSuite: Suite = {
  name: 'queries',
  description: 'month statement for one tenant and attribution for a month over N synthetic requests in the rollups',
  async run(ctx): Promise<SuiteOutcome> {
    const bench = await ctx.platform();
    const store = bench.platform.store;
    const runs = ctx.options.runs;
    const month = previousMonth(Date.now());
    const layout = syntheticLayout(ctx.options.rows, month.start, month.end);
    ctx.progress(`queries: loading ${layout.requests.toLocaleString('en-US')} requests as ${layout.usageRows.toLocaleString('en-US')} usage_hourly rows (${layout.tenants} tenants, ${month.period})`);
    const load = await loadSynthetic(store, month, layout);
    if ('refused' in load) return { status: 'failed', reason: load.refused, params: { requests: layout.requests }, metrics: [] };

    const billing = billingServices(bench.config, store);
    const inMonth = () => month.end - 1;
    const range = { from: month.start, to: month.end };
    const tenant = syntheticTenant(0);
    const tenantRows = usageHoursQuery(range, tenant);
    const allRows = usageHoursQuery(range);

    ctx.progress(`queries: statement ${tenant}/${month.period}, ${runs} runs`);
    let lines = 0;
    const statementMs = await timeP50(runs, async () => {
      const { statement } = await getStatement({ ...billing.statements, now: inMonth }, tenant, month.period);
      lines = statement.lines.length;
    });
    const statementEngineMs = await timeP50(runs, () => store.query(engineOnly(tenantRows)));

    ctx.progress(`queries: statement p50 ${statementMs?.toFixed(1)} ms (engine alone ${statementEngineMs?.toFixed(1)} ms)`);

    const attributionEngineMs = await timeP50(runs, () => Promise.all([store.query(engineOnly(allRows)), store.query(engineOnly(capacityHoursQuery(range)))]));
    const heapLimit = getHeapStatistics().heap_size_limit;
    const heapNeeded = layout.usageRows * ATTRIBUTION_HEAP_BYTES_PER_ROW;
    let tenantsOut = 0;
    let attributionMs: number | null = null;
    let attributionWarmMs: number | null = null;
    let attributionKeptMs: number | null = null;
    let attributionStallMs: number | null = null;
    let attributionMidnightMs: number | null = null;
    let attributionTwoAtOnceMs: number | null = null;
    let attributionOneColdCachedMs: number | null = null;
    let attributionMidnightWholeMs: number | null = null;
    let tenantCostsMs: number | null = null;
    let tenantCostsWarmMs: number | null = null;
    let skipped: string | undefined;
    if (heapNeeded > heapLimit) {
      skipped = `attribution not run: ${layout.usageRows.toLocaleString('en-US')} rows need about ${gib(heapNeeded)} GiB of JS heap, the limit is ${gib(heapLimit)} GiB (NODE_OPTIONS=--max-old-space-size=MiB raises it)`;
      ctx.progress(`queries: ${skipped}`);
    } else {
      ctx.progress(`queries: attribution ${month.period}, ${runs} runs without the day cache`);
      // Cold: every day read and priced, as on the first request or after the rollups changed.
      const cold = { ...billing.costs, now: inMonth, cache: undefined, kept: undefined };
      // The API, the quota authority and the jobs share the event loop that prices: how long it
      // is held at a time is what sidecars leasing quota and API clients feel meanwhile.
      const loopDelay = monitorEventLoopDelay({ resolution: 5 });
      loopDelay.enable();
      attributionMs = await timeP50(runs, async () => {
        const report = attributionReport(cold, await attributeRange(cold, range));
        tenantsOut = report.tenants.length;
        JSON.stringify(report);
      });
      loopDelay.disable();
      attributionStallMs = loopDelay.max / 1e6;
      ctx.progress(`queries: attribution p50 ${attributionMs?.toFixed(1)} ms (engine alone ${attributionEngineMs?.toFixed(1)} ms); ${runs} runs with the day cache`);
      // Warm: the month's days are cached and unchanged (what the 5-minute cost job and repeated
      // requests see); what remains is the fingerprint query, the merge and the JSON.
      const warm = { ...billing.costs, now: inMonth, cache: createAttributionCache() };
      await attributeRange(warm, range);
      attributionWarmMs = await timeP50(runs, async () => JSON.stringify(attributionReport(warm, await attributeRange(warm, range))));
      // After a restart, or on another API replica: nothing in memory, every past day of the
      // month read back from attribution_days (kept by the warm runs' first call).
      ctx.progress(`queries: attribution ${month.period}, ${runs} runs as a restarted process (days kept in ClickHouse)`);
      attributionKeptMs = await timeP50(runs, async () => {
        const restarted = { ...billing.costs, now: inMonth, cache: createAttributionCache() };
        JSON.stringify(attributionReport(restarted, await attributeRange(restarted, range)));
      });
      // Just after UTC midnight the month's last day has ended. A process that priced it hour by
      // hour until then assembles it from those hours (its last hour priced); before, it was
      // read and priced whole. Both start from the past days in memory (read back from
      // attribution_days, untimed); the timed call does not consult attribution_days.
      ctx.progress(`queries: attribution ${month.period} just after midnight, ${runs} runs each: the ended day assembled from its hours, and priced whole`);
      const lastDayStart = month.end - DAY_MS;
      const beforeMidnight = () => month.end - HALF_HOUR_MS;
      /** A cache holding the month's past days, and the last day's ended hours if `until` reaches into it. */
      const primed = (until: number) => async () => {
        const cache = createAttributionCache();
        await attributeRange({ ...billing.costs, now: beforeMidnight, cache }, { from: range.from, to: until });
        return cache;
      };
      const afterMidnight = async (cache: AttributionCache) => {
        const next = { ...billing.costs, kept: undefined, now: () => month.end + HALF_HOUR_MS, cache };
        JSON.stringify(attributionReport(next, await attributeRange(next, range)));
      };
      attributionMidnightMs = await timePreparedP50(runs, primed(month.end), afterMidnight);
      attributionMidnightWholeMs = await timePreparedP50(runs, primed(lastDayStart), afterMidnight);
      // Two calls at once on one cold cache (the cost gauge's refresh and an API request, say):
      // the second waits for the pieces the first is pricing instead of pricing them again.
      ctx.progress(`queries: attribution ${month.period}, ${runs} runs of two calls at once on a cold cache, and of one`);
      const coldCached = () => ({ ...billing.costs, kept: undefined, now: inMonth, cache: createAttributionCache() });
      attributionTwoAtOnceMs = await timeP50(runs, async () => {
        const c = coldCached();
        await Promise.all([attributeRange(c, range), attributeRange(c, range)]);
      });
      attributionOneColdCachedMs = await timeP50(runs, () => attributeRange(coldCached(), range));
      // GET /v1/tenants/{t}/costs for the month in daily steps: the same day cache serves it.
      ctx.progress(`queries: tenant costs ${tenant}/${month.period}, ${runs} runs without and with the day cache`);
      const tenantCosts = (c: CostContext) => async () => JSON.stringify(tenantCostReport(c, await attributeRange(c, range), tenant, 86_400));
      tenantCostsMs = await timeP50(runs, tenantCosts(cold));
      tenantCostsWarmMs = await timeP50(runs, tenantCosts(warm));
    }

    const { usageRows, capacityRows, tenants, requests } = layout;
    return {
      status: 'ok',
      ...(skipped ? { reason: skipped } : {}),
      params: { requests, usage_rows: usageRows, capacity_rows: capacityRows, tenants, period: month.period, runs, statement_lines: lines, attribution_tenants: tenantsOut },
      metrics: [
        metric('load: usage_hourly rows written per second (INSERT ... SELECT in the engine)', perSecond(usageRows, load.loadMs), 'rows/s'),
        metric('statement rows read (one tenant, one month)', await countRows(store, tenantRows), 'rows'),
        metric('statement p50, getStatement (baseline: engine-only SELECT)', statementMs, 'ms', statementEngineMs),
        metric('attribution rows read (all tenants, one month)', await countRows(store, allRows), 'rows'),
        metric('attribution p50, read + attributionReport + JSON (baseline: engine-only SELECTs)', attributionMs, 'ms', attributionEngineMs),
        metric('attribution p50, month cached by day, unchanged (baseline: uncached)', attributionWarmMs, 'ms', attributionMs),
        metric('attribution p50 after a restart, past days read back from attribution_days (baseline: uncached)', attributionKeptMs, 'ms', attributionMs),
        metric('attribution: longest event-loop stall while cold months are priced (baseline: attribution p50)', attributionStallMs, 'ms', attributionMs),
        metric('attribution p50, two calls at once on a cold cache, each ended day priced once (baseline: one call)', attributionTwoAtOnceMs, 'ms', attributionOneColdCachedMs),
        metric('attribution p50 just after UTC midnight, the ended day assembled from its hours (baseline: that day priced whole)', attributionMidnightMs, 'ms', attributionMidnightWholeMs),
        metric('tenant costs p50, one tenant, month in daily steps, cached by day (baseline: uncached)', tenantCostsWarmMs, 'ms', tenantCostsMs),
      ],
    };
  },
};
