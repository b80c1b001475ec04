import { fairSharingSuite } from './fair-sharing.ts';
import { ingestSuite } from './ingest.ts';
import { currentCommit, machineInfo } from './machine.ts';
import { memorySuite } from './memory.ts';
import { noisyFloodSuite } from './noisy-flood.ts';
import { startBenchPlatform, type BenchPlatform } from './platform.ts';
import { QUOTA_LIMIT, quotaAccuracySuite } from './quota-accuracy.ts';
import { queriesSuite } from './queries.ts';
import { rollupSuite } from './rollup.ts';
import { sidecarOverheadSuite } from './sidecar-overhead.ts';
import { spanJournalSuite } from './span-journal.ts';
import { standaloneSuite } from './standalone.ts';
import type { BenchOptions, Suite, SuiteContext } from './suite.ts';
import type { BenchReport, SuiteResult } from './types.ts';

/**
 * Runs the chosen suites one after another in this process, in a fixed order: memory first (its
 * "idle" must come before any load), standalone (its own child processes) next, the pure
 * in-memory suites next, and the store-loading
 * suites last: queries, then rollup (whose rows the rollup job must not mix into the queries
 * suite's month). Suites that need the product share one started platform on one data
 * directory (chdb: one per process). A suite that throws is reported as failed; the rest still run.
 */

export const SUITES: readonly Suite[] = [memorySuite, standaloneSuite, sidecarOverheadSuite, spanJournalSuite, ingestSuite, quotaAccuracySuite, fairSharingSuite, noisyFloodSuite, queriesSuite, rollupSuite];
export const SUITE_NAMES = SUITES.map((s) => s.name);

export interface RunOptions extends BenchOptions {
  suites: readonly string[];
  dataDir: string;
  log: (line: string) => void;
  now?: () => Date;
}

export async function runBench(opts: RunOptions): Promise<BenchReport> {
  const startedAt = (opts.now ?? (() => new Date()))();
  let started: Promise<BenchPlatform> | undefined;
  const ctx: SuiteContext = {
    options: { requests: opts.requests, rows: opts.rows, runs: opts.runs, replicas: opts.replicas, quotaHttp: opts.quotaHttp },
    progress: opts.log,
    platform() {
      if (!started) {
        opts.log(`starting the platform (embedded ClickHouse in ${opts.dataDir})`);
        started = startBenchPlatform({ dataDir: opts.dataDir, quotaLimitPerMinute: QUOTA_LIMIT, log: () => {} });
      }
      return started;
    },
  };
  const results: SuiteResult[] = [];
  try {
    for (const suite of SUITES.filter((s) => opts.suites.includes(s.name))) {
      opts.log(`suite ${suite.name}: ${suite.description}`);
      const t0 = performance.now();
      try {
        const outcome = await suite.run(ctx);
        results.push({ name: suite.name, ...outcome, durationS: (performance.now() - t0) / 1000 });
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        opts.log(`suite ${suite.name} failed: ${reason}`);
        results.push({ name: suite.name, status: 'failed', reason, params: {}, metrics: [], durationS: (performance.now() - t0) / 1000 });
      }
    }
  } finally {
    if (started) await (await started.catch(() => undefined))?.close();
  }
  return {
    machine: machineInfo(),
    started_at: startedAt.toISOString(),
    commit: currentCommit(),
    options: { suites: opts.suites.join(','), requests: opts.requests, rows: opts.rows, runs: opts.runs, replicas: opts.replicas, quota_http: opts.quotaHttp },
    suites: results,
  };
}
