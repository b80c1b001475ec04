import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { storeOrSpool, type RowSink } from '../ingest/row-sink.ts';
import type { HeldFile, Spool } from '../ingest/spool.ts';
import type { Store } from '../store/client.ts';
import { spanToRow, type OtelTraceRow } from './span-rows.ts';

export const TRACES_TABLE = 'otel_traces';

export interface SpanWriterOptions {
  batchDelayMs: number;
  maxBatchSize: number;
  /** Rows held in memory while the store is slow; beyond this they go to the disk spool at once. */
  maxBufferedRows?: number;
  /**
   * Journal every span to the disk spool (fsync, grouped) as it ends, so `recorded(spanId)` can
   * tell when a request's span would survive a crash (SIGKILL) of this process. Without it a
   * crash loses the spans of the last batch interval.
   */
  journal?: boolean;
  onError?: (err: unknown) => void;
}

/** Spans of one journal write (group commit): on disk once `durable` resolves. */
interface JournalGroup {
  rows: OtelTraceRow[];
  spanIds: string[];
  durable: Promise<void>;
}

/** The journal file of the current flush interval and the rows in it. */
interface Segment {
  held: HeldFile;
  rows: OtelTraceRow[];
}

/**
 * Writes finished spans to ClickHouse in batches (all-in-one mode).
 *
 * Why not the SDK's BatchSpanProcessor: it drops spans when its queue is full, and a dropped span
 * is an unbilled request. This processor never drops: a batch the store refuses goes to the disk
 * spool and is replayed by the spool-drain job, and a buffer that outgrows its bound spills to the spool.
 *
 * With `journal`, a span is also appended to a spool file when it ends, in groups (every span
 * that ends while the previous group is being written goes into the next one: one write and one
 * fdatasync per group). Each flush closes that file, inserts its rows and deletes it; if the
 * insert fails the file is handed to the spool drain instead. A crash leaves the file behind and
 * the drain replays it on the next start; rows already inserted count once because `requests`
 * deduplicates by span id.
 */
export class ClickHouseSpanProcessor implements SpanProcessor {
  private buffer: OtelTraceRow[] = [];
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readonly maxBufferedRows: number;
  private readonly sink: RowSink;
  /** Journal: the group collecting spans now; every journal step runs in order on `writing`. */
  private collecting: JournalGroup | undefined;
  private writing: Promise<void> = Promise.resolve();
  private segment: Segment | undefined;
  /** Rows whose journal write failed: inserted (or spooled) by the next flush. */
  private unjournaled: OtelTraceRow[] = [];
  private readonly groupOf = new Map<string, JournalGroup>();

  constructor(
    private readonly store: Store,
    private readonly spool: Spool,
    private readonly opts: SpanWriterOptions,
  ) {
    this.maxBufferedRows = opts.maxBufferedRows ?? 50_000;
    this.sink = storeOrSpool(store, spool, opts.onError);
    this.timer = setInterval(() => void this.flush(), opts.batchDelayMs);
    this.timer.unref();
  }

  onStart(_span: Span, _ctx: Context): void {}

  onEnd(span: ReadableSpan): void {
    const row = spanToRow(span);
    if (this.opts.journal) {
      this.journal(span.spanContext().spanId, row);
      return;
    }
    this.buffer.push(row);
    if (this.buffer.length >= this.maxBufferedRows) {
      this.spool.append(TRACES_TABLE, this.takeBuffer());
    } else if (this.buffer.length >= this.opts.maxBatchSize) {
      void this.flush();
    }
  }

  /**
   * Resolves once the span is on disk (journal) and would survive a crash of this process; at
   * once without a journal or for a span this processor has not seen. Never rejects: if the
   * journal cannot be written the span stays in memory like an unjournaled one (and onError says why).
   */
  recorded(spanId: string): Promise<void> {
    const group = this.groupOf.get(spanId);
    if (!group) return Promise.resolve();
    this.groupOf.delete(spanId);
    // writeGroup reports its own failures; an answer must never fail for want of a journal.
    return group.durable.catch(() => undefined);
  }

