import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { storeOrSpool, type RowSink } from '../ingest/row-sink.ts';
import type { Spool } from '../ingest/spool.ts';
import type { Store } from '../store/client.ts';
import { JournaledSpanProcessor } from './journaled-span-processor.ts';
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

/**
 * Writes finished spans to ClickHouse in batches (all-in-one mode).
 *
 * Why not the SDK's BatchSpanProcessor: it drops spans when its queue is full, and a dropped span
 * is an unbilled request. This processor never drops: a batch the store refuses goes to the disk
 * spool and is replayed by the spool-drain job, and a buffer that outgrows its bound spills to the spool.
 *
 * With `journal`, spans go through a `JournaledSpanProcessor` instead (journaled-span-processor.ts):
 * each span is on disk before `recorded(spanId)` resolves, and the journal file of each flush
 * interval is inserted, or left to the spool drain.
 */
export class ClickHouseSpanProcessor implements SpanProcessor {
  private buffer: OtelTraceRow[] = [];
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readonly maxBufferedRows: number;
  private readonly sink: RowSink;
  private readonly journaled: JournaledSpanProcessor<OtelTraceRow> | undefined;

  constructor(
    private readonly store: Store,
    private readonly spool: Spool,
    private readonly opts: SpanWriterOptions,
  ) {
    this.maxBufferedRows = opts.maxBufferedRows ?? 50_000;
    this.sink = storeOrSpool(store, spool, opts.onError);
    if (opts.journal) {
      // The process's spool-drain job replays this spool, so the journal does not drain it itself.
      this.journaled = new JournaledSpanProcessor(
        spool,
        { table: TRACES_TABLE, toRow: spanToRow, deliver: (rows) => store.insert(TRACES_TABLE, rows) },
        { batchDelayMs: opts.batchDelayMs, maxBatchSize: opts.maxBatchSize, maxBufferedRows: this.maxBufferedRows, onError: opts.onError },
      );
      return;
    }
    this.timer = setInterval(() => void this.flush(), opts.batchDelayMs);
    this.timer.unref();
  }

  onStart(_span: Span, _ctx: Context): void {}

  onEnd(span: ReadableSpan): void {
    if (this.journaled) return this.journaled.onEnd(span);
    this.buffer.push(spanToRow(span));
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
    return this.journaled ? this.journaled.recorded(spanId) : Promise.resolve();
  }

  /** Writes everything buffered so far; resolves once it is in ClickHouse or in the spool. */
  flush(): Promise<void> {
    if (this.journaled) return this.journaled.flush();
    const rows = this.takeBuffer();
    if (rows.length > 0) this.chain = this.chain.then(() => this.write(rows));
    return this.chain;
  }

  forceFlush(): Promise<void> {
    return this.flush();
  }

  async shutdown(): Promise<void> {
    if (this.journaled) return this.journaled.shutdown();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
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
