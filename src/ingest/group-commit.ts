import { AppError } from '../errors.ts';
import type { RowSink } from './row-sink.ts';

/**
 * Group commit in front of a RowSink, for ingest where many senders export small batches at
 * once (every OTel SDK flushes every few seconds): while one insert into a table is in flight,
 * the writes that arrive for that table wait and then go out together as one insert. ClickHouse
 * wants few large inserts (each insert is a part on disk; thousands of tiny ones per second are
 * what "too many parts" is made of).
 *
 * - No added latency: a write to an idle table goes out at once; batching happens only while the
 *   store is busy, and then exactly as much as it is busy.
 * - Acknowledgement is unchanged: a write resolves once its batch is in the store or durably
 *   spooled (the inner sink's promise), and rejects if its batch could not be kept. A batch is
 *   one inner write, so a request's rows are never split from each other.
 * - Back-pressure: rows waiting for their turn are bounded by `maxPendingRows`; beyond it a write
 *   is refused at once (503 with Retry-After, which OTLP senders retry) instead of queueing
 *   without limit. A write that is larger than the bound on its own is still taken when nothing
 *   else is waiting, so no valid request can be refused forever.
 * - Tables named by `writeAlone` still wait their turn, but each write is an insert of its own:
 *   ClickHouse drops an insert whose block repeats a recent one's, and that is the only thing
 *   that recognises a repeated write of rows without a key (metric points) once it reaches
 *   another replica or comes after a restart. Merged with other writes it is another block.
 */

export interface GroupCommitOptions {
  /** Largest insert a batch grows to (a single larger write is still written whole). */
  maxBatchRows: number;
  /** Rows queued behind in-flight inserts, all tables together, before writes are refused. */
  maxPendingRows: number;
  /** Seconds a refused sender is told to wait (Retry-After). */
  retryAfterSeconds?: number;
  /** Tables whose writes are never merged with others' (each is its own insert). */
  writeAlone?: (table: string) => boolean;
}

export interface GroupCommitSink extends RowSink {
  /** Rows accepted but not yet handed to the inner sink (for metrics and tests). */
  pendingRows(): number;
}

interface Batch {
  rows: object[];
  done: Promise<void>;
  settle: (err?: unknown) => void;
}

interface TableQueue {
  writing: boolean;
  waiting: Batch[];
}

export function groupCommit(inner: RowSink, opts: GroupCommitOptions): GroupCommitSink {
  const queues = new Map<string, TableQueue>();
  let pending = 0;

  function newBatch(): Batch {
    let settle!: (err?: unknown) => void;
    const done = new Promise<void>((resolve, reject) => {
      settle = (err) => (err === undefined ? resolve() : reject(err));
    });
    return { rows: [], done, settle };
  }

  function pump(table: string, q: TableQueue): void {
    if (q.writing) return;
    const batch = q.waiting.shift();
    if (!batch) return;
    q.writing = true;
    pending -= batch.rows.length;
    // The next batch is on its way before this one's writers resume.
    const finish = (err?: unknown) => {
      q.writing = false;
      pump(table, q);
      batch.settle(err);
    };
    inner.write(table, batch.rows).then(
      () => finish(),
      (err: unknown) => finish(err ?? new Error('write failed')),
    );
  }

  return {
    pendingRows: () => pending,
    write(table, rows) {
      if (rows.length === 0) return Promise.resolve();
      if (pending > 0 && pending + rows.length > opts.maxPendingRows) {
        const retryAfterSeconds = opts.retryAfterSeconds ?? 1;
        return Promise.reject(
          new AppError('unavailable', `ingest is behind: ${pending} rows are waiting to be written; retry after ${retryAfterSeconds} s`, {
            code: 'ingest_overloaded',
            details: { retryAfterSeconds },
          }),
        );
      }
      let q = queues.get(table);
      if (!q) {
        q = { writing: false, waiting: [] };
        queues.set(table, q);
      }
      let batch = q.waiting.at(-1);
      if (!batch || (batch.rows.length > 0 && (batch.rows.length + rows.length > opts.maxBatchRows || opts.writeAlone?.(table)))) {
        batch = newBatch();
        q.waiting.push(batch);
      }
      for (const row of rows) batch.rows.push(row);
      pending += rows.length;
      const done = batch.done;
      pump(table, q);
      return done;
    },
  };
}
