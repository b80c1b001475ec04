import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../errors.ts';
import { storeOrSpool } from '../row-sink.ts';
import { anyValueAsString } from './any-value.ts';
import type { AnyValue } from './model.ts';
import { otlpTypes } from './proto.ts';
import { createOtlpReceiver, decodeMetricsRequest, decodeTraceRequest } from './receiver.ts';
import { ResentExports } from './resent-exports.ts';
import { decideTenant, type OtlpSender } from './tenancy.ts';
import { planMetricRows } from './metric-rows.ts';
import { planTraceRows } from './trace-rows.ts';
import { encodingOf, inflate } from './transport.ts';

const TRACE = '5b8efff798038103d269b633813fc60c';
const SPAN = 'eee19b7ec3c1b174';
const PARENT = 'eee19b7ec3c1b173';
const START = '1700000000123456789';
const END = '1700000000623456790';
const INGEST: OtlpSender = { role: 'ingest', tenantId: 'acme' };
const ADMIN: OtlpSender = { role: 'admin' };

const str = (key: string, v: string) => ({ key, value: { stringValue: v } });
/** The JSON text of an AnyValue of arrays nested `depth` deep (JSON.stringify would overflow first). */
const nested = (depth: number): string => `${'{"arrayValue":{"values":['.repeat(depth)}{"stringValue":"x"}${']}}'.repeat(depth)}`;

/** One request in OTLP/JSON (hex ids, int64 as strings or numbers, enums as ints). */
function jsonRequest() {
  return {
    resourceSpans: [
      {
        resource: { attributes: [str('service.name', 'vllm'), { key: 'host.cpus', value: { intValue: 8 } }] },
        scopeSpans: [
          {
            scope: { name: 'vllm.server', version: '0.6.1' },
            spans: [
              {
                traceId: TRACE,
                spanId: SPAN,
                parentSpanId: PARENT,
                traceState: 'k=v',
                name: 'chat m1',
                kind: 2,
                startTimeUnixNano: START,
                endTimeUnixNano: END,
                attributes: [
                  str('gen_ai.operation.name', 'chat'),
                  { key: 'gen_ai.usage.input_tokens', value: { intValue: '12' } },
                  { key: 'ratio', value: { doubleValue: 0.25 } },
                  { key: 'ok', value: { boolValue: true } },
                  { key: 'blob', value: { bytesValue: Buffer.from('hi').toString('base64') } },
                  { key: 'list', value: { arrayValue: { values: [{ intValue: '1' }, { stringValue: 'a<b' }] } } },
                  { key: 'map', value: { kvlistValue: { values: [str('z', '1'), { key: 'a', value: { doubleValue: 2 } }] } } },
                ],
                events: [{ timeUnixNano: '1700000000200000000', name: 'first-token', attributes: [str('k', 'v')] }],
                links: [{ traceId: TRACE, spanId: PARENT, traceState: 'x=y', attributes: [str('rel', 'batch')] }],
                status: { code: 2, message: 'overloaded' },
              },
            ],
          },
        ],
      },
    ],
  };
}

/** The same request through protobufjs: ids as bytes, everything else the same. */
function protobufRequest(): Buffer {
  const hexToBytes = (v: unknown, key: string) => (['traceId', 'spanId', 'parentSpanId'].includes(key) && typeof v === 'string' ? Buffer.from(v, 'hex') : v);
  const withBytes = JSON.parse(JSON.stringify(jsonRequest()), function (this: unknown, key, value: unknown) {
    if (key === 'bytesValue' && typeof value === 'string') return Buffer.from(value, 'base64');
    return hexToBytes(value, key);
  }) as Record<string, unknown>;
  const type = otlpTypes().traceRequest;
  return Buffer.from(type.encode(type.fromObject(withBytes)).finish());
}

