import type { Attributes, Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter as OTLPGrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Spool } from '../ingest/spool.ts';
import type { Store } from '../store/client.ts';
import { ATTR } from './attributes.ts';
import { JournaledSpanProcessor } from './journaled-span-processor.ts';
import { otlpDestination } from './otlp-destination.ts';
import { clickHouseJournal, ClickHouseSpanProcessor } from './span-writer.ts';

export interface Tracing {
  readonly tracer: Tracer;
  /** Writes buffered spans out; resolves when they are stored (or spooled). */
  flush(): Promise<void>;
  /** Resolves once an ended span would survive a crash (journaled); at once when nothing journals. */
  recorded(spanId: string): Promise<void>;
  shutdown(): Promise<void>;
}

export type TracingOptions = {
  resource: Attributes;
  batchDelayMs: number;
  maxBatchSize: number;
  onError?: (err: unknown) => void;
} & (
  | { exporter: 'clickhouse'; store: Store; spool: Spool; journal?: boolean }
  | {
      exporter: 'otlp';
      /** OTLP over HTTP with protobuf bodies (default), or gRPC. */
      protocol?: 'http/protobuf' | 'grpc';
      /**
       * A spool of its own for the OTLP span journal: each span is on disk before `recorded`
       * resolves, and what a crash or a failed export left there is exported again. Without it
       * spans wait in memory (the SDK's batch processor) and a crash loses up to a batch interval.
       */
      journalSpool?: Spool;
      /**
       * Without `journalSpool`: the journal folder an earlier run (with the journal on) may have
       * left acknowledged spans in. They are exported from it, retried every batch interval,
       * though new spans are not journaled.
       */
      leftoverJournal?: Spool;
    }
);

/** Standard OTEL_EXPORTER_OTLP_* variables configure the endpoint, headers (gRPC metadata) and timeout. */
function otlpExporter(protocol: 'http/protobuf' | 'grpc' = 'http/protobuf'): SpanExporter {
  return protocol === 'grpc' ? new OTLPGrpcTraceExporter() : new OTLPTraceExporter();
}

/**
 * Builds the tracer provider for the sidecar. Nothing is registered globally: the tracer is handed
 * to the inference service explicitly, so tests and several instances in one process never share
 * hidden state.
 */
export function createTracing(opts: TracingOptions): Tracing {
  let processor: SpanProcessor;
  let recorded: (spanId: string) => Promise<void> = () => Promise.resolve();
  let leftovers: JournaledSpanProcessor<object> | undefined;
  const batching = { batchDelayMs: opts.batchDelayMs, maxBatchSize: opts.maxBatchSize, onError: opts.onError };
  // A refusal's 429 never waits for its span: refusals ride along with the next journal write.
  const journaling = { ...batching, deferrable: isRefusal };
  if (opts.exporter === 'clickhouse' && opts.journal) {
    const journaled = clickHouseJournal(opts.store, opts.spool, journaling);
    processor = journaled;
    recorded = (spanId) => journaled.recorded(spanId);
  } else if (opts.exporter === 'clickhouse') {
    processor = new ClickHouseSpanProcessor(opts.store, opts.spool, batching);
  } else if (opts.journalSpool) {
    const journaled = new JournaledSpanProcessor(opts.journalSpool, otlpDestination(otlpExporter(opts.protocol), opts.maxBatchSize), { ...journaling, drainSpool: true });
    processor = journaled;
    recorded = (spanId) => journaled.recorded(spanId);
  } else {
    // Registered with no provider: it only replays the folder (found by dogfooding: a restart
    // with the journal turned off left 30 acknowledged spans unbilled there).
    if (opts.leftoverJournal) leftovers = new JournaledSpanProcessor(opts.leftoverJournal, otlpDestination(otlpExporter(opts.protocol), opts.maxBatchSize), { ...batching, drainSpool: true });
    processor = new BatchSpanProcessor(otlpExporter(opts.protocol), {
      scheduledDelayMillis: opts.batchDelayMs,
      maxExportBatchSize: opts.maxBatchSize,
      maxQueueSize: 65_536,
    });
  }
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(opts.resource),
    spanProcessors: [processor],
  });
  return {
    tracer: provider.getTracer('inferledger-sidecar', '0.1.0'),
    flush: () => provider.forceFlush(),
    recorded,
    shutdown: async () => {
      await provider.shutdown();
      await leftovers?.shutdown();
    },
  };
}

/** A request refused at admission (quota, full queue): its span is recorded, but no answer waits for it. */
const isRefusal = (span: ReadableSpan): boolean => span.attributes[ATTR.rejected] === true;
