import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { formatJson, formatTable } from '../bench/report.ts';
import { BENCH_CONFIG_FILE } from '../bench/platform.ts';
import { runBench, SUITE_NAMES } from '../bench/runner.ts';
import { removeAllScratchOnExit, removeScratch, scratchDir } from '../bench/scratch.ts';

/**
 * `inferledger bench`: SPEC §10 in one process. Progress goes to stderr; the table (or, with
 * --json, the JSON document) to stdout. Exit 0 when every chosen suite ran or was skipped with a
 * reason, 1 when one failed (an invariant broken or an error), 2 for bad options.
 */

export const BENCH_USAGE = `usage: inferledger bench [--suite name,...] [--json] [--requests N] [--rows N] [--runs N]
                         [--replicas N] [--quota-http] [--data-dir DIR]

suites (default: all): ${SUITE_NAMES.join(', ')}
  --requests N   inference requests per measured series (default 2000; the ingest suite posts 10 x N spans)
  --rows N       synthetic stored requests for the queries suite, raw requests for the rollup
                 suite (default 1000000; try 10000000)
  --runs N       timed runs of each query, p50 reported (default 5; 3 is plenty at 100000000)
  --replicas N   sidecar replicas sharing one quota (default 4)
  --quota-http   quota-accuracy also leases over HTTP from the started platform (real clock)
  --data-dir DIR a scratch directory for the embedded ClickHouse (default: a temporary one,
                 removed afterwards); never an operator's data directory: the bench writes to it`;

export interface BenchIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

interface ParsedBench {
  suites: string[];
  json: boolean;
  requests: number;
  rows: number;
  runs: number;
  replicas: number;
  quotaHttp: boolean;
  dataDir?: string;
}

/** Parses and checks every option at once; returns the problems instead when there are any. */
export function parseBenchArgs(args: string[]): ParsedBench | { problems: string[] } {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      options: {
        suite: { type: 'string' },
        json: { type: 'boolean', default: false },
        requests: { type: 'string', default: '2000' },
        rows: { type: 'string', default: '1000000' },
        runs: { type: 'string', default: '5' },
        replicas: { type: 'string', default: '4' },
        'quota-http': { type: 'boolean', default: false },
        'data-dir': { type: 'string' },
      },
    }));
  } catch (err) {
    return { problems: [(err as Error).message] };
  }
  const problems: string[] = [];
  const suites = values.suite === undefined ? [...SUITE_NAMES] : values.suite.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = suites.filter((s) => !SUITE_NAMES.includes(s));
  if (unknown.length || suites.length === 0) problems.push(`--suite: unknown or empty (${unknown.join(', ')}); choose from ${SUITE_NAMES.join(', ')}`);
  const int = (name: string, raw: string, min: number) => {
    // Decimal digits (and _ separators) only: Number() would also take 0x10 and 1e3.
    const n = /^\d[\d_]*$/.test(raw.trim()) ? Number(raw.trim().replace(/_/g, '')) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min) problems.push(`--${name}: an integer >= ${min} is required, got "${raw}"`);
    return n;
  };
  const parsed: ParsedBench = {
    suites,
    json: values.json === true,
    requests: int('requests', values.requests, 1),
    rows: int('rows', values.rows, 1),
    runs: int('runs', values.runs, 1),
    replicas: int('replicas', values.replicas, 1),
    quotaHttp: values['quota-http'] === true,
    ...(values['data-dir'] === undefined ? {} : { dataDir: resolve(values['data-dir']) }),
  };
  return problems.length ? { problems } : parsed;
}

export async function runBenchCommand(args: string[], io: BenchIo): Promise<number> {
  const parsed = parseBenchArgs(args);
  if ('problems' in parsed) {
    io.stderr.write(`${parsed.problems.join('\n')}\n\n${BENCH_USAGE}\n`);
    return 2;
  }
  if (parsed.dataDir && !isScratchDir(parsed.dataDir)) {
    io.stderr.write(
      `--data-dir ${parsed.dataDir}: not empty and not a directory an earlier bench run made (no ${BENCH_CONFIG_FILE}); the bench writes keys, spans and synthetic billable tenants into it, so give it an empty or new directory, never an operator's data directory\n`,
    );
    return 2;
  }
  const dataDir = parsed.dataDir ?? scratchDir('inferledger-bench-');
  // Interrupted, no `finally` runs: the temporary engines would stay behind.
  const interrupted = (signal: NodeJS.Signals) => {
    removeAllScratchOnExit();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  try {
    const report = await runBench({ ...parsed, dataDir, log: (line) => io.stderr.write(`[bench] ${line}\n`) });
    io.stdout.write(parsed.json ? formatJson(report) : `${formatTable(report.suites)}\n`);
    return report.suites.some((s) => s.status === 'failed') ? 1 : 0;
  } finally {
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
    if (!parsed.dataDir) removeScratch(dataDir);
  }
}

/** A directory the bench may write to: missing, empty, or one an earlier bench run made (its config file is there). */
function isScratchDir(dir: string): boolean {
  if (!existsSync(dir)) return true;
  try {
    return readdirSync(dir).length === 0 || existsSync(join(dir, BENCH_CONFIG_FILE));
  } catch {
    return true; // not a readable directory: the run itself reports what is wrong with it
  }
}