describe('decoding and mapping traces', () => {
  it('protobuf and JSON give identical rows', () => {
    const fromJson = planTraceRows(INGEST, decodeTraceRequest('json', Buffer.from(JSON.stringify(jsonRequest()))));
    const fromProto = planTraceRows(INGEST, decodeTraceRequest('protobuf', protobufRequest()));
    expect(fromJson.rows).toHaveLength(1);
    expect(fromProto.rows).toEqual(fromJson.rows);
  });

  it("maps a span to the exporter's columns", () => {
    const [row] = planTraceRows(INGEST, decodeTraceRequest('json', Buffer.from(JSON.stringify(jsonRequest())))).rows;
    expect(row).toEqual({
      Timestamp: '2023-11-14T22:13:20.123456789Z',
      TraceId: TRACE,
      SpanId: SPAN,
      ParentSpanId: PARENT,
      TraceState: 'k=v',
      SpanName: 'chat m1',
      SpanKind: 'Server',
      ServiceName: 'vllm',
      ResourceAttributes: { 'service.name': 'vllm', 'host.cpus': '8' },
      ScopeName: 'vllm.server',
      ScopeVersion: '0.6.1',
      SpanAttributes: {
        'gen_ai.operation.name': 'chat',
        'gen_ai.usage.input_tokens': '12',
        ratio: '0.25',
        ok: 'true',
        blob: 'aGk=',
        list: '[1,"a\\u003cb"]',
        map: '{"a":2,"z":"1"}',
        'tenant.id': 'acme',
      },
      Duration: '500000001',
      StatusCode: 'Error',
      StatusMessage: 'overloaded',
      'Events.Timestamp': ['2023-11-14T22:13:20.200000000Z'],
      'Events.Name': ['first-token'],
      'Events.Attributes': [{ k: 'v' }],
      'Links.TraceId': [TRACE],
      'Links.SpanId': [PARENT],
      'Links.TraceState': ['x=y'],
      'Links.Attributes': [{ rel: 'batch' }],
    });
  });

  it.each<[string, AnyValue | undefined, string]>([
    ['string', { stringValue: 'a b' }, 'a b'],
    ['bool', { boolValue: false }, 'false'],
    ['int64 beyond 2^53', { intValue: '9007199254740993' }, '9007199254740993'],
    ['double', { doubleValue: 1e21 }, '1e+21'],
    ['small double', { doubleValue: 1e-7 }, '1e-7'],
    ['NaN', { doubleValue: Number.NaN }, 'json: unsupported value: NaN'],
    ['bytes', { bytesValue: Buffer.from([0, 255]) }, 'AP8='],
    ['nested', { arrayValue: { values: [{ kvlistValue: { values: [{ key: 'b', value: { boolValue: true } }, { key: 'a' }] } }] } }, '[{"a":null,"b":true}]'],
    ['array holding NaN', { arrayValue: { values: [{ doubleValue: Number.NaN }] } }, ''],
    ['empty', {}, ''],
    ['absent', undefined, ''],
  ])('attribute value %s', (_name, value, expected) => {
    expect(anyValueAsString(value)).toBe(expected);
  });

  it('accepts enum names and numbers for 64-bit integers in JSON', () => {
    const req = jsonRequest();
    const span = req.resourceSpans[0]!.scopeSpans[0]!.spans[0]! as Record<string, unknown>;
    Object.assign(span, { kind: 'SPAN_KIND_CLIENT', startTimeUnixNano: 1700000000000000000, status: { code: 'STATUS_CODE_OK' } });
    const [row] = planTraceRows(INGEST, decodeTraceRequest('json', Buffer.from(JSON.stringify(req)))).rows;
    expect(row).toMatchObject({ SpanKind: 'Client', StatusCode: 'Ok', Timestamp: '2023-11-14T22:13:20.000000000Z' });
  });

  it.each<[string, string, Buffer]>([
    ['not JSON', 'json', Buffer.from('{"resourceSpans": [')],
    ['base64 trace id in JSON', 'json', Buffer.from(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'W47/95gDgQPSabYzgT/GDA==' }] }] }] }))],
    ['wrong type', 'json', Buffer.from(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ name: 5 }] }] }] }))],
    ['int64 out of range', 'json', Buffer.from(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ startTimeUnixNano: '18446744073709551616' }] }] }] }))],
    ['garbage protobuf', 'protobuf', Buffer.from('this is not protobuf at all, sorry')],
    ['truncated protobuf', 'protobuf', protobufRequest().subarray(0, 40)],
    // Found by dogfooding: valid JSON, but unstorable (it held up other tenants' batches in the
    // spool) or deep enough to overflow the validator's stack (a 500).
    ['a lone UTF-16 surrogate in a string', 'json', Buffer.from(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'm\ud800x' }] }] }] }))],
    ['a lone surrogate in a key', 'json', Buffer.from(JSON.stringify({ resourceSpans: [], ['k\udc00']: 1 }))],
    ['an attribute nested 10,000 deep', 'json', Buffer.from(`{"resourceSpans":[{"resource":{"attributes":[{"key":"deep","value":${nested(10_000)}}]}}]}`)],
  ])('malformed: %s → 400 invalid_otlp', (_name, encoding, body) => {
    expect(() => decodeTraceRequest(encoding as 'json' | 'protobuf', body)).toThrow(expect.objectContaining({ kind: 'invalid', code: 'invalid_otlp' }));
  });

  it('rejects protobuf ids of the wrong length as malformed', () => {
    const type = otlpTypes().traceRequest;
    const body = type.encode(type.fromObject({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: Buffer.alloc(15, 1), spanId: Buffer.alloc(8, 1) }] }] }] })).finish();
    expect(() => decodeTraceRequest('protobuf', Buffer.from(body))).toThrow(/traceId must be 16 bytes/);
  });

  it('refuses spans without ids or with unstorable times, and says why', () => {
    const req = jsonRequest();
    const spans = req.resourceSpans[0]!.scopeSpans[0]!.spans as Array<Record<string, unknown>>;
    spans.push({ ...spans[0], traceId: '' }, { ...spans[0], spanId: '0000000000000000' }, { ...spans[0], startTimeUnixNano: '9223372036854775808' });
    const plan = planTraceRows(INGEST, decodeTraceRequest('json', Buffer.from(JSON.stringify(req))));
    expect(plan.rows).toHaveLength(1);
    expect(plan.rejections.total).toBe(3);
    expect(plan.rejections.message('spans')).toContain('missing or all-zero traceId/spanId (2)');
    expect(plan.rejections.message('spans')).toContain('2262');
  });
});

