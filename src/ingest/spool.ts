import { closeSync, constants, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, join } from 'node:path';

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

/**
 * What to do with a batch the store refuses for its rows (see ingest/refusal.ts): after `after`
 * refusals in a row it is moved to the quarantine directory, with the reason beside it, and its
 * table's later batches are replayed. Kept, never deleted: `requeue` puts it back.
 */
export interface PoisonPolicy {
  isRefusal(err: unknown): boolean;
  after: number;
  onQuarantine?(batch: QuarantinedBatch): void;
}

export interface QuarantinedBatch {
  table: string;
  file: string;
  rows: number;
  reason: string;
}

export class Spool {
  private seq = 0;
  /** Refusals in a row of each batch (by file), for the poison policy. */
  private readonly refusals = new Map<string, number>();
  /** Where quarantined batches go: beside the spool, so the drain never sees them. */
  readonly quarantineDir: string;
  /** Files their writer is still handling (a span journal's batches): not for the drain yet. */
  private readonly held = new Set<string>();
  /** Tables whose replay is failing now, with the last reason (reported once per streak). */
  private readonly failing = new Map<string, string>();

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.quarantineDir = `${dir}-quarantine`;
  }

  /**
   * Throws unless a file can be written durably here now (a full or read-only disk): for the
   * start-up check and readiness. The probe file is removed again.
   */
  probe(): void {
    const file = join(this.dir, `.probe-${process.pid}`);
    try {
      writeDurably(file, 'probe\n');
    } finally {
      try {
        removeIfThere(file);
      } catch {
        // the write's error, if any, is the one to report
      }
    }
  }

  /** Writes one batch durably; returns its file. */
  append(table: string, rows: readonly object[]): string | undefined {
    if (rows.length === 0) return undefined;
    const { tmp, file } = this.names(table);
    try {
      writeDurably(tmp, linesOf(rows));
    } catch (err) {
      // A full disk must not also collect empty temp files on every retry.
      try {
        removeIfThere(tmp);
      } catch {
        // the write's error is the one to report
      }
      throw err;
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
    const handle = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC, 0o644).catch((err: unknown) => {
      this.held.delete(file);
      throw err;
    });
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
    removeIfThere(file);
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
  async drain(
    insert: (table: string, rows: object[]) => Promise<void>,
    onError?: (table: string, err: unknown) => void,
    poison?: PoisonPolicy,
  ): Promise<number> {
    let drained = 0;
    const stopped = new Set<string>();
    for (const { table, file } of this.pending()) {
      if (stopped.has(table)) continue;
      const rows = parseLines(readFileSync(file, 'utf8'));
      try {
        if (rows.length > 0) await insert(table, rows);
      } catch (err) {
        const reason = (err as Error)?.message ?? String(err);
        if (poison?.isRefusal(err)) {
          const refused = (this.refusals.get(file) ?? 0) + 1;
          this.refusals.set(file, refused);
          if (refused >= poison.after) {
            // Set aside, so that the table's later batches are not held back by it forever.
            const batch = this.quarantine(table, file, rows.length, reason, refused);
            poison.onQuarantine?.(batch);
            continue;
          }
        }
        stopped.add(table);
        if (this.failing.get(table) !== reason) onError?.(table, err);
        this.failing.set(table, reason);
        continue;
      }
      this.failing.delete(table);
      this.refusals.delete(file);
      unlinkSync(file);
      drained++;
    }
    return drained;
  }

  /** How many batches are in quarantine (no file is read: cheap enough for every scrape). */
  quarantinedCount(): number {
    return safeReaddir(this.quarantineDir).reduce((n, table) => n + safeReaddir(join(this.quarantineDir, table)).filter((f) => f.endsWith('.jsonl')).length, 0);
  }

  /** Quarantined batches, oldest first per table, with the reason ClickHouse gave. */
  quarantined(): QuarantinedBatch[] {
    const out: QuarantinedBatch[] = [];
    for (const table of safeReaddir(this.quarantineDir).sort()) {
      const dir = join(this.quarantineDir, table);
      for (const name of safeReaddir(dir).filter((f) => f.endsWith('.jsonl')).sort()) {
        const file = join(dir, name);
        out.push({ table, file, rows: parseLines(readFileSync(file, 'utf8')).length, reason: readReason(`${file}.reason`) });
      }
    }
    return out;
  }

  /**
   * Puts quarantined batches (of one table, or all) back in the spool, where the next drain
   * replays them in their original order: after fixing what refused them (a schema, a setting).
   * Returns how many went back.
   */
  requeue(table?: string): number {
    let moved = 0;
    for (const batch of this.quarantined()) {
      if (table !== undefined && batch.table !== table) continue;
      const tableDir = join(this.dir, batch.table);
      mkdirSync(tableDir, { recursive: true });
      renameSync(batch.file, join(tableDir, basename(batch.file)));
      removeIfThere(`${batch.file}.reason`);
      moved++;
    }
    return moved;
  }

  private quarantine(table: string, file: string, rows: number, reason: string, refused: number): QuarantinedBatch {
    const dir = join(this.quarantineDir, table);
    mkdirSync(dir, { recursive: true });
    const target = join(dir, basename(file));
    // The reason first (durably), then the batch in one rename: a crash leaves the batch in the
    // spool or in quarantine, never nowhere, and never in both.
    const text = `refused ${refused} times in a row; last: ${reason}`;
    writeDurably(`${target}.reason`, `${text}\n`);
    renameSync(file, target);
    this.refusals.delete(file);
    return { table, file: target, rows, reason: text };
  }
}

/** Writes `text` to `path` and fsyncs it before returning. */
function writeDurably(path: string, text: string): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function readReason(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return 'unknown (no reason file)';
  }
}

function removeIfThere(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
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
