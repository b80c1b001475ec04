import { gzipSync } from 'node:zlib';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otlpTypes } from '../../src/ingest/otlp/proto.ts';
import { hrTimeToNanos, spanToRow } from '../../src/telemetry/span-rows.ts';
import { ADMIN_KEY, call, callOnFreshConnection, createKey, expectErrorShape, startHarness, usage, type Harness } from '../support/platform.ts';

/**
 * The OTLP/HTTP receiver end to end (SPEC §4): a real OTel SDK exporter sends to /v1/traces with
 * an ingest key; the spans land in otel_traces, inference-shaped ones in `requests` and usage,
 * once however often they are sent, and never as another tenant.
 */

const A = 'otlp-a';
const B = 'otlp-b';
const MAX_BODY_BYTES = 64 * 1024;

let h: Harness;
const keys = { aIngest: '', bIngest: '', aTenant: '' };

beforeAll(async () => {
  h = await startHarness({ config: { server: { max_body_bytes: MAX_BODY_BYTES } } });
  keys.aIngest = await createKey(h.baseUrl, A, 'ingest');
  keys.bIngest = await createKey(h.baseUrl, B, 'ingest');
  keys.aTenant = await createKey(h.baseUrl, A, 'tenant');
});

afterAll(async () => {
  await h?.close();
});

/** Spans made by a real SDK tracer (as vLLM or a custom service would), kept for exporting by hand. */
function makeSpans(attributes: Record<string, string | number>, count = 1): ReadableSpan[] {
  const ended: ReadableSpan[] = [];
  const capture: SpanProcessor = {
    onStart() {},
    onEnd: (span) => void ended.push(span),
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'external-llm', 'service.instance.id': 'pod-7' }),
    spanProcessors: [capture],
  });
  const tracer = provider.getTracer('external-llm.server', '2.1.0');
  for (let i = 0; i < count; i++) {
    const span = tracer.startSpan('chat m1', { kind: SpanKind.SERVER, attributes });
    span.addEvent('first-token', { 'gen_ai.token.index': 0 });
    span.setStatus({ code: SpanStatusCode.OK });
    span.end();
  }
  return ended;
}

const INFERENCE = {
  'gen_ai.operation.name': 'chat',
  'gen_ai.request.model': 'm1',
  'gen_ai.usage.input_tokens': 12,
  'gen_ai.usage.output_tokens': 30,
  'inferledger.cpu_seconds': 0.25,
};

function exportWith(key: string, spans: ReadableSpan[]): Promise<ExportResult> {
  const exporter = new OTLPTraceExporter({ url: `${h.baseUrl}/v1/traces`, headers: { authorization: `Bearer ${key}` } });
  return new Promise((resolve) => exporter.export(spans, resolve));
}

const count = z.object({ n: z.coerce.number() });
async function countWhere(query: string, params: Record<string, unknown>): Promise<number> {
  const [row] = await h.platform.store.query({ query, params, schema: count });
  return row?.n ?? 0;
}
const spansWithId = (spanId: string) => countWhere('SELECT count() AS n FROM otel_traces WHERE SpanId = {s:String}', { s: spanId });
const requestsWithId = (spanId: string) => countWhere('SELECT count() AS n FROM requests FINAL WHERE span_id = {s:String}', { s: spanId });