describe('metered attributes and span times', () => {
  const START_MS = Number(BigInt(START) / 1_000_000n);
  const withAttribute = (key: string, value: Record<string, unknown>) => {
    const req = jsonRequest();
    const span = req.resourceSpans[0]!.scopeSpans[0]!.spans[0] as { attributes: unknown[] };
    span.attributes = [...span.attributes.filter((kv) => (kv as { key: string }).key !== key), { key, value }];
    return planTraceRows(INGEST, decodeTraceRequest('json', Buffer.from(JSON.stringify(req))));
  };

  // Found by hand: "inf" CPU seconds were stored saturated and billed $1.38 billion.
  it.each([
    ['inferledger.cpu_seconds', { stringValue: 'inf' }],
    ['inferledger.cpu_seconds', { stringValue: 'NaN' }],
    ['inferledger.cpu_seconds', { doubleValue: 1e15 }],
    ['inferledger.cpu_seconds', { stringValue: '1537' }], // more than 1,024 cores for the 0.5 s span (+1 s)
    ['inferledger.gpu_seconds', { stringValue: '97' }],
    ['gen_ai.usage.input_tokens', { intValue: '1000000001' }],
    ['gen_ai.usage.output_tokens', { stringValue: 'Infinity' }],
    // Found by a second look: a number past float range is Infinity to JS and +inf to ClickHouse.
    ['inferledger.cpu_seconds', { stringValue: '1e400' }],
    ['inferledger.gpu_seconds', { stringValue: '1e309' }],
    // Found by dogfooding: a double NaN or Infinity read as text ClickHouse takes for 0: billed 0, not refused.
    ['gen_ai.usage.input_tokens', { doubleValue: 'NaN' }],
    ['inferledger.cpu_seconds', { doubleValue: 'Infinity' }],
  ])('refuses %s = %j, saying which and why', (key, value) => {
    const plan = withAttribute(key, value);
    expect(plan.rows).toHaveLength(0);
    expect(plan.rejections.message('spans')).toContain(`${key} out of range`);
  });

  it.each([
    ['inferledger.cpu_seconds', { stringValue: '1.5' }],
    ['inferledger.cpu_seconds', { stringValue: 'not a number' }], // read as 0: billed nothing
    ['inferledger.gpu_seconds', { doubleValue: 0.4 }],
    ['gen_ai.usage.input_tokens', { intValue: '200000' }],
  ])('accepts %s = %j', (key, value) => {
    expect(withAttribute(key, value).rows).toHaveLength(1);
  });

  it('checks the value that is billed when a metered key repeats: the last one', () => {
    const req = jsonRequest();
    const span = req.resourceSpans[0]!.scopeSpans[0]!.spans[0] as { attributes: unknown[] };
    span.attributes.push({ key: 'inferledger.cpu_seconds', value: { doubleValue: 0.5 } }, { key: 'inferledger.cpu_seconds', value: { stringValue: 'inf' } });
    const plan = planTraceRows(INGEST, decodeTraceRequest('json', Buffer.from(JSON.stringify(req))));
    expect(plan.rows).toHaveLength(0);
    expect(plan.rejections.message('spans')).toContain('inferledger.cpu_seconds out of range (Infinity)');
    // ...and a harmless last value after a wild first one is what would be billed: accepted, stored as that.
    (span.attributes as unknown[]).splice(-2, 2, { key: 'inferledger.cpu_seconds', value: { stringValue: 'inf' } }, { key: 'inferledger.cpu_seconds', value: { doubleValue: 0.5 } });
    const ok = planTraceRows(INGEST, decodeTraceRequest('json', Buffer.from(JSON.stringify(req))));
    expect(ok.rows[0]!.SpanAttributes['inferledger.cpu_seconds']).toBe('0.5');
  });

  it('refuses spans older than the retention window or far ahead of the clock, when given one', () => {
    const plan = (notBeforeMs: number, notAfterMs: number) =>
      planTraceRows(INGEST, decodeTraceRequest('json', Buffer.from(JSON.stringify(jsonRequest()))), { notBeforeMs, notAfterMs });
    expect(plan(START_MS - 1, START_MS + 1000).rows).toHaveLength(1);
    expect(plan(START_MS + 1, START_MS + 10).rejections.message('spans')).toContain('older than the raw data retention');
    expect(plan(START_MS - 10, START_MS - 1).rejections.message('spans')).toContain('start time more than a day ahead of the server clock');
  });

  // Found by dogfooding: an end in 2262 raised the CPU and GPU ceilings (they grow with the
  // duration) far enough to bill $1.45 billion for one span.
  it('refuses a span whose end lies beyond the window, whatever its start', () => {
    const req = jsonRequest();
    const span = req.resourceSpans[0]!.scopeSpans[0]!.spans[0] as { endTimeUnixNano: string; attributes: unknown[] };
    span.endTimeUnixNano = '9223372036854775807';
    span.attributes.push({ key: 'inferledger.cpu_seconds', value: { doubleValue: 7e12 } });
    const plan = planTraceRows(INGEST, decodeTraceRequest('json', Buffer.from(JSON.stringify(req))), { notBeforeMs: START_MS - 1, notAfterMs: START_MS + 86_400_000 });
    expect(plan.rows).toHaveLength(0);
    expect(plan.rejections.message('spans')).toContain('end time more than a day ahead of the server clock');
  });
});

