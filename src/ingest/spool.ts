import { closeSync, constants, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A disk spool for rows the store could not take (ClickHouse down, timeouts). Accepted data is
 * never dropped: each batch is written as one JSON-lines file (write to a temp name, fsync,
 * rename: a crash leaves either the whole file or none) and replayed oldest first. A crash between
 * a successful replay and the unlink replays the batch again; the tables deduplicate by span id,
 * so that can never count twice.
 */
/** A spool file being appended to by its writer (see `Spool.openHeld`). */
export interface HeldFile {
  readonly file: string;
  /** Resolves once the rows are on disk (O_DSYNC write). */
  append(rows: readonly object[]): Promise<void>;
  close(): Promise<void>;
}

export class Spool {
  private seq = 0;
  /** Files their writer is still handling (a span journal's batches): not for the drain yet. */
  private readonly held = new Set<string>();
  /** Tables whose replay is failing now, with the last reason (reported once per streak). */
  private readonly failing = new Map<string, string>();

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /** Writes one batch durably; returns its file. */
  append(table: string, rows: readonly object[]): string | undefined {
    if (rows.length === 0) return undefined;
    const { tmp, file } = this.names(table);
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, linesOf(rows));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    return file;
  }

  /**
   * A held file that batches are appended to (one O_DSYNC write per batch, not a new file per
   * batch), for a writer that needs each batch durable before it answers. The drain
   * leaves it alone until it is `release`d (or the process dies, after which it is an ordinary
   * spooled file; a line torn by the crash was never acknowledged and is skipped on replay).
   */
  async openHeld(table: string): Promise<HeldFile> {
    const { file } = this.names(table);
    this.held.add(file);
    // O_DSYNC: each write returns once its data is on disk, in one call instead of write + fdatasync.
    const handle = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC, 0o644);
    return {
      file,
      async append(rows) {
        await handle.write(linesOf(rows));
      },
      close: () => handle.close(),
    };
  }

  /** Hands a held file to the drain: it is replayed like any spooled batch. */
  release(file: string): void {
    this.held.delete(file);
  }

  /** Deletes a held file whose rows are stored. */
  remove(file: string): void {
    this.held.delete(file);
    try {
      unlinkSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  /** Spooled batches per table, oldest first (held files excluded). */
  pending(): Array<{ table: string; file: string }> {
    const out: Array<{ table: string; file: string }> = [];
    for (const table of safeReaddir(this.dir).sort()) {
      for (const file of safeReaddir(join(this.dir, table)).filter((f) => f.endsWith('.jsonl')).sort()) {
        const path = join(this.dir, table, file);
        if (!this.held.has(path)) out.push({ table, file: path });
      }
    }
    return out;
  }

  private names(table: string): { tmp: string; file: string } {
    const tableDir = join(this.dir, table);
    mkdirSync(tableDir, { recursive: true });
    const name = `${String(Date.now()).padStart(15, '0')}-${process.pid}-${String(this.seq++).padStart(6, '0')}.jsonl`;
    return { tmp: join(tableDir, `.${name}.tmp`), file: join(tableDir, name) };
  }

  /**
   * Replays spooled batches through `insert`, oldest first per table. A failure stops that
   * table's replay until the next drain (so its order is kept), not the other tables': one table
   * the store refuses (a batch it cannot take, a table it lacks) must not hold every other
   * table's billing data back. `onError` hears of a table's failure once per streak and reason,
   * not on every drain. Returns how many batches were written.
   */
  async drain(insert: (table: string, rows: object[]) => Promise<void>, onError?: (table: string, err: unknown) => void): Promise<number> {
    let drained = 0;
    const stopped = new Set<string>();
    for (const { table, file } of this.pending()) {
      if (stopped.has(table)) continue;
      const rows = parseLines(readFileSync(file, 'utf8'));
      try {
        if (rows.length > 0) await insert(table, rows);
      } catch (err) {
        stopped.add(table);
        const reason = (err as Error)?.message ?? String(err);
        if (this.failing.get(table) !== reason) onError?.(table, err);
        this.failing.set(table, reason);
        continue;
      }
      this.failing.delete(table);
      unlinkSync(file);
      drained++;
    }
    return drained;
  }
}

const linesOf = (rows: readonly object[]): string => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

/**
 * The rows of a spool file. A line that does not parse can only be the last one of a file whose
 * writer died mid-append (every acknowledged batch ended with a newline and an fdatasync): it
 * was never acknowledged, so it is skipped rather than blocking the spool forever.
 */
export function parseLines(text: string): object[] {
  const rows: object[] = [];
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    try {
      rows.push(JSON.parse(line) as object);
    } catch {
      // torn by a crash: see above
    }
  }
  return rows;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
