import { refreshRollups } from '../jobs/rollup.ts';
import {
  dropRollupCommands,
  expectedStatusCounts,
  rawRequestsInsert,
  rawSpansInsert,
  recomputeSelectOnly,
  rolledUpTotalsQuery,
  rollupLayout,
} from './rollup-data.ts';
import { timeOnce } from './load.ts';
import { metric } from './report.ts';
import { perSecond } from './stats.ts';
import type { Suite } from './suite.ts';
import type { SuiteOutcome } from './types.ts';

/**
 * The path the queries suite skips: the sidecar's spans through `requests_mv` into `requests`,
 * then the product's rollup job into `usage_hourly`. `--rows` requests over yesterday's 24 hours
 * as SERVER spans inserted into `otel_traces` (the view fires in the same insert), then one
 * `refreshRollups` as the scheduled job runs it (dirty hours since the watermark, then each hour
 * recomputed from `requests FINAL`). Baselines: for the load, the same requests written straight
 * into `requests` (what the view costs); for the rollup, the recompute's SELECT alone, its rows
 * counted in the engine (no write). The result is checked: every span became one request and was
 * counted once, rejected and error requests too; a miss fails the suite. The platform's scheduled
 * jobs are paused meanwhile, so its own rollup job does not run the same work alongside.
 */
export const rollupSuite: Suite = {
  name: 'rollup',
  description: 'spans through requests_mv and the rollup job into usage_hourly (the path the queries suite loads directly)',
  async run(ctx): Promise<SuiteOutcome> {
    const bench = await ctx.platform();
    const store = bench.platform.store;
    const layout = rollupLayout(ctx.options.rows, Date.now());
    const params = { requests: layout.requests, tenants: layout.tenants, hours: 24, expected_rows: layout.expectedRows };
    const drop = async () => {
      for (const c of dropRollupCommands(layout)) await store.command(c.query, c.params);
    };
    // The platform's own 30-second rollup job would recompute the same hours alongside the run
    // being measured (on the same cores): paused for the suite, resumed after.
    await bench.platform.pauseJobs();
    ctx.progress(`rollup: inserting ${layout.requests.toLocaleString('en-US')} spans into otel_traces (requests_mv fills requests; ${layout.tenants} tenants, yesterday's 24 hours)`);
    await drop();
    try {
      // Inside the try: an insert that fails part-way leaves no rows behind either.
      const spans = rawSpansInsert(layout);
      const spansMs = await timeOnce(() => store.command(spans.query, spans.params));
      ctx.progress('rollup: refreshRollups (the scheduled job), then the same SELECT alone');
      let rolled: Awaited<ReturnType<typeof refreshRollups>> | undefined;
      const rollupMs = await timeOnce(async () => {
        rolled = await refreshRollups(store, { rawTtlDays: bench.config.clickhouse.raw_ttl_days });
      });
      const selectMs = await timeOnce(() => store.query(recomputeSelectOnly(layout)));

      const [totals] = await store.query<{ row_count: string; request_count: string; rejected_count: string; error_count: string }>(rolledUpTotalsQuery(layout));
      const expected = expectedStatusCounts(layout.requests);
      const got = { rows: Number(totals?.row_count), requests: Number(totals?.request_count), rejected: Number(totals?.rejected_count), errors: Number(totals?.error_count) };
      const want = { rows: layout.expectedRows, requests: layout.requests, ...expected };
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        return { status: 'failed', reason: `rolled up ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`, params, metrics: [] };
      }
      // The load's baseline: the same requests written straight into requests (no spans, no view).
      ctx.progress('rollup: the same requests written straight into requests (the load\'s baseline)');
      await drop();
      const requests = rawRequestsInsert(layout);
      const requestsMs = await timeOnce(() => store.command(requests.query, requests.params));
      return {
        status: 'ok',
        params: { ...params, usage_hours_recomputed: rolled?.usageHours ?? 0 },
        metrics: [
          metric('load: spans into otel_traces, requests_mv making requests, per second (baseline: requests written directly)', perSecond(layout.requests, spansMs), 'rows/s', perSecond(layout.requests, requestsMs)),
          metric('usage_hourly rows made by the rollup', got.rows, 'rows'),
          metric('rollup: requests rolled up per second, refreshRollups (baseline: the SELECT alone)', perSecond(layout.requests, rollupMs), 'rows/s', perSecond(layout.requests, selectMs)),
          metric('rollup: refreshRollups over the day (baseline: the SELECT alone)', rollupMs, 'ms', selectMs),
        ],
      };
    } finally {
      await drop();
      await bench.platform.resumeJobs();
    }
  },
};