describe('tenant of a span', () => {
  const attrs = (t?: unknown) => (t === undefined ? [] : [{ key: 'tenant.id', value: typeof t === 'string' ? { stringValue: t } : { intValue: String(t) } }]);
  it.each<[string, OtlpSender, unknown, unknown, string | RegExp]>([
    ['ingest, unnamed → key tenant', INGEST, undefined, undefined, 'acme'],
    ['ingest, own tenant on the span', INGEST, undefined, 'acme', 'acme'],
    ['ingest, own tenant on the resource', INGEST, 'acme', undefined, 'acme'],
    ['ingest, another tenant on the span', INGEST, undefined, 'globex', /other than this key/],
    ['ingest, another tenant on the resource', INGEST, 'globex', undefined, /other than this key/],
    ['ingest, resource own, span another', INGEST, 'acme', 'globex', /different tenants/],
    ['admin, named on the span', ADMIN, undefined, 'globex', 'globex'],
    ['admin, named on the resource', ADMIN, 'globex', undefined, 'globex'],
    ['admin, unnamed', ADMIN, undefined, undefined, /missing tenant.id/],
    ['admin, invalid id', ADMIN, undefined, 'Not A Tenant', /invalid tenant.id/],
    ['admin, not a string', ADMIN, undefined, 42, /must be a string/],
  ])('%s', (_name, sender, onResource, onSpan, expected) => {
    const d = decideTenant(sender, attrs(onResource), attrs(onSpan));
    if (typeof expected === 'string') expect(d).toEqual({ ok: true, tenantId: expected });
    else expect(d.ok ? d.tenantId : d.reason).toMatch(expected);
  });
});

