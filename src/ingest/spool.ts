import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A disk spool for rows the store could not take (ClickHouse down, timeouts). Accepted data is
 * never dropped: each batch is written as one JSON-lines file (write to a temp name, fsync,
 * rename: a crash leaves either the whole file or none) and replayed oldest first. A crash between
 * a successful replay and the unlink replays the batch again; the tables deduplicate by span id,
 * so that can never count twice.
 */
export class Spool {
  private seq = 0;

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  append(table: string, rows: readonly object[]): void {
    if (rows.length === 0) return;
    const tableDir = join(this.dir, table);
    mkdirSync(tableDir, { recursive: true });
    const name = `${String(Date.now()).padStart(15, '0')}-${process.pid}-${String(this.seq++).padStart(6, '0')}.jsonl`;
    const tmp = join(tableDir, `.${name}.tmp`);
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(tableDir, name));
  }

  /** Spooled batches per table, oldest first. */
  pending(): Array<{ table: string; file: string }> {
    const out: Array<{ table: string; file: string }> = [];
    for (const table of safeReaddir(this.dir).sort()) {
      for (const file of safeReaddir(join(this.dir, table)).filter((f) => f.endsWith('.jsonl')).sort()) {
        out.push({ table, file: join(this.dir, table, file) });
      }
    }
    return out;
  }

  /**
   * Replays spooled batches through `insert`; stops at the first failure (the store is still
   * down, retry later) so order is kept. Returns how many batches were written.
   */
  async drain(insert: (table: string, rows: object[]) => Promise<void>): Promise<number> {
    let drained = 0;
    for (const { table, file } of this.pending()) {
      const rows = readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as object);
      try {
        await insert(table, rows);
      } catch {
        return drained;
      }
      unlinkSync(file);
      drained++;
    }
    return drained;
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
