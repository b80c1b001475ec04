import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { storeOrSpool, type RowSink } from '../ingest/row-sink.ts';
import type { Spool } from '../ingest/spool.ts';
import type { Store } from '../store/client.ts';
import { JournaledSpanProcessor, type JournalOptions } from './journaled-span-processor.ts';
import { spanToRow, type OtelTraceRow } from './span-rows.ts';

export const TRACES_TABLE = 'otel_traces';

export interface SpanWriterOptions {
  batchDelayMs: number;
  maxBatchSize: number;
  /** Rows held in memory while the store is slow; beyond this they go to the disk spool at once. */
  maxBufferedRows?: number;
  onError?: (err: unknown) => void;
}

/**
 * Writes finished spans to ClickHouse in batches (all-in-one mode).
 *
 * Why not the SDK's BatchSpanProcessor: it drops spans when its queue is full, and a dropped span
 * is an unbilled request. This processor never drops: a batch the store refuses goes to the disk
 * spool and is replayed by the spool-drain job, and a buffer that outgrows its bound spills to the spool.
 *
 * It holds spans in memory for up to a batch interval; `clickHouseJournal` is the crash-safe
 * alternative (each span on disk before its answer).
 */
export class ClickHouseSpanProcessor implements SpanProcessor {
  private buffer: OtelTraceRow[] = [];
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readonly maxBufferedRows: number;
  private readonly sink: RowSink;

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
    this.buffer.push(spanToRow(span));
    if (this.buffer.length >= this.maxBufferedRows) {
      this.spool.append(TRACES_TABLE, this.takeBuffer());
    } else if (this.buffer.length >= this.opts.maxBatchSize) {
      void this.flush();
    }
  }

  /** Writes everything buffered so far; resolves once it is in ClickHouse or in the spool. */
  flush(): Promise<void> {
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

  private takeBuffer(): OtelTraceRow[] {
    const rows = this.buffer;
    this.buffer = [];
    return rows;
  }

  private write(rows: OtelTraceRow[]): Promise<void> {
    return this.sink.write(TRACES_TABLE, rows);
  }
}

/**
 * Spans journaled to the spool and inserted into ClickHouse each interval (see
 * journaled-span-processor.ts): a span is on disk before `recorded(spanId)` resolves, so an
 * answer sent after it survives a SIGKILL. A file whose insert fails, or that a crash left, is
 * replayed by the process's spool-drain job (so the journal does not drain this spool itself).
 */
export function clickHouseJournal(store: Store, spool: Spool, opts: Omit<JournalOptions, 'drainSpool'>): JournaledSpanProcessor<OtelTraceRow> {
  return new JournaledSpanProcessor(spool, { table: TRACES_TABLE, toRow: spanToRow, deliver: (rows) => store.insert(TRACES_TABLE, rows) }, opts);
}
