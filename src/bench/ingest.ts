import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Store } from '../store/client.ts';
import { spanToRow } from '../telemetry/span-rows.ts';
import { TRACES_TABLE } from '../telemetry/span-writer.ts';
import { BENCH_TENANT } from './platform.ts';
import { metric } from './report.ts';
import { perSecond } from './stats.ts';
import type { Suite } from './suite.ts';
import type { SuiteOutcome } from './types.ts';

/**
 * SPEC §10 ingest: OTLP protobuf spans posted to POST /v1/traces of the started platform, timed
 * from the first POST until all of them can be counted in otel_traces ("queryable rows per
 * second"), next to the engine's own insert rate of the same rows (spanToRow, then inserts of the
 * same batch sizes straight into otel_traces). Spans are encoded before the clock starts, so the
 * client's encoding is not counted. While the OTLP receiver does not exist (404) the suite is
 * reported as skipped, never with a number.
 */

const BATCH = 500;
/** Many SDKs exporting small batches at once: what group commit in the receiver is for. */
const SENDERS = 16;
const SMALL_BATCH = 20;
const POLL_MS = 50;
const DEADLINE_MS = 120_000;

function makeSpans(serviceName: string, count: number): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName, 'service.instance.id': `${serviceName}-0` }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('inferledger-bench');
  const t0 = Date.now() - 60_000;
  for (let i = 0; i < count; i++) {
    const start = t0 + i;
    const span = tracer.startSpan('bench.span', {
      kind: SpanKind.SERVER,
      startTime: start,
      attributes: { 'bench.seq': i, 'http.request.method': 'POST', 'url.path': '/bench', 'http.response.status_code': 200 },
    });
    span.setStatus({ code: SpanStatusCode.OK });
    span.end(start + 1 + (i % 7));
  }
  return exporter.getFinishedSpans();
}

const batches = <T>(items: readonly T[], size = BATCH) => Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

/** Posts every body, `senders` at a time; a 503 with Retry-After is retried as an SDK would. */
async function postAll(baseUrl: string, key: string, bodies: readonly ArrayBuffer[], senders: number): Promise<string | undefined> {
  let next = 0;
  let failure: string | undefined;
  const sender = async () => {
    while (failure === undefined && next < bodies.length) {
      const body = bodies[next++]!;
      for (;;) {
        const res = await postTraces(baseUrl, key, body);
        const text = await res.text();
        if (res.status >= 200 && res.status < 300) break;
        if (res.status === 503 && res.headers.has('retry-after')) {
          await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after')) * 1000));
          continue;
        }
        failure = `POST /v1/traces answered ${res.status}: ${text.slice(0, 200)}`;
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: senders }, sender));
  return failure;
}

async function countOf(store: Store, serviceName: string): Promise<number> {
  const [row] = await store.query<{ n: string }>({ query: `SELECT count() AS n FROM ${TRACES_TABLE} WHERE ServiceName = {svc:String}`, params: { svc: serviceName } });
  return Number(row?.n ?? 0);
}

/** Milliseconds from t0 until `want` rows of the service are queryable. */
async function waitQueryable(store: Store, serviceName: string, want: number, t0: number): Promise<number> {
  for (;;) {
    const have = await countOf(store, serviceName);
    if (have >= want) return performance.now() - t0;
    if (performance.now() - t0 > DEADLINE_MS) throw new Error(`only ${have} of ${want} spans of ${serviceName} queryable after ${DEADLINE_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function postTraces(baseUrl: string, key: string, body: ArrayBuffer): Promise<Response> {
  return fetch(`${baseUrl}/v1/traces`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-protobuf' }, body });
}

export const ingestSuite: Suite = {
  name: 'ingest',
  description: 'OTLP protobuf spans -> queryable otel_traces rows per second vs direct engine inserts of the same rows',
  async run(ctx): Promise<SuiteOutcome> {
    const bench = await ctx.platform();
    const { key } = await bench.platform.keys.create(BENCH_TENANT, 'ingest');
    const probe = await postTraces(bench.baseUrl, key, new ArrayBuffer(0));
    await probe.arrayBuffer();
    if (probe.status === 404) return { status: 'skipped', reason: 'POST /v1/traces answers 404: the OTLP receiver is not built yet', params: {}, metrics: [] };

    const spans = 10 * ctx.options.requests;
    const run = Date.now().toString(36);
    const otlpService = `bench-ingest-otlp-${run}`;
    const engineService = `bench-ingest-engine-${run}`;
    ctx.progress(`ingest: encoding ${spans} spans as OTLP protobuf, ${BATCH} per request`);
    // Each body copied into its own ArrayBuffer (what fetch takes) before the clock starts.
    const bodies = batches(makeSpans(otlpService, spans)).map((b) => new Uint8Array(ProtobufTraceSerializer.serializeRequest(b) ?? new Uint8Array()).buffer);
    const rows = batches(makeSpans(engineService, spans).map(spanToRow));

    ctx.progress(`ingest: POST /v1/traces x ${bodies.length}`);
    const t0 = performance.now();
    const failed = await postAll(bench.baseUrl, key, bodies, 1);
    if (failed) return { status: 'failed', reason: failed, params: { spans, batch: BATCH }, metrics: [] };
    const acceptedMs = performance.now() - t0;
    const otlpMs = await waitQueryable(bench.platform.store, otlpService, spans, t0);

    ctx.progress(`ingest: engine baseline, ${rows.length} inserts into ${TRACES_TABLE}`);
    const t1 = performance.now();
    for (const batch of rows) await bench.platform.store.insert(TRACES_TABLE, batch);
    const engineMs = await waitQueryable(bench.platform.store, engineService, spans, t1);

    const manyService = `bench-ingest-many-${run}`;
    const small = batches(makeSpans(manyService, spans), SMALL_BATCH).map((b) => new Uint8Array(ProtobufTraceSerializer.serializeRequest(b) ?? new Uint8Array()).buffer);
    ctx.progress(`ingest: ${SENDERS} concurrent senders, POST /v1/traces x ${small.length} of ${SMALL_BATCH} spans`);
    const t2 = performance.now();
    const failedMany = await postAll(bench.baseUrl, key, small, SENDERS);
    if (failedMany) return { status: 'failed', reason: failedMany, params: { spans, batch: SMALL_BATCH, senders: SENDERS }, metrics: [] };
    const manyMs = await waitQueryable(bench.platform.store, manyService, spans, t2);

    return {
      status: 'ok',
      params: { spans, batch: BATCH, requests: bodies.length, bytes: bodies.reduce((a, b) => a + b.byteLength, 0), senders: SENDERS, small_batch: SMALL_BATCH },
      metrics: [
        metric('OTLP spans -> queryable rows (baseline: engine insert of the same rows)', perSecond(spans, otlpMs), 'rows/s', perSecond(spans, engineMs)),
        metric('OTLP spans accepted by the receiver (2xx), per second', perSecond(spans, acceptedMs), 'spans/s'),
        metric(
          `OTLP, ${SENDERS} concurrent senders of ${SMALL_BATCH}-span exports -> queryable rows (baseline: engine insert)`,
          perSecond(spans, manyMs),
          'rows/s',
          perSecond(spans, engineMs),
        ),
      ],
    };
  },
};