describe('metrics', () => {
  const now = '1700000000000000000';
  const request = {
    resourceMetrics: [
      {
        resource: { attributes: [str('service.name', 'dcgm')] },
        scopeMetrics: [
          {
            scope: { name: 'm', version: '1', attributes: [str('s', 't')] },
            metrics: [
              { name: 'gpu_util', unit: '1', gauge: { dataPoints: [{ timeUnixNano: now, asDouble: 0.5, attributes: [str('gpu', '0')] }] } },
              { name: 'reqs', sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: [{ timeUnixNano: now, asInt: '9007199254740993' }] } },
              { name: 'lat', histogram: { aggregationTemporality: 1, dataPoints: [{ timeUnixNano: now, count: '3', sum: 6, bucketCounts: ['1', '2'], explicitBounds: [2] }] } },
              { name: 'q', summary: { dataPoints: [{ timeUnixNano: now }, { timeUnixNano: now, count: '4', sum: 10, quantileValues: [{ quantile: 0.5, value: 2 }] }] } },
              { name: 'bad', gauge: { dataPoints: [{ timeUnixNano: now, asDouble: 'NaN' }] } },
            ],
          },
        ],
      },
    ],
  };

  /** The same request through protobufjs: hex ids as bytes, JSON's spellings of NaN and infinities as numbers. */
  function asProtobuf(req: unknown): Buffer {
    const type = otlpTypes().metricsRequest;
    const plain = JSON.parse(JSON.stringify(req), (key, value: unknown) => {
      if ((key === 'spanId' || key === 'traceId') && typeof value === 'string') return Buffer.from(value, 'hex');
      return value === 'NaN' || value === 'Infinity' || value === '-Infinity' ? Number(value) : value;
    }) as Record<string, unknown>;
    return Buffer.from(type.encode(type.fromObject(plain)).finish());
  }

  it("protobuf and JSON give identical rows; NaN is stored as ClickHouse's 'nan'", () => {
    const json = planMetricRows(INGEST, decodeMetricsRequest('json', Buffer.from(JSON.stringify(request))));
    const proto = planMetricRows(INGEST, decodeMetricsRequest('protobuf', asProtobuf(request)));
    for (const plan of [json, proto]) {
      expect([plan.gauge.length, plan.sum.length, plan.histogram.length, plan.exponentialHistogram.length, plan.summary.length]).toEqual([2, 1, 1, 0, 2]);
      expect(plan.rejections.total).toBe(0);
      expect(plan.gauge[1]).toMatchObject({ MetricName: 'bad', Value: 'nan' });
    }
    expect(proto.gauge).toEqual(json.gauge);
    expect(proto.sum).toEqual(json.sum);
    expect(proto.histogram).toEqual(json.histogram);
    expect(proto.summary).toEqual(json.summary);
    expect(json.gauge[0]).toMatchObject({ ResourceAttributes: { 'service.name': 'dcgm', 'tenant.id': 'acme' }, ServiceName: 'dcgm', MetricName: 'gpu_util', Value: 0.5, Attributes: { gpu: '0' }, ScopeAttributes: { s: 't' } });
    expect(json.sum[0]).toMatchObject({ AggregationTemporality: 2, IsMonotonic: true });
    expect(json.histogram[0]).toMatchObject({ Count: '3', Sum: 6, BucketCounts: ['1', '2'], ExplicitBounds: [2], AggregationTemporality: 1 });
    expect(json.summary[0]).toMatchObject({ Count: '0', Sum: 0, 'ValueAtQuantiles.Quantile': [], 'ValueAtQuantiles.Value': [], Flags: 0 });
  });

  const expHistogram = {
    name: 'ttft',
    description: 'time to first token',
    unit: 's',
    exponentialHistogram: {
      aggregationTemporality: 'AGGREGATION_TEMPORALITY_DELTA',
      dataPoints: [
        {
          attributes: [str('model', 'm1')],
          startTimeUnixNano: '1699999990000000000',
          timeUnixNano: 1700000000000000000,
          count: 9007199254740993,
          sum: 12.5,
          scale: -3,
          zeroCount: '2',
          positive: { offset: -2, bucketCounts: ['1', '18446744073709551615'] },
          negative: { offset: 5, bucketCounts: [3] },
          flags: 1,
          exemplars: [
            { timeUnixNano: '1699999995000000000', asDouble: 0.25, spanId: SPAN, traceId: TRACE, filteredAttributes: [str('user', 'u1')] },
            { timeUnixNano: '1699999996000000000', asInt: '7' },
          ],
          min: 0.01,
          max: 4,
          zeroThreshold: 1e-9,
        },
        { timeUnixNano: now, count: '1', sum: 'Infinity' },
        { timeUnixNano: '9223372036854775808', count: '1' },
        { timeUnixNano: now, count: '1', exemplars: [{ asDouble: '-Infinity' }] },
        { timeUnixNano: now },
      ],
    },
  };
  const summary = {
    name: 'latency',
    summary: {
      dataPoints: [
        {
          attributes: [str('route', '/chat')],
          startTimeUnixNano: '1699999990000000000',
          timeUnixNano: now,
          count: '42',
          sum: 8.75,
          quantileValues: [
            { quantile: 0, value: 0.01 },
            { quantile: 0.5, value: 0.2 },
            { quantile: 0.99, value: 1.5 },
          ],
          flags: 0,
        },
        { timeUnixNano: now, count: '1', quantileValues: [{ quantile: 0.5, value: 'NaN' }] },
      ],
    },
  };
  const expAndSummary = {
    resourceMetrics: [
      {
        resource: { attributes: [str('service.name', 'vllm')] },
        schemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
        scopeMetrics: [{ scope: { name: 'vllm.metrics', version: '0.6.1' }, schemaUrl: 'https://s', metrics: [expHistogram, summary] }],
      },
    ],
  };

  it("maps exponential histograms and summaries to the exporter's columns, non-finite numbers included; a time past 2262 is refused", () => {
    const plan = planMetricRows(INGEST, decodeMetricsRequest('json', Buffer.from(JSON.stringify(expAndSummary))));
    expect([plan.gauge.length, plan.sum.length, plan.histogram.length]).toEqual([0, 0, 0]);
    expect(plan.exponentialHistogram).toHaveLength(4);
    expect(plan.summary).toHaveLength(2);
    expect(plan.rejections.total).toBe(1);
    expect(plan.rejections.message('data points')).toBe('1 data points rejected: timestamp after 2262-04-11 (not storable) (1)');
    expect(plan.exponentialHistogram[1]).toMatchObject({ Sum: 'inf' });
    expect(plan.exponentialHistogram[2]).toMatchObject({ 'Exemplars.Value': ['-inf'] });
    expect(plan.summary[1]).toMatchObject({ 'ValueAtQuantiles.Quantile': [0.5], 'ValueAtQuantiles.Value': ['nan'] });
    const head = {
      ResourceAttributes: { 'service.name': 'vllm', 'tenant.id': 'acme' },
      ResourceSchemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
      ScopeName: 'vllm.metrics',
      ScopeVersion: '0.6.1',
      ScopeAttributes: {},
      ScopeDroppedAttrCount: 0,
      ScopeSchemaUrl: 'https://s',
      ServiceName: 'vllm',
    };
    expect(plan.exponentialHistogram[0]).toEqual({
      ...head,
      MetricName: 'ttft',
      MetricDescription: 'time to first token',
      MetricUnit: 's',
      Attributes: { model: 'm1' },
      StartTimeUnix: '2023-11-14T22:13:10.000000000Z',
      TimeUnix: '2023-11-14T22:13:20.000000000Z',
      Count: '9007199254740992',
      Sum: 12.5,
      Scale: -3,
      ZeroCount: '2',
      PositiveOffset: -2,
      PositiveBucketCounts: ['1', '18446744073709551615'],
      NegativeOffset: 5,
      NegativeBucketCounts: ['3'],
      'Exemplars.FilteredAttributes': [{ user: 'u1' }, {}],
      'Exemplars.TimeUnix': ['2023-11-14T22:13:15.000000000Z', '2023-11-14T22:13:16.000000000Z'],
      'Exemplars.Value': [0.25, 7],
      'Exemplars.SpanId': [SPAN, '0000000000000000'],
      'Exemplars.TraceId': [TRACE, '00000000000000000000000000000000'],
      Flags: 1,
      Min: 0.01,
      Max: 4,
      AggregationTemporality: 1,
    });
    // Absent fields are the proto3 defaults, as the exporter writes them.
    expect(plan.exponentialHistogram[3]).toMatchObject({
      Count: '0',
      Sum: 0,
      Scale: 0,
      ZeroCount: '0',
      PositiveOffset: 0,
      PositiveBucketCounts: [],
      NegativeOffset: 0,
      NegativeBucketCounts: [],
      'Exemplars.Value': [],
      Flags: 0,
      Min: 0,
      Max: 0,
      AggregationTemporality: 1,
    });
    expect(plan.summary[0]).toEqual({
      ...head,
      MetricName: 'latency',
      MetricDescription: '',
      MetricUnit: '',
      Attributes: { route: '/chat' },
      StartTimeUnix: '2023-11-14T22:13:10.000000000Z',
      TimeUnix: '2023-11-14T22:13:20.000000000Z',
      Count: '42',
      Sum: 8.75,
      'ValueAtQuantiles.Quantile': [0, 0.5, 0.99],
      'ValueAtQuantiles.Value': [0.01, 0.2, 1.5],
      Flags: 0,
    });
  });

  it('exponential histograms and summaries: protobuf gives the same rows as JSON', () => {
    const json = planMetricRows(INGEST, decodeMetricsRequest('json', Buffer.from(JSON.stringify(expAndSummary))));
    const proto = planMetricRows(INGEST, decodeMetricsRequest('protobuf', asProtobuf(expAndSummary)));
    expect(proto.exponentialHistogram).toEqual(json.exponentialHistogram);
    expect(proto.summary).toEqual(json.summary);
    expect(proto.rejections.message('data points')).toBe(json.rejections.message('data points'));
  });

  it.each<[string, Record<string, unknown>]>([
    ['scale not an int32', { exponentialHistogram: { dataPoints: [{ scale: 2 ** 31 }] } }],
    ['bucket count not an integer', { exponentialHistogram: { dataPoints: [{ positive: { bucketCounts: ['1.5'] } }] } }],
    ['negative zero count', { exponentialHistogram: { dataPoints: [{ zeroCount: '-1' }] } }],
    ['quantile not a number', { summary: { dataPoints: [{ quantileValues: [{ quantile: 'half' }] }] } }],
    ['base64 exemplar span id', { exponentialHistogram: { dataPoints: [{ exemplars: [{ spanId: '7uGbfsPBsXQ=' }] }] } }],
  ])('malformed JSON: %s → 400 invalid_otlp', (_name, metric) => {
    const body = Buffer.from(JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'x', ...metric }] }] }] }));
    expect(() => decodeMetricsRequest('json', body)).toThrow(expect.objectContaining({ kind: 'invalid', code: 'invalid_otlp' }));
  });

  // Found by dogfooding: a point naming another tenant was filed under the key's tenant as it was.
  it("refuses a data point whose own tenant.id is not its resource's; one that agrees is kept", () => {
    const point = (tenant: string) => ({ timeUnixNano: '1700000000000000000', asDouble: 1, attributes: [{ key: 'tenant.id', value: { stringValue: tenant } }] });
    const body = { resourceMetrics: [{ resource: { attributes: [] }, scopeMetrics: [{ metrics: [{ name: 'g', gauge: { dataPoints: [point('acme'), point('globex')] } }] }] }] };
    const plan = planMetricRows(INGEST, decodeMetricsRequest('json', Buffer.from(JSON.stringify(body))));
    expect(plan.gauge).toHaveLength(1);
    expect(plan.rejections.message('data points')).toContain("a data point's tenant.id names a tenant other than its resource's (1)");
  });

  it('admin: a resource without tenant.id is refused as a whole', () => {
    const plan = planMetricRows(ADMIN, decodeMetricsRequest('json', Buffer.from(JSON.stringify(request))));
    expect(plan.gauge).toHaveLength(0);
    expect(plan.summary).toHaveLength(0);
    expect(plan.rejections.total).toBe(6);
    expect(plan.rejections.onlyMissingTenant).toBe(true);
    const exp = planMetricRows(ADMIN, decodeMetricsRequest('json', Buffer.from(JSON.stringify(expAndSummary))));
    expect(exp.rejections.total).toBe(7);
    expect(exp.exponentialHistogram).toHaveLength(0);
  });
});

