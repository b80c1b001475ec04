import { existsSync } from 'node:fs';
import { join } from 'node:path';
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
    const pending = spool.pending();
    const quarantined = spool.quarantined();
    io.stdout.write(`spool ${join(dataDir, 'spool')}: ${pending.length} batch(es) waiting for ClickHouse\n`);
    for (const [t, n] of countBy(pending.map((p) => p.table))) io.stdout.write(`  ${t}: ${n}\n`);
    io.stdout.write(`quarantine ${spool.quarantineDir}: ${quarantined.length} batch(es)\n`);
    for (const b of quarantined) io.stdout.write(`  ${b.table}  ${b.rows} rows  ${b.file}\n    ${b.reason}\n`);
    if (quarantined.length > 0) io.stdout.write('fix what refused them, then: inferledger spool requeue [--table T]\n');
    // A standalone sidecar exporting by OTLP keeps its span journal apart (see telemetry/tracing.ts).
    const journalDir = join(dataDir, 'otlp-journal');
    const journal = existsSync(journalDir) ? new Spool(journalDir).pending() : [];
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

function countBy(values: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}
