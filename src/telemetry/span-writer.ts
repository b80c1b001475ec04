import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { storeOrSpool, type RowSink } from '../ingest/row-sink.ts';
import type { Spool } from '../ingest/spool.ts';
import type { Store } from '../store/client.ts';
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
