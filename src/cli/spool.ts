import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { Spool } from '../ingest/spool.ts';

/**
 * `inferledger spool [list | requeue [--table T]]`: the spooled batches ClickHouse refused for
 * their rows and the drain set aside (quarantine), and putting them back once the cause is fixed.
 * Works on the data directory's files alone, so it needs no running process and no store.
 */
export interface SpoolIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export const SPOOL_USAGE = `usage: inferledger spool [list]                  batches waiting, and those in quarantine with the reason
       inferledger spool requeue [--table T]     put quarantined batches back in the spool (in their order)`;

export function runSpoolCommand(args: string[], dataDir: string, io: SpoolIo): number {
  const [sub = 'list', ...rest] = args;
  let table: string | undefined;
  try {
    ({ table } = parseArgs({ args: rest, options: { table: { type: 'string' } }, strict: true }).values);
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n${SPOOL_USAGE}\n`);
    return 2;
  }
  const spool = new Spool(join(dataDir, 'spool'));
  if (sub === 'list' && table === undefined) {
    // A running process's open span journal file is not waiting for anything: it is delivered
    // within a batch interval (found by dogfooding: a healthy burst showed as "1 waiting").
    const [live, pending] = partition(spool.pending(), (p) => writerIsRunning(p.file));
    const quarantined = spool.quarantined();
    io.stdout.write(`spool ${join(dataDir, 'spool')}: ${pending.length} batch(es) waiting for ClickHouse\n`);
    for (const [t, n] of countBy(pending.map((p) => p.table))) io.stdout.write(`  ${t}: ${n}\n`);
    if (live.length > 0) {
      const pids = [...new Set(live.map((p) => pidOf(p.file)))].join(', ');
      io.stdout.write(`  (and ${live.length} file(s) being written by running process ${pids}: its span journal, delivered every batch interval)\n`);
    }
    io.stdout.write(`quarantine ${spool.quarantineDir}: ${quarantined.length} batch(es)\n`);
    for (const b of quarantined) io.stdout.write(`  ${b.table}  ${b.rows} rows  ${b.file}\n    ${b.reason}\n`);
    if (quarantined.length > 0) io.stdout.write('fix what refused them, then: inferledger spool requeue [--table T]\n');
    // A standalone sidecar exporting by OTLP keeps its span journal apart (see telemetry/tracing.ts).
    const journalDir = join(dataDir, 'otlp-journal');
    const journal = existsSync(journalDir) ? new Spool(journalDir).pending().filter((p) => !writerIsRunning(p.file)) : [];
    if (journal.length > 0) io.stdout.write(`OTLP span journal ${journalDir}: ${journal.length} file(s) waiting for export\n`);
    return 0;
  }
  if (sub === 'requeue') {
    // A misspelt table would requeue nothing and say so as if all were well.
    const inQuarantine = [...new Set(spool.quarantined().map((b) => b.table))].sort();
    if (table !== undefined && !inQuarantine.includes(table)) {
      io.stderr.write(`no quarantined batch for table "${table}"; in quarantine: ${inQuarantine.length ? inQuarantine.join(', ') : 'none'}\n`);
      return 1;
    }
    const moved = spool.requeue(table);
    io.stdout.write(`${moved} batch(es) back in the spool${table === undefined ? '' : ` for ${table}`}: the next drain (every 10 s in a running process) replays them\n`);
    return 0;
  }
  const why = sub === 'list' ? '`--table` is for requeue only' : `unknown spool command "${sub}"`;
  io.stderr.write(`${why}\n${SPOOL_USAGE}\n`);
  return 2;
}

/** The pid in a spool file's name (`<ms>-<pid>-<seq>.jsonl`, see Spool). */
function pidOf(file: string): number | undefined {
  const m = /^\d+-(\d+)-\d+\.jsonl$/.exec(basename(file));
  return m ? Number(m[1]) : undefined;
}

/** Whether the process that named this file still runs (not this one: the CLI writes none). */
function writerIsRunning(file: string): boolean {
  const pid = pidOf(file);
  if (pid === undefined || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

function partition<T>(items: readonly T[], test: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (test(item) ? yes : no).push(item);
  return [yes, no];
}

function countBy(values: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}