describe('transport', () => {
  it.each([
    ['application/x-protobuf', 'protobuf'],
    ['application/json; charset=utf-8', 'json'],
    ['Application/JSON', 'json'],
  ])('Content-Type %s', (ct, expected) => expect(encodingOf(ct)).toBe(expected));

  it.each([undefined, 'text/plain', 'application/protobuf', 'multipart/form-data'])('Content-Type %s → 415', (ct) => {
    expect(() => encodingOf(ct)).toThrow(expect.objectContaining({ kind: 'unsupported_media_type' }));
  });

  it('gunzips, and refuses a body that inflates past the limit (zip bomb) with 413', async () => {
    const body = Buffer.from(JSON.stringify(jsonRequest()));
    expect(await inflate(gzipSync(body), 'gzip', 1 << 20)).toEqual(body);
    expect(await inflate(body, undefined, 1 << 20)).toEqual(body);
    const bomb = gzipSync(Buffer.alloc(50 << 20));
    expect(bomb.length).toBeLessThan(100_000);
    await expect(inflate(bomb, 'gzip', 1 << 20)).rejects.toMatchObject({ kind: 'payload_too_large' });
    await expect(inflate(Buffer.from('not gzip'), 'gzip', 1 << 20)).rejects.toMatchObject({ kind: 'invalid', code: 'invalid_gzip' });
    await expect(inflate(body, 'br', 1 << 20)).rejects.toMatchObject({ kind: 'unsupported_media_type', code: 'unsupported_encoding' });
  });
});

