import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Spool } from '../ingest/spool.ts';
import { createTracing, type Tracing, type TracingOptions } from '../telemetry/tracing.ts';
import { timeConcurrent, timeSequential } from './load.ts';
import { metric } from './report.ts';
import { removeScratch, scratchDir } from './scratch.ts';
import { perSecond, summarize } from './stats.ts';
import type { Suite } from './suite.ts';
import type { Metric, SuiteOutcome } from './types.ts';

/**
 * What the span journal (crash safety, SPEC §9) costs a request: the time from a span's end until
 * `recorded()` says it would survive a SIGKILL, with the journal and without it (the baseline:
 * recorded at once, the span only in memory), for both exporters. ClickHouse goes to the started
 * platform's store; OTLP to a receiver in this process that accepts everything. Spans are
 * INTERNAL, so they never become billed requests.
 */

const IN_FLIGHT = 4;
const WARMUP = 50;

export const spanJournalSuite: Suite = {
  name: 'span-journal',
  description: 'span end → durable (recorded) with the span journal vs without, ClickHouse and OTLP exporters',
  async run(ctx): Promise<SuiteOutcome> {
    const bench = await ctx.platform();
    const n = ctx.options.requests;
    const receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    // The OTLP exporter reads the standard variable, as the sidecar's does.
    const previousEndpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    const dirs: string[] = [];
    const spool = () => {
      const dir = scratchDir('il-bench-journal-');
      dirs.push(dir);
      return new Spool(dir);
    };
    const common = { resource: { 'service.name': 'inferledger-bench' }, batchDelayMs: 1000, maxBatchSize: 512 };
    const destinations: Array<[string, (journal: boolean) => TracingOptions]> = [
      ['clickhouse', (journal) => ({ ...common, exporter: 'clickhouse', store: bench.platform.store, spool: spool(), journal })],
      ['otlp', (journal) => ({ ...common, exporter: 'otlp', journalSpool: journal ? spool() : undefined })],
    ];
    const metrics: Metric[] = [];
    try {
      for (const [name, options] of destinations) {
        ctx.progress(`span-journal: ${name}: ${n} spans one at a time and ${IN_FLIGHT} in flight, journal off then on`);
        const off = await measure(createTracing(options(false)), n);
        const on = await measure(createTracing(options(true)), n);
        metrics.push(
          metric(`${name}: span end → recorded p50, journal on (baseline: off)`, on.p50, 'ms', off.p50),
          metric(`${name}: span end → recorded p99, journal on (baseline: off)`, on.p99, 'ms', off.p99),
          metric(`${name}: spans recorded per second, ${IN_FLIGHT} in flight, journal on (baseline: off)`, on.perSecond, 'spans/s', off.perSecond),
        );
      }
    } finally {
      if (previousEndpoint === undefined) delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
      else process.env.OTEL_EXPORTER_OTLP_ENDPOINT = previousEndpoint;
      receiver.close();
      for (const dir of dirs) removeScratch(dir);
    }
    return { status: 'ok', params: { spans_per_series: n, warmup: WARMUP, in_flight: IN_FLIGHT }, metrics };
  },
};

/** Latencies one at a time, then throughput with IN_FLIGHT at once; shuts the tracing down. */
async function measure(tracing: Tracing, n: number): Promise<{ p50: number | null; p99: number | null; perSecond: number | null }> {
  const oneSpan = async () => {
    const span = tracing.tracer.startSpan('bench.journal', { attributes: { 'tenant.id': 'bench' } });
    span.end();
    await tracing.recorded(span.spanContext().spanId);
  };
  try {
    const latency = summarize(await timeSequential(n, WARMUP, oneSpan));
    const ms = await timeConcurrent(n, IN_FLIGHT, oneSpan);
    return { p50: latency.p50, p99: latency.p99, perSecond: perSecond(n, ms) };
  } finally {
    await tracing.shutdown();
  }
}