describe('POST /v1/traces from a real OTel SDK exporter (protobuf)', () => {
  const spans = makeSpans(INFERENCE);
  const spanId = spans[0]!.spanContext().spanId;

  it('stores the span exactly as the ClickHouse writer would, stamped with the key tenant', async () => {
    const result = await exportWith(keys.aIngest, spans);
    expect(result.code, String(result.error)).toBe(ExportResultCode.SUCCESS);

    const [stored] = await h.platform.store.query({
      query: `SELECT TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, ScopeName, ScopeVersion, toString(Duration) AS Duration,
                     StatusCode, StatusMessage, SpanAttributes, ResourceAttributes, Events.Name AS EventNames, Events.Attributes AS EventAttributes,
                     toString(toUnixTimestamp64Nano(Timestamp)) AS StartNanos
              FROM otel_traces WHERE SpanId = {s:String}`,
      params: { s: spanId },
    });
    const expected = spanToRow(spans[0]!);
    expect(stored).toEqual({
      TraceId: expected.TraceId,
      SpanId: expected.SpanId,
      ParentSpanId: '',
      SpanName: 'chat m1',
      SpanKind: 'Server',
      ServiceName: 'external-llm',
      ScopeName: 'external-llm.server',
      ScopeVersion: '2.1.0',
      Duration: expected.Duration,
      StatusCode: 'Ok',
      StatusMessage: '',
      SpanAttributes: { ...expected.SpanAttributes, 'tenant.id': A },
      ResourceAttributes: expected.ResourceAttributes,
      EventNames: ['first-token'],
      EventAttributes: [{ 'gen_ai.token.index': '0' }],
      StartNanos: hrTimeToNanos(spans[0]!.startTime).toString(),
    });
  });

  it('an inference-shaped SERVER span becomes a request of the tenant (requests, usage)', async () => {
    expect(await requestsWithId(spanId)).toBe(1);
    const u = await usage(h.baseUrl, keys.aTenant, A);
    expect(u.totals).toMatchObject({ requests: 1, input_tokens: 12, output_tokens: 30, cpu_seconds: 0.25 });
    expect(u.by_model.map((m) => m.model)).toEqual(['m1']);
  });

  it('the same span sent twice counts once', async () => {
    // The exporter's retry of the same export (same bytes) is not stored again at all.
    expect((await exportWith(keys.aIngest, spans)).code).toBe(ExportResultCode.SUCCESS);
    expect(await spansWithId(spanId)).toBe(1);
    // In another export (other bytes) it is stored, as it arrived, and still billed once.
    const other = makeSpans({ note: 'not an inference' });
    expect((await exportWith(keys.aIngest, [...spans, ...other])).code).toBe(ExportResultCode.SUCCESS);
    expect(await spansWithId(spanId)).toBe(2); // raw spans keep what arrived
    expect(await requestsWithId(spanId)).toBe(1);
    expect((await usage(h.baseUrl, keys.aTenant, A)).totals.requests).toBe(1);
  });

  it("B's ingest key cannot write as A: the span is refused, A's usage does not move", async () => {
    const foreign = makeSpans({ ...INFERENCE, 'tenant.id': A });
    // Partial success is not an export failure in OTLP: the exporter reports success.
    expect((await exportWith(keys.bIngest, foreign)).code).toBe(ExportResultCode.SUCCESS);
    expect(await spansWithId(foreign[0]!.spanContext().spanId)).toBe(0);
    expect((await usage(h.baseUrl, keys.aTenant, A)).totals.requests).toBe(1);
    expect((await usage(h.baseUrl, ADMIN_KEY, B)).totals.requests).toBe(0);
  });

  it('a protobuf request gets a protobuf ExportTraceServiceResponse with the partial success', async () => {
    const res = await fetch(`${h.baseUrl}/v1/traces`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.bIngest}`, 'content-type': 'application/x-protobuf' },
      body: new Uint8Array(protobufBody(A)),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-protobuf');
    const type = otlpTypes().traceResponse;
    const decoded = type.toObject(type.decode(new Uint8Array(await res.arrayBuffer())), { longs: String });
    expect(decoded).toEqual({ partialSuccess: { rejectedSpans: '1', errorMessage: "1 spans rejected: tenant.id names a tenant other than this key's (1)" } });
    expect(await spansWithId('5000000000000001')).toBe(0);
  });
});

/** One span naming `tenant`, encoded with the vendored protos. */
function protobufBody(tenant: string): Buffer {
  const type = otlpTypes().traceRequest;
  const now = String(BigInt(Date.now()) * 1_000_000n);
  const span = {
    traceId: Buffer.alloc(16, 5),
    spanId: Buffer.from('5000000000000001', 'hex'),
    name: 'x',
    startTimeUnixNano: now,
    endTimeUnixNano: now,
    attributes: [{ key: 'tenant.id', value: { stringValue: tenant } }],
  };
  return Buffer.from(type.encode(type.fromObject({ resourceSpans: [{ scopeSpans: [{ spans: [span] }] }] })).finish());
}

function jsonSpan(spanId: string, attributes: Array<{ key: string; value: { stringValue: string } }>) {
  const now = BigInt(Date.now()) * 1_000_000n;
  return {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId,
    name: 'chat m1',
    kind: 2,
    startTimeUnixNano: now.toString(),
    endTimeUnixNano: (now + 2_000_000n).toString(),
    attributes: [{ key: 'gen_ai.operation.name', value: { stringValue: 'chat' } }, { key: 'gen_ai.request.model', value: { stringValue: 'm2' } }, ...attributes],
  };
}
const jsonBody = (spans: unknown[], resourceAttrs: unknown[] = []) => ({ resourceSpans: [{ resource: { attributes: resourceAttrs }, scopeSpans: [{ spans }] }] });
const tenantAttr = (t: string) => ({ key: 'tenant.id', value: { stringValue: t } });
const postJson = (key: string | undefined, body: unknown, headers: Record<string, string> = {}) =>
  call(h.baseUrl, 'POST', '/v1/traces', { key, rawBody: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });

describe('POST /v1/traces with OTLP/JSON', () => {
  it('partial success counts: own and unnamed spans accepted, the other tenant refused', async () => {
    const res = await postJson(keys.aIngest, jsonBody([jsonSpan('1000000000000001', []), jsonSpan('1000000000000002', [tenantAttr(A)]), jsonSpan('1000000000000003', [tenantAttr(B)])]));
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ partialSuccess: { rejectedSpans: '1', errorMessage: "1 spans rejected: tenant.id names a tenant other than this key's (1)" } });
    expect([await requestsWithId('1000000000000001'), await requestsWithId('1000000000000002'), await spansWithId('1000000000000003')]).toEqual([1, 1, 0]);
  });

  it('gzip bodies are accepted; all accepted → empty response', async () => {
    const body = gzipSync(Buffer.from(JSON.stringify(jsonBody([jsonSpan('1000000000000004', [])]))));
    const res = await fetch(`${h.baseUrl}/v1/traces`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.aIngest}`, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
    expect(await requestsWithId('1000000000000004')).toBe(1);
  });

  it('the admin key writes for the tenant each span names (span or resource attribute)', async () => {
    const res = await postJson(ADMIN_KEY, jsonBody([jsonSpan('2000000000000001', [tenantAttr(B)]), jsonSpan('2000000000000002', [])], [tenantAttr(A)]));
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ partialSuccess: { rejectedSpans: '1', errorMessage: expect.stringMatching(/different tenants/) } });
    const rows = await h.platform.store.query({
      query: `SELECT span_id, tenant_id FROM requests FINAL WHERE span_id IN ('2000000000000001', '2000000000000002')`,
      schema: z.object({ span_id: z.string(), tenant_id: z.string() }),
    });
    expect(rows).toEqual([{ span_id: '2000000000000002', tenant_id: A }]);
  });

  // Found by hand: a tenant only a collector knew was charged idle and overhead by attribution,
  // yet its costs and statement were 404 to the admin.
  it('a tenant known only from the spans the admin key wrote is readable by the admin once rolled up, and only by the admin', async () => {
    const ghost = 'only-in-spans';
    const res = await postJson(ADMIN_KEY, jsonBody([jsonSpan('2000000000000003', [tenantAttr(ghost)])]));
    expect(res.status, res.text).toBe(200);
    await h.platform.runRollup();
    for (const path of [`/v1/tenants/${ghost}/usage`, `/v1/tenants/${ghost}/costs`, `/v1/tenants/${ghost}/statements/${new Date().toISOString().slice(0, 7)}`]) {
      expect((await call(h.baseUrl, 'GET', path, { key: ADMIN_KEY })).status, path).toBe(200);
      const other = await call(h.baseUrl, 'GET', path, { key: keys.aTenant });
      expect(other.status, path).toBe(404);
      expect(expectErrorShape(other).code).toBe('tenant_not_found');
    }
    expect((await usage(h.baseUrl, ADMIN_KEY, ghost)).totals.requests).toBe(1);
  });

  it('the admin key without any tenant.id: 400 missing_tenant, nothing written', async () => {
    const res = await postJson(ADMIN_KEY, jsonBody([jsonSpan('3000000000000001', [])]));
    expect(res.status, res.text).toBe(400);
    expect(expectErrorShape(res).code).toBe('missing_tenant');
    expect(await spansWithId('3000000000000001')).toBe(0);
  });
});