describe('receiver', () => {
  const fakeSink = () => {
    const written: Array<[string, number]> = [];
    return { written, sink: { write: async (table: string, rows: readonly object[]) => void written.push([table, rows.length]) } };
  };

  it('answers in the encoding of the request, with partial success only when something was refused', async () => {
    const { sink, written } = fakeSink();
    const refused: Array<[string, number]> = [];
    const receiver = createOtlpReceiver({ sink, onRefused: (signal, n) => refused.push([signal, n]) });
    const ok = await receiver.exportTraces(INGEST, 'protobuf', protobufRequest());
    expect(ok).toMatchObject({ accepted: 1, rejected: 0 });
    expect((ok.body as Uint8Array).length).toBe(0);

    const req = jsonRequest();
    const spans = req.resourceSpans[0]!.scopeSpans[0]!.spans as Array<Record<string, unknown>>;
    spans.push({ ...spans[0], spanId: 'eee19b7ec3c1b175', attributes: [str('tenant.id', 'globex')] });
    const partial = await receiver.exportTraces(INGEST, 'json', Buffer.from(JSON.stringify(req)));
    expect(partial.body).toEqual({ partialSuccess: { rejectedSpans: '1', errorMessage: "1 spans rejected: tenant.id names a tenant other than this key's (1)" } });
    const asProto = await receiver.exportTraces(INGEST, 'protobuf', Buffer.from(otlpTypes().traceRequest.encode(otlpTypes().traceRequest.fromObject({})).finish()));
    expect(asProto.accepted).toBe(0);
    expect(written).toEqual([
      ['otel_traces', 1],
      ['otel_traces', 1],
      ['otel_traces', 0],
    ]);
    const decoded = otlpTypes().traceResponse.toObject(otlpTypes().traceResponse.decode(ok.body as Uint8Array));
    expect(decoded).toEqual({});
    // The refusal counter hears of every export, refused or not (inferledger_otlp_refused_total).
    expect(refused).toEqual([['spans', 0], ['spans', 1], ['spans', 0]]);
  });

  it('metrics: one write per table, exponential histograms and summaries included, all counted as accepted', async () => {
    const { sink, written } = fakeSink();
    const now = '1700000000000000000';
    const body = {
      resourceMetrics: [
        {
          scopeMetrics: [
            {
              metrics: [
                { name: 'g', gauge: { dataPoints: [{ timeUnixNano: now, asDouble: 1 }] } },
                { name: 'e', exponentialHistogram: { dataPoints: [{ timeUnixNano: now, count: '1' }, { timeUnixNano: now, sum: 'NaN' }] } },
                { name: 's', summary: { dataPoints: [{ timeUnixNano: now, count: '2' }, { timeUnixNano: now, count: '3' }] } },
              ],
            },
          ],
        },
      ],
    };
    const result = await createOtlpReceiver({ sink }).exportMetrics(INGEST, 'json', Buffer.from(JSON.stringify(body)));
    expect(result).toMatchObject({ accepted: 5, rejected: 0 });
    expect(result.body).toEqual({});
    expect(written).toEqual([
      ['otel_metrics_gauge', 1],
      ['otel_metrics_sum', 0],
      ['otel_metrics_histogram', 0],
      ['otel_metrics_exponential_histogram', 2],
      ['otel_metrics_summary', 2],
    ]);
  });

  it('admin without any tenant: 400 missing_tenant, nothing written', async () => {
    const { sink, written } = fakeSink();
    const err = await createOtlpReceiver({ sink })
      .exportTraces(ADMIN, 'json', Buffer.from(JSON.stringify(jsonRequest())))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ kind: 'invalid', code: 'missing_tenant' });
    expect(written).toEqual([]);
  });
});

