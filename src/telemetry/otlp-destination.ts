import { ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { SpanDestination } from './journaled-span-processor.ts';
import { snapshotOf, spansFromSnapshots, type SpanSnapshot } from './span-snapshot.ts';

/** The OTLP span journal's files live in this folder of its spool. */
const OTLP_JOURNAL_TABLE = 'otlp_spans';

/**
 * Journaled spans exported by OTLP: the journal keeps each span as a JSON snapshot, and every
 * delivery (live, or a replay after a crash) exports the spans rebuilt from it, `maxBatchSize` per
 * request so a large leftover file does not become one oversized request.
 */
export function otlpDestination(exporter: SpanExporter, maxBatchSize: number): SpanDestination<SpanSnapshot> {
  return {
    table: OTLP_JOURNAL_TABLE,
    toRow: snapshotOf,
    async deliver(rows) {
      const spans = spansFromSnapshots(rows);
      for (let i = 0; i < spans.length; i += maxBatchSize) await exportSpans(exporter, spans.slice(i, i + maxBatchSize));
    },
    shutdown: () => exporter.shutdown(),
  };
}

function exportSpans(exporter: SpanExporter, spans: ReadableSpan[]): Promise<void> {
  return new Promise((resolve, reject) => {
    exporter.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) resolve();
      else reject(result.error ?? new Error('OTLP span export failed'));
    });
  });
}
