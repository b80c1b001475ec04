import { refreshRollups } from '../jobs/rollup.ts';
import {
  dropRollupCommands,
  expectedStatusCounts,
  rawRequestsInsert,
  recomputeSelectOnly,
  rolledUpTotalsQuery,
  rollupLayout,
} from './rollup-data.ts';
import { metric } from './report.ts';
import { perSecond } from './stats.ts';
import type { Suite } from './suite.ts';
import type { SuiteOutcome } from './types.ts';

/**
 * The path the queries suite skips: raw requests (what `requests_mv` makes of ingested spans)
 * through the product's rollup job into `usage_hourly`. `--rows` raw requests over yesterday's
 * 24 hours, then one `refreshRollups` as the scheduled job runs it (dirty hours since the
 * watermark, then each hour recomputed from `requests FINAL`). Baseline: the recompute's SELECT
 * alone, its rows counted in the engine (no write). The result is checked: every request counted
 * once, rejected and error requests too; a miss fails the suite.
 */
export const rollupSuite: Suite = {
  name: 'rollup',
  description: 'raw requests through the rollup job into usage_hourly (the path the queries suite loads directly)',
  async run(ctx): Promise<SuiteOutcome> {
    const bench = await ctx.platform();
    const store = bench.platform.store;
    const layout = rollupLayout(ctx.options.rows, Date.now());
    const params = { requests: layout.requests, tenants: layout.tenants, hours: 24, expected_rows: layout.expectedRows };
    ctx.progress(`rollup: inserting ${layout.requests.toLocaleString('en-US')} raw requests (${layout.tenants} tenants, yesterday's 24 hours)`);
    for (const c of dropRollupCommands(layout)) await store.command(c.query, c.params);
    try {
      // Inside the try: an insert that fails part-way leaves no rows behind either.
      const t0 = performance.now();
      const insert = rawRequestsInsert(layout);
      await store.command(insert.query, insert.params);
      const insertMs = performance.now() - t0;
      ctx.progress('rollup: refreshRollups (the scheduled job), then the same SELECT alone');
      const t1 = performance.now();
      const rolled = await refreshRollups(store, { rawTtlDays: bench.config.clickhouse.raw_ttl_days });
      const rollupMs = performance.now() - t1;
      const t2 = performance.now();
      await store.query(recomputeSelectOnly(layout));
      const selectMs = performance.now() - t2;

      const [totals] = await store.query<{ row_count: string; request_count: string; rejected_count: string; error_count: string }>(rolledUpTotalsQuery(layout));
      const expected = expectedStatusCounts(layout.requests);
      const got = { rows: Number(totals?.row_count), requests: Number(totals?.request_count), rejected: Number(totals?.rejected_count), errors: Number(totals?.error_count) };
      const want = { rows: layout.expectedRows, requests: layout.requests, ...expected };
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        return { status: 'failed', reason: `rolled up ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`, params, metrics: [] };
      }
      return {
        status: 'ok',
        params: { ...params, usage_hours_recomputed: rolled.usageHours },
        metrics: [
          metric('load: raw requests written per second (INSERT ... SELECT in the engine)', perSecond(layout.requests, insertMs), 'rows/s'),
          metric('usage_hourly rows made by the rollup', got.rows, 'rows'),
          metric('rollup: raw requests rolled up per second, refreshRollups (baseline: the SELECT alone)', perSecond(layout.requests, rollupMs), 'rows/s', perSecond(layout.requests, selectMs)),
          metric('rollup: refreshRollups over the day (baseline: the SELECT alone)', rollupMs, 'ms', selectMs),
        ],
      };
    } finally {
      for (const c of dropRollupCommands(layout)) await store.command(c.query, c.params);
    }
  },
};
