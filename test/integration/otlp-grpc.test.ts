import { credentials, Metadata, makeGenericClientConstructor, status, type ServiceError } from '@grpc/grpc-js';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { otlpTypes } from '../../src/ingest/otlp/proto.ts';
import { createKey, startHarness, usage, type Harness } from '../support/platform.ts';

/**
 * OTLP/gRPC end to end: the real OTel SDK gRPC exporter (what vLLM, TGI and most collectors speak
 * by default) sends spans to a real `up` with server.otlp_grpc_port; the spans land and bill like
 * OTLP/HTTP ones, never as another tenant; metrics go through a raw gRPC client; keys are checked.
 */

const A = 'grpc-a';
const MAX_BODY_BYTES = 64 * 1024;
const B = 'grpc-b';

let h: Harness;
let target: string;
const keys = { aIngest: '', bIngest: '', aTenant: '' };

beforeAll(async () => {
  h = await startHarness({ config: { server: { otlp_grpc_port: 0, max_body_bytes: MAX_BODY_BYTES } } });
  target = `127.0.0.1:${h.platform.otlpGrpcPort}`;
  keys.aIngest = await createKey(h.baseUrl, A, 'ingest');
  keys.bIngest = await createKey(h.baseUrl, B, 'ingest');
  keys.aTenant = await createKey(h.baseUrl, A, 'tenant');
});

afterAll(async () => {
  await h?.close();
});

function makeSpans(attributes: Record<string, string | number>): ReadableSpan[] {
  const ended: ReadableSpan[] = [];
  const capture: SpanProcessor = { onStart() {}, onEnd: (s) => void ended.push(s), forceFlush: async () => {}, shutdown: async () => {} };
  const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 'grpc-llm' }), spanProcessors: [capture] });
  const span = provider.getTracer('grpc-llm.server').startSpan('chat m1', { kind: SpanKind.SERVER, attributes });
  span.setStatus({ code: SpanStatusCode.OK });
  span.end();
  return ended;
}

const INFERENCE = { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'm1', 'gen_ai.usage.input_tokens': 7, 'inferledger.cpu_seconds': 0.5 };

async function exportWith(key: string | undefined, spans: ReadableSpan[], compression: 'gzip' | 'none' = 'none'): Promise<ExportResult> {
  const metadata = new Metadata();
  if (key !== undefined) metadata.set('authorization', `Bearer ${key}`);
  const exporter = new OTLPTraceExporter({ url: `http://${target}`, metadata, compression: compression as never });
  try {
    return await new Promise((resolve) => exporter.export(spans, resolve));
  } finally {
    await exporter.shutdown();
  }
}

const count = z.object({ n: z.coerce.number() });
const spansWithId = async (spanId: string) =>
  (await h.platform.store.query({ query: 'SELECT count() AS n FROM otel_traces WHERE SpanId = {s:String}', params: { s: spanId }, schema: count }))[0]!.n;

describe('OTLP/gRPC (server.otlp_grpc_port)', () => {
  it("takes a real SDK gRPC exporter's spans, gzip'ed or not, and bills them to the key's tenant", async () => {
    const plain = makeSpans(INFERENCE);
    const zipped = makeSpans(INFERENCE);
    expect((await exportWith(keys.aIngest, plain)).code).toBe(ExportResultCode.SUCCESS);
    expect((await exportWith(keys.aIngest, zipped, 'gzip')).code).toBe(ExportResultCode.SUCCESS);
    expect(await spansWithId(plain[0]!.spanContext().spanId)).toBe(1);
    expect(await spansWithId(zipped[0]!.spanContext().spanId)).toBe(1);
    const u = await usage(h.baseUrl, keys.aTenant, A);
    expect(u.totals).toMatchObject({ requests: 2, input_tokens: 14, cpu_seconds: 1 });
  });

  it("never writes as another tenant: B's ingest key naming A is refused (partial success), A's usage does not move", async () => {
    const foreign = makeSpans({ ...INFERENCE, 'tenant.id': A });
    expect((await exportWith(keys.bIngest, foreign)).code).toBe(ExportResultCode.SUCCESS);
    expect(await spansWithId(foreign[0]!.spanContext().spanId)).toBe(0);
    expect((await usage(h.baseUrl, keys.aTenant, A)).totals.requests).toBe(2);
  });

  it('refuses a missing or unknown key with UNAUTHENTICATED, and a tenant key with PERMISSION_DENIED; nothing is stored', async () => {
    for (const [key, code] of [
      [undefined, status.UNAUTHENTICATED],
      ['il_ingest_not-a-real-key', status.UNAUTHENTICATED],
      [keys.aTenant, status.PERMISSION_DENIED],
    ] as const) {
      const spans = makeSpans(INFERENCE);
      const result = await exportWith(key, spans);
      expect(result.code).toBe(ExportResultCode.FAILED);
      expect((result.error as ServiceError | undefined)?.code).toBe(code);
      expect(await spansWithId(spans[0]!.spanContext().spanId)).toBe(0);
    }
  });

  /** A raw unary client for the Export methods, bytes in and out. */
  function rawExport(service: string, key: string, body: Buffer): Promise<{ err: ServiceError | null; res?: Buffer }> {
    const bytes = (b: Buffer) => b;
    const Client = makeGenericClientConstructor(
      { Export: { path: `/opentelemetry.proto.collector.${service}/Export`, requestStream: false, responseStream: false, requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes } },
      service,
    );
    const client = new Client(target, credentials.createInsecure());
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${key}`);
    return new Promise((resolve) =>
      (client as unknown as { Export: (b: Buffer, m: Metadata, cb: (err: ServiceError | null, res?: Buffer) => void) => void }).Export(body, metadata, (err, res) => {
        client.close();
        resolve({ err, res });
      }),
    );
  }

  it('takes metrics on the MetricsService, and answers a malformed message with INVALID_ARGUMENT', async () => {
    const { metricsRequest, metricsResponse } = otlpTypes();
    const now = `${Date.now()}000000`;
    const body = Buffer.from(
      metricsRequest
        .encode(
          metricsRequest.fromObject({
            resourceMetrics: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'grpc-llm' } }] }, scopeMetrics: [{ metrics: [{ name: 'grpc_test_queue', gauge: { dataPoints: [{ timeUnixNano: now, asDouble: 3 }] } }] }] }],
          }),
        )
        .finish(),
    );
    const ok = await rawExport('metrics.v1.MetricsService', keys.aIngest, body);
    expect(ok.err).toBeNull();
    expect(metricsResponse.toObject(metricsResponse.decode(ok.res!))).toEqual({});
    const [stored] = await h.platform.store.query({
      query: "SELECT count() AS n FROM otel_metrics_gauge WHERE MetricName = 'grpc_test_queue' AND ResourceAttributes['tenant.id'] = {t:String}",
      params: { t: A },
      schema: count,
    });
    expect(stored!.n).toBe(1);

    const bad = await rawExport('trace.v1.TraceService', keys.aIngest, Buffer.from([0x0a, 0xff, 0xff, 0xff]));
    expect(bad.err?.code).toBe(status.INVALID_ARGUMENT);

    // Over server.max_body_bytes: refused before it is decoded.
    const big = await rawExport('trace.v1.TraceService', keys.aIngest, Buffer.alloc(MAX_BODY_BYTES + 1));
    expect(big.err?.code).toBe(status.RESOURCE_EXHAUSTED);
  });
});