describe('storeOrSpool', () => {
  it('spools what the store refuses, and fails only when both fail', async () => {
    const spooled: Array<[string, number]> = [];
    const down = { insert: () => Promise.reject(new Error('connection refused')) };
    await storeOrSpool(down, { append: (t, rows) => void spooled.push([t, rows.length]) }).write('otel_traces', [{}, {}]);
    expect(spooled).toEqual([['otel_traces', 2]]);
    const fullDisk = {
      append: () => {
        throw new Error('ENOSPC');
      },
    };
    await expect(storeOrSpool(down, fullDisk).write('otel_traces', [{}])).rejects.toMatchObject({ kind: 'unavailable' });
    await expect(storeOrSpool({ insert: () => Promise.resolve() }, fullDisk).write('otel_traces', [{}])).resolves.toBeUndefined();
  });
});

describe('metric exports re-sent byte for byte', () => {
  const now = '1700000000000000000';
  const metricsBody = (value: number) =>
    Buffer.from(JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'g', gauge: { dataPoints: [{ timeUnixNano: now, asDouble: value }] } }] }] }] }));
  const counting = () => {
    let rows = 0;
    let failNext = false;
    const sink = {
      write: async (_table: string, r: readonly object[]) => {
        if (failNext && r.length > 0) {
          failNext = false;
          throw new Error('store and spool both down');
        }
        rows += r.length;
      },
    };
    return { sink, rows: () => rows, failOnce: () => void (failNext = true) };
  };

  it('are stored once, and the repeat gets the same answer', async () => {
    const { sink, rows } = counting();
    const receiver = createOtlpReceiver({ sink });
    const first = await receiver.exportMetrics(INGEST, 'json', metricsBody(1));
    const again = await receiver.exportMetrics(INGEST, 'json', metricsBody(1));
    expect(again).toEqual(first);
    expect(rows()).toBe(1);
    await receiver.exportMetrics(INGEST, 'json', metricsBody(2)); // another point: stored
    expect(rows()).toBe(2);
  });

  it('a duplicate arriving while the first is still being written waits for it instead of writing', async () => {
    const { sink, rows } = counting();
    const receiver = createOtlpReceiver({ sink });
    const [a, b] = await Promise.all([receiver.exportMetrics(INGEST, 'json', metricsBody(1)), receiver.exportMetrics(INGEST, 'json', metricsBody(1))]);
    expect(a).toEqual(b);
    expect(rows()).toBe(1);
  });

  it('the same bytes from another sender are their own export', async () => {
    const { sink, rows } = counting();
    const receiver = createOtlpReceiver({ sink });
    await receiver.exportMetrics(INGEST, 'json', metricsBody(1));
    const admin = Buffer.from(metricsBody(1).toString().replace('"scopeMetrics"', '"resource":{"attributes":[{"key":"tenant.id","value":{"stringValue":"acme"}}]},"scopeMetrics"'));
    await receiver.exportMetrics(ADMIN, 'json', admin);
    await receiver.exportMetrics({ role: 'ingest', tenantId: 'globex' }, 'json', metricsBody(1));
    expect(rows()).toBe(3);
  });

  it('a failed write is forgotten, so its retry writes; after the window a repeat is stored again', async () => {
    const { sink, rows, failOnce } = counting();
    let clock = 0;
    const receiver = createOtlpReceiver({ sink, resent: { traces: new ResentExports(), metrics: new ResentExports(60_000, 1000, () => clock) } });
    failOnce();
    await expect(receiver.exportMetrics(INGEST, 'json', metricsBody(1))).rejects.toThrow('both down');
    await receiver.exportMetrics(INGEST, 'json', metricsBody(1));
    expect(rows()).toBe(1);
    clock = 59_999;
    await receiver.exportMetrics(INGEST, 'json', metricsBody(1));
    expect(rows()).toBe(1);
    clock = 60_000;
    await receiver.exportMetrics(INGEST, 'json', metricsBody(1));
    expect(rows()).toBe(2);
  });
});