describe('POST /v1/traces: 4xx', () => {
  const valid = () => JSON.stringify(jsonBody([jsonSpan('4000000000000001', [])]));
  it.each<[string, () => Promise<{ status: number; body: unknown; text: string; headers: Headers }>, number, string]>([
    ['415: text/plain', () => call(h.baseUrl, 'POST', '/v1/traces', { key: keys.aIngest, rawBody: valid(), headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type'],
    ['415: Content-Encoding br', () => postJson(keys.aIngest, JSON.parse(valid()), { 'content-encoding': 'br' }), 415, 'unsupported_encoding'],
    ['400: malformed protobuf', () => call(h.baseUrl, 'POST', '/v1/traces', { key: keys.aIngest, rawBody: '\u00ff\u00ff\u00ff garbage', headers: { 'content-type': 'application/x-protobuf' } }), 400, 'invalid_otlp'],
    ['400: malformed JSON', () => call(h.baseUrl, 'POST', '/v1/traces', { key: keys.aIngest, rawBody: '{"resourceSpans":[', headers: { 'content-type': 'application/json' } }), 400, 'invalid_otlp'],
    ['401: no key', () => postJson(undefined, JSON.parse(valid())), 401, 'missing_key'],
    ['401: invalid key', () => postJson('il_ingest_never-issued-never-issued-never', JSON.parse(valid())), 401, 'invalid_key'],
    ['403: tenant key', () => postJson(keys.aTenant, JSON.parse(valid())), 403, 'wrong_role'],
  ])('%s', async (_name, send, status, code) => {
    const res = await send();
    expect(res.status, res.text).toBe(status);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(expectErrorShape(res).code).toBe(code);
  });

  it('413: a body over server.max_body_bytes', async () => {
    const res = await callOnFreshConnection(h.baseUrl, 'POST', '/v1/traces', {
      headers: { authorization: `Bearer ${keys.aIngest}`, 'content-type': 'application/json' },
      chunks: [valid() + ' '.repeat(MAX_BODY_BYTES)],
    });
    expect(res.status, res.text).toBe(413);
    expect(expectErrorShape(res).code).toBe('payload_too_large');
  });

  it('413: a small gzip body that inflates past the limit', async () => {
    const bomb = gzipSync(Buffer.from(valid().replace('{', `{"pad":"${'x'.repeat(MAX_BODY_BYTES * 4)}",`)));
    expect(bomb.length).toBeLessThan(MAX_BODY_BYTES);
    const res = await fetch(`${h.baseUrl}/v1/traces`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.aIngest}`, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: bomb,
    });
    expect(res.status).toBe(413);
    expect(await spansWithId('4000000000000001')).toBe(0);
  });
});

describe('POST /v1/metrics', () => {
  it('stores gauge, sum, histogram, exponential histogram and summary points as the tenant', async () => {
    const now = (BigInt(Date.now()) * 1_000_000n).toString();
    const body = {
      resourceMetrics: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'dcgm' } }] },
          scopeMetrics: [
            {
              metrics: [
                { name: 'otlp_test_gpu_util', gauge: { dataPoints: [{ timeUnixNano: now, asDouble: 0.75, attributes: [{ key: 'gpu', value: { stringValue: '0' } }] }] } },
                { name: 'otlp_test_requests', sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: [{ timeUnixNano: now, asInt: '42' }] } },
                { name: 'otlp_test_latency', histogram: { aggregationTemporality: 2, dataPoints: [{ timeUnixNano: now, count: '3', sum: 0.6, bucketCounts: ['1', '2'], explicitBounds: [0.1] }] } },
                { name: 'otlp_test_ttft', exponentialHistogram: { aggregationTemporality: 1, dataPoints: [{ timeUnixNano: now, count: '5', sum: 1.5 }] } },
                { name: 'otlp_test_summary', summary: { dataPoints: [{ timeUnixNano: now, count: '4', sum: 2.5 }] } },
              ],
            },
          ],
        },
      ],
    };
    const res = await call(h.baseUrl, 'POST', '/v1/metrics', { key: keys.aIngest, body });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({});
    const rows = await h.platform.store.query({
      query: `SELECT MetricName AS name, toString(v) AS value, ResourceAttributes['tenant.id'] AS tenant FROM (
                SELECT MetricName, Value AS v, ResourceAttributes FROM otel_metrics_gauge
                UNION ALL SELECT MetricName, Value, ResourceAttributes FROM otel_metrics_sum
                UNION ALL SELECT MetricName, Sum, ResourceAttributes FROM otel_metrics_histogram
                UNION ALL SELECT MetricName, Sum, ResourceAttributes FROM otel_metrics_exponential_histogram
                UNION ALL SELECT MetricName, Sum, ResourceAttributes FROM otel_metrics_summary)
              WHERE name LIKE 'otlp_test_%' ORDER BY name`,
      schema: z.object({ name: z.string(), value: z.string(), tenant: z.string() }),
    });
    expect(rows).toEqual([
      { name: 'otlp_test_gpu_util', value: '0.75', tenant: A },
      { name: 'otlp_test_latency', value: '0.6', tenant: A },
      { name: 'otlp_test_requests', value: '42', tenant: A },
      { name: 'otlp_test_summary', value: '2.5', tenant: A },
      { name: 'otlp_test_ttft', value: '1.5', tenant: A },
    ]);
  });

  it('exponential histograms and summaries land column for column, by protobuf and JSON; a bad point is refused with a reason', async () => {
    const t0 = BigInt(Date.now()) * 1_000_000n;
    const start = (t0 - 10_000_000_000n).toString();
    const now = t0.toString();
    const traceId = '5b8efff798038103d269b633813fc6aa';
    const spanId = 'eee19b7ec3c1b1aa';
    const request = (suffix: string) => ({
      resourceMetrics: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'vllm' } }] },
          scopeMetrics: [
            {
              scope: { name: 'vllm.metrics', version: '0.6.1' },
              metrics: [
                {
                  name: `otlp_exp_${suffix}`,
                  unit: 's',
                  exponentialHistogram: {
                    aggregationTemporality: 2,
                    dataPoints: [
                      {
                        attributes: [{ key: 'model', value: { stringValue: 'm1' } }],
                        startTimeUnixNano: start,
                        timeUnixNano: now,
                        count: '18',
                        sum: 7.25,
                        scale: -2,
                        zeroCount: '1',
                        positive: { offset: -1, bucketCounts: ['2', '0', '18446744073709551615'] },
                        negative: { offset: 3, bucketCounts: ['4'] },
                        flags: 1,
                        min: -9.5,
                        max: 3.25,
                        exemplars: [{ timeUnixNano: now, asDouble: 0.5, spanId, traceId, filteredAttributes: [{ key: 'user', value: { stringValue: 'u1' } }] }],
                      },
                      { timeUnixNano: now, count: '1', sum: 'NaN' },
                    ],
                  },
                },
                {
                  name: `otlp_sum_${suffix}`,
                  summary: {
                    dataPoints: [
                      {
                        attributes: [{ key: 'route', value: { stringValue: '/chat' } }],
                        startTimeUnixNano: start,
                        timeUnixNano: now,
                        count: '42',
                        sum: 8.75,
                        quantileValues: [
                          { quantile: 0.5, value: 0.2 },
                          { quantile: 0.99, value: 1.5 },
                        ],
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
    });
    // Everything is accepted, the NaN sum too (stored as NaN, as the collector's exporter does).
    const partial = {};

    const json = await call(h.baseUrl, 'POST', '/v1/metrics', { key: keys.aIngest, body: request('json') });
    expect(json.status, json.text).toBe(200);
    expect(json.body).toEqual(partial);

    const type = otlpTypes().metricsRequest;
    const plain = JSON.parse(JSON.stringify(request('proto')), (key, value: unknown) => {
      if ((key === 'spanId' || key === 'traceId') && typeof value === 'string') return Buffer.from(value, 'hex');
      return value === 'NaN' ? Number.NaN : value;
    }) as Record<string, unknown>;
    const proto = await fetch(`${h.baseUrl}/v1/metrics`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.aIngest}`, 'content-type': 'application/x-protobuf' },
      body: Buffer.from(type.encode(type.fromObject(plain)).finish()),
    });
    expect(proto.status).toBe(200);
    const protoResponse = otlpTypes().metricsResponse;
    expect(protoResponse.toObject(protoResponse.decode(new Uint8Array(await proto.arrayBuffer())), { longs: String })).toEqual(partial);

    const expRows = await h.platform.store.query({
      query: `SELECT MetricName AS name, ResourceAttributes['tenant.id'] AS tenant, ServiceName AS service, ScopeName AS scope, MetricUnit AS unit,
                Attributes AS attributes, toUnixTimestamp64Nano(StartTimeUnix) AS start, toUnixTimestamp64Nano(TimeUnix) AS time,
                Count AS count, Sum AS sum, Scale AS scale, ZeroCount AS zeroCount, PositiveOffset AS positiveOffset,
                PositiveBucketCounts AS positive, NegativeOffset AS negativeOffset, NegativeBucketCounts AS negative,
                Exemplars.Value AS exemplarValues, Exemplars.SpanId AS exemplarSpans, Exemplars.TraceId AS exemplarTraces,
                Exemplars.FilteredAttributes AS exemplarAttributes, Flags AS flags, Min AS min, Max AS max, AggregationTemporality AS temporality
              FROM otel_metrics_exponential_histogram WHERE MetricName LIKE 'otlp_exp_%' AND NOT isNaN(Sum) ORDER BY name`,
    });
    const nanSums = await h.platform.store.query<{ name: string; count: string }>({
      query: `SELECT MetricName AS name, Count AS count FROM otel_metrics_exponential_histogram
              WHERE MetricName LIKE 'otlp_exp_%' AND isNaN(Sum) ORDER BY name`,
    });
    expect(nanSums).toEqual([
      { name: 'otlp_exp_json', count: '1' },
      { name: 'otlp_exp_proto', count: '1' },
    ]);
    const expected = {
      tenant: A,
      service: 'vllm',
      scope: 'vllm.metrics',
      unit: 's',
      attributes: { model: 'm1' },
      start,
      time: now,
      count: '18',
      sum: 7.25,
      scale: -2,
      zeroCount: '1',
      positiveOffset: -1,
      positive: ['2', '0', '18446744073709551615'],
      negativeOffset: 3,
      negative: ['4'],
      exemplarValues: [0.5],
      exemplarSpans: [spanId],
      exemplarTraces: [traceId],
      exemplarAttributes: [{ user: 'u1' }],
      flags: 1,
      min: -9.5,
      max: 3.25,
      temporality: 2,
    };
    expect(expRows).toEqual([
      { name: 'otlp_exp_json', ...expected },
      { name: 'otlp_exp_proto', ...expected },
    ]);

    const summaryRows = await h.platform.store.query({
      query: `SELECT MetricName AS name, ResourceAttributes['tenant.id'] AS tenant, Attributes AS attributes,
                toUnixTimestamp64Nano(StartTimeUnix) AS start, toUnixTimestamp64Nano(TimeUnix) AS time, Count AS count, Sum AS sum,
                ValueAtQuantiles.Quantile AS quantiles, ValueAtQuantiles.Value AS values, Flags AS flags
              FROM otel_metrics_summary WHERE MetricName LIKE 'otlp_sum_%' ORDER BY name`,
    });
    const summary = { tenant: A, attributes: { route: '/chat' }, start, time: now, count: '42', sum: 8.75, quantiles: [0.5, 0.99], values: [0.2, 1.5], flags: 0 };
    expect(summaryRows).toEqual([
      { name: 'otlp_sum_json', ...summary },
      { name: 'otlp_sum_proto', ...summary },
    ]);
  });

  it('same transport and key rules as traces', async () => {
    const tenantKey = await call(h.baseUrl, 'POST', '/v1/metrics', { key: keys.aTenant, body: { resourceMetrics: [] } });
    expect(tenantKey.status).toBe(403);
    const wrongType = await call(h.baseUrl, 'POST', '/v1/metrics', { key: keys.aIngest, rawBody: '{}', headers: { 'content-type': 'text/csv' } });
    expect(wrongType.status).toBe(415);
    const noTenant = await call(h.baseUrl, 'POST', '/v1/metrics', {
      key: ADMIN_KEY,
      body: { resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'x', gauge: { dataPoints: [{ asDouble: 1 }] } }] }] }] },
    });
    expect(noTenant.status, noTenant.text).toBe(400);
    expect(expectErrorShape(noTenant).code).toBe('missing_tenant');
  });
});

describe('OpenAPI', () => {
  it('lists both OTLP routes with their binary and JSON bodies', async () => {
    const res = await call<{ paths: Record<string, { post?: { requestBody?: { content?: Record<string, unknown> } } }> }>(h.baseUrl, 'GET', '/openapi.json');
    for (const path of ['/v1/traces', '/v1/metrics']) {
      expect(Object.keys(res.body.paths[path]?.post?.requestBody?.content ?? {})).toEqual(['application/x-protobuf', 'application/json']);
    }
  });
});
