import { Counter, Gauge, type Registry } from 'prom-client';
import type { QuerySpec, Store } from '../store/client.ts';
import { TRACES_TABLE } from './span-writer.ts';

/**
 * Ingest and spool health (SPEC §8): rows of telemetry (spans, resource and GPU samples) that
 * reached ClickHouse, writes it refused (those rows went to the disk spool), spooled batches
 * waiting and replayed. Together they say whether billing data is flowing or piling up on disk.
 */

/** Tables telemetry is written to (the sidecar's, and the OTLP receiver's metric tables); their counters start at 0 so rate() works at once. */
export const INGEST_TABLES = [
  TRACES_TABLE,
  'resource_samples',
  'gpu_samples',
  'otel_metrics_gauge',
  'otel_metrics_sum',
  'otel_metrics_histogram',
  'otel_metrics_exponential_histogram',
  'otel_metrics_summary',
] as const;

export type OtlpSignal = 'spans' | 'data_points';

export interface IngestMetrics {
  written(table: string, rows: number): void;
  failed(table: string): void;
  /** Spooled batches a drain wrote to ClickHouse. */
  replayed(batches: number): void;
  /** Spans or metric points an OTLP export carried that the receiver refused (partial success). */
  refused(signal: OtlpSignal, count: number): void;
}

export function registerIngestMetrics(registry: Registry, spoolPending: () => number, spoolQuarantined: () => number = () => 0): IngestMetrics {
  const registers = [registry];
  new Gauge({
    name: 'inferledger_spool_pending_batches',
    help: 'Batches of telemetry rows waiting in the disk spool for ClickHouse to take them.',
    registers,
    collect() {
      this.set(spoolPending());
    },
  });
  new Gauge({
    name: 'inferledger_spool_quarantined_batches',
    help: 'Spooled batches ClickHouse refused for their rows, set aside in the quarantine directory (inferledger spool).',
    registers,
    collect() {
      this.set(spoolQuarantined());
    },
  });
  const written = new Counter({
    name: 'inferledger_ingest_rows_written_total',
    help: 'Telemetry rows written to ClickHouse (spans and samples, spool replays included), by table.',
    labelNames: ['table'] as const,
    registers,
  });
  const failures = new Counter({
    name: 'inferledger_ingest_write_failures_total',
    help: 'Telemetry writes ClickHouse refused or timed out (their rows went to the disk spool), by table.',
    labelNames: ['table'] as const,
    registers,
  });
  const replayed = new Counter({
    name: 'inferledger_spool_replayed_batches_total',
    help: 'Spooled batches replayed into ClickHouse.',
    registers,
  });
  const refused = new Counter({
    name: 'inferledger_otlp_refused_total',
    help: 'Spans and metric data points the OTLP receiver refused (partial success: wrong tenant, unstorable time, out-of-range metered value), by signal.',
    labelNames: ['signal'] as const,
    registers,
  });
  for (const table of INGEST_TABLES) {
    written.inc({ table }, 0);
    failures.inc({ table }, 0);
  }
  for (const signal of ['spans', 'data_points'] as const) refused.inc({ signal }, 0);
  return {
    written: (table, rows) => written.inc({ table }, rows),
    failed: (table) => failures.inc({ table }),
    replayed: (batches) => replayed.inc(batches),
    refused: (signal, count) => {
      if (count > 0) refused.inc({ signal }, count);
    },
  };
}

/**
 * The store as telemetry writers see it: every insert is counted as written or failed. Only the
 * telemetry paths (span writer, samples, spool drain) get this view; queries pass straight through.
 */
export function countInserts(store: Store, metrics: IngestMetrics): Store {
  return {
    mode: store.mode,
    client: store.client,
    cluster: store.cluster,
    query: <T>(spec: QuerySpec<T>) => store.query(spec),
    queryCompact: (spec) => store.queryCompact(spec),
    command: (query, params) => store.command(query, params),
    async insert(table, rows) {
      try {
        await store.insert(table, rows);
      } catch (err) {
        metrics.failed(table);
        throw err;
      }
      if (rows.length > 0) metrics.written(table, rows.length);
    },
    ping: () => store.ping(),
    close: () => store.close(),
  };
}