  /** Writes everything buffered so far; resolves once it is in ClickHouse or in the spool. */
  flush(): Promise<void> {
    if (this.opts.journal) {
      // Closing the segment is a journal step: it waits for the groups before it, and groups
      // after it start a new file.
      const closed = this.step(() => this.closeSegment());
      this.chain = this.chain.then(() => closed).then((taken) => this.insertJournaled(taken));
      return this.chain;
    }
    const rows = this.takeBuffer();
    if (rows.length > 0) this.chain = this.chain.then(() => this.write(rows));
    return this.chain;
  }

  forceFlush(): Promise<void> {
    return this.flush();
  }

  async shutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private journal(spanId: string, row: OtelTraceRow): void {
    if (!this.collecting) {
      const group: JournalGroup = { rows: [], spanIds: [], durable: Promise.resolve() };
      group.durable = this.step(() => this.writeGroup(group));
      this.collecting = group;
    }
    this.collecting.rows.push(row);
    this.collecting.spanIds.push(spanId);
    this.groupOf.set(spanId, this.collecting);
  }

  /** Runs journal steps one at a time, in order; a failed step does not stop the next. */
  private step<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writing.then(fn);
    this.writing = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async writeGroup(group: JournalGroup): Promise<void> {
    if (this.collecting === group) this.collecting = undefined; // later spans start the next group
    try {
      this.segment ??= { held: await this.spool.openHeld(TRACES_TABLE), rows: [] };
      await this.segment.held.append(group.rows);
      this.segment.rows.push(...group.rows);
    } catch (err) {
      this.opts.onError?.(err); // kept in memory: inserted (or spooled) by the next flush
      this.unjournaled.push(...group.rows);
    }
    // Written (or given up on): a later recorded() for these spans has nothing to wait for.
    for (const id of group.spanIds) if (this.groupOf.get(id) === group) this.groupOf.delete(id);
    const inMemory = (this.segment?.rows.length ?? 0) + this.unjournaled.length;
    if (inMemory >= this.maxBufferedRows && this.segment) {
      // The store is not keeping up: the file waits for the drain instead of its rows in memory.
      const full = this.segment;
      this.segment = undefined;
      await full.held.close().catch((err: unknown) => this.opts.onError?.(err));
      this.spool.release(full.held.file);
    } else if (inMemory >= this.opts.maxBatchSize) {
      void this.flush();
    }
  }

  private async closeSegment(): Promise<{ segment: Segment | undefined; unjournaled: OtelTraceRow[] }> {
    const segment = this.segment;
    this.segment = undefined;
    const unjournaled = this.unjournaled;
    this.unjournaled = [];
    if (segment) await segment.held.close().catch((err: unknown) => this.opts.onError?.(err));
    return { segment, unjournaled };
  }

  /** One insert for the closed segment; success deletes its file, failure leaves it to the drain. */
  private async insertJournaled({ segment, unjournaled }: { segment: Segment | undefined; unjournaled: OtelTraceRow[] }): Promise<void> {
    const rows = [...(segment?.rows ?? []), ...unjournaled];
    if (rows.length === 0) {
      if (segment) this.spool.remove(segment.held.file);
      return;
    }
    try {
      await this.store.insert(TRACES_TABLE, rows);
    } catch (err) {
      this.opts.onError?.(err);
      // On disk already: the spool drain replays the file. Rows whose journal write failed are
      // spooled now, or kept for the next flush if even that fails.
      if (segment) this.spool.release(segment.held.file);
      try {
        this.spool.append(TRACES_TABLE, unjournaled);
      } catch (spoolErr) {
        this.opts.onError?.(spoolErr);
        this.unjournaled.unshift(...unjournaled);
      }
      return;
    }
    if (segment) this.spool.remove(segment.held.file);
  }

  private takeBuffer(): OtelTraceRow[] {
    const rows = this.buffer;
    this.buffer = [];
    return rows;
  }

  private write(rows: OtelTraceRow[]): Promise<void> {
    return this.sink.write(TRACES_TABLE, rows);
  }
}
