import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_KEY,
  call,
  callOnFreshConnection,
  createKey,
  expectErrorShape,
  infer,
  inferBody,
  startHarness,
  usage,
  type CallOptions,
  type Harness,
} from '../support/platform.ts';

/**
 * Bad input gets a clear 4xx JSON error and is never half-applied (SPEC §3, §7, §9): nothing is
 * written for a request that fails validation. Saturation is different: a rejected request gets
 * 429 + Retry-After, costs nothing, and *is* recorded (SPEC §3).
 */

const MAX_BODY_BYTES = 32 * 1024;
const TENANT = 'errs';
const QUEUE_TENANT = 'queue';

let h: Harness;
let tenantKey = '';
let ingestKey = '';
let queueKey = '';

beforeAll(async () => {
  h = await startHarness({
    config: {
      server: { max_body_bytes: MAX_BODY_BYTES },
      // One inference at a time and no waiting room: concurrent requests beyond one are refused.
      sidecar: { max_concurrency: 1, max_queue: 0 },
    },
  });
  tenantKey = await createKey(h.baseUrl, TENANT);
  ingestKey = await createKey(h.baseUrl, TENANT, 'ingest');
  queueKey = await createKey(h.baseUrl, QUEUE_TENANT);
});

afterAll(async () => {
  await h?.close();
});

interface BadRequest {
  name: string;
  method: string;
  path: string;
  opts: () => CallOptions;
  status: number;
  /** Expected error code, when the product fixes one. */
  code?: string;
  /** Send on a connection of its own: the server may answer before reading the body. */
  freshConnection?: boolean;
}

const input = (over: Record<string, unknown>) => ({ inputs: [{ ...inferBody(1).inputs[0], ...over }] });
const INFER_PATH = `/v2/models/classifier-small/infer`;
const asTenant = (o: CallOptions = {}) => () => ({ key: tenantKey, ...o });
const asIngest = (o: CallOptions = {}) => () => ({ key: ingestKey, ...o });
/** A valid OTLP/JSON trace export: one inference SERVER span with no tenant.id (an ingest key gives it its own). */
const otlpTraces = () => ({
  resourceSpans: [
    {
      scopeSpans: [
        {
          spans: [
            {
              traceId: '0af7651916cd43dd8448eb211c80319c',
              spanId: 'b7ad6b7169203331',
              name: 'chat',
              kind: 2,
              startTimeUnixNano: String(Date.now() * 1_000_000),
              endTimeUnixNano: String(Date.now() * 1_000_000 + 1_000_000),
              attributes: [
                { key: 'gen_ai.operation.name', value: { stringValue: 'chat' } },
                { key: 'gen_ai.request.model', value: { stringValue: 'm' } },
              ],
            },
          ],
        },
      ],
    },
  ],
});

const BAD_REQUESTS: BadRequest[] = [
  { name: 'unknown model', method: 'POST', path: '/v2/models/no-such-model/infer', opts: asTenant({ body: inferBody(1) }), status: 404, code: 'model_not_found' },
  { name: 'invalid model name in path', method: 'POST', path: '/v2/models/bad%20name!/infer', opts: asTenant({ body: inferBody(1) }), status: 400, code: 'invalid_request' },
  { name: 'wrong tensor shape (63 features)', method: 'POST', path: INFER_PATH, opts: asTenant({ body: input({ shape: [1, 63], data: new Array(63).fill(0.5) }) }), status: 400, code: 'shape_mismatch' },
  { name: 'wrong rank', method: 'POST', path: INFER_PATH, opts: asTenant({ body: input({ shape: [64] }) }), status: 400, code: 'shape_mismatch' },
  // Was a 500 after the model had run (and the request was charged): the outputs were not checked.
  { name: 'an output the model lacks', method: 'POST', path: INFER_PATH, opts: asTenant({ body: { ...inferBody(1), outputs: [{ name: 'logits' }] } }), status: 400, code: 'unknown_output' },
  { name: 'zero batch', method: 'POST', path: INFER_PATH, opts: asTenant({ body: input({ shape: [0, 64], data: [] }) }), status: 400, code: 'shape_mismatch' },
  { name: 'data shorter than shape', method: 'POST', path: INFER_PATH, opts: asTenant({ body: input({ shape: [2, 64] }) }), status: 400, code: 'shape_mismatch' },
  // Found by fuzzing: 2.7M of these (8 MB) ran the process out of memory building zod issues.
  { name: 'inputs: 5,000 empty objects', method: 'POST', path: INFER_PATH, opts: asTenant({ body: { inputs: new Array(5_000).fill({}) } }), status: 400, code: 'invalid_request' },
  { name: 'outputs: 5,000 empty objects', method: 'POST', path: INFER_PATH, opts: asTenant({ body: { ...inferBody(1), outputs: new Array(5_000).fill({}) } }), status: 400, code: 'invalid_request' },
  { name: 'wrong datatype', method: 'POST', path: INFER_PATH, opts: asTenant({ body: input({ datatype: 'FP64' }) }), status: 400, code: 'datatype_mismatch' },
  { name: 'unknown datatype', method: 'POST', path: INFER_PATH, opts: asTenant({ body: input({ datatype: 'COMPLEX' }) }), status: 400, code: 'datatype_mismatch' },
  { name: 'non-numeric data', method: 'POST', path: INFER_PATH, opts: asTenant({ body: input({ data: ['x', ...new Array(63).fill(0)] }) }), status: 400, code: 'invalid_data' },
  { name: 'value outside float32', method: 'POST', path: INFER_PATH, opts: asTenant({ body: input({ data: [1e39, ...new Array(63).fill(0)] }) }), status: 400, code: 'invalid_data' },
  { name: 'unknown input name', method: 'POST', path: INFER_PATH, opts: asTenant({ body: input({ name: 'pixels' }) }), status: 400, code: 'unknown_input' },
  { name: 'missing input (empty inputs)', method: 'POST', path: INFER_PATH, opts: asTenant({ body: { inputs: [] } }), status: 400, code: 'invalid_request' },
  { name: 'no inputs field', method: 'POST', path: INFER_PATH, opts: asTenant({ body: { outputs: [] } }), status: 400, code: 'invalid_request' },
  { name: 'body is a JSON array', method: 'POST', path: INFER_PATH, opts: asTenant({ body: [1, 2, 3] }), status: 400, code: 'invalid_request' },
  { name: 'malformed JSON', method: 'POST', path: INFER_PATH, opts: asTenant({ rawBody: '{"inputs": [' }), status: 400, code: 'invalid_json' },
  { name: 'empty body', method: 'POST', path: INFER_PATH, opts: asTenant({ rawBody: '' }), status: 400, code: 'invalid_json' },
  // Found by hand: a client pinning a version got "no route".
  { name: 'a version the model does not serve', method: 'GET', path: '/v2/models/classifier-small/versions/9', opts: asTenant(), status: 404, code: 'model_not_found' },
  { name: 'inference on a version the model does not serve', method: 'POST', path: '/v2/models/classifier-small/versions/9/infer', opts: asTenant({ body: inferBody(1) }), status: 404, code: 'model_not_found' },
  // Found by hand: tritonclient's default binary tensors were answered as malformed JSON.
  {
    name: 'a binary-tensor inference body (Triton extension)',
    method: 'POST',
    path: INFER_PATH,
    opts: asTenant({ rawBody: '{"inputs":[]}', headers: { 'inference-header-content-length': '13' } }),
    status: 415,
    code: 'binary_data_unsupported',
  },
  // Found by hand: a gzipped body was read as bytes and answered as malformed JSON.
  {
    name: 'a gzip-encoded inference body',
    method: 'POST',
    path: INFER_PATH,
    opts: asTenant({ rawBody: '{"inputs": []}', headers: { 'content-encoding': 'gzip' } }),
    status: 415,
    code: 'unsupported_encoding',
  },
  {
    name: 'too many input elements (declared by shape)',
    method: 'POST',
    path: INFER_PATH,
    opts: asTenant({ body: input({ shape: [20_000, 64], data: [] }) }),
    status: 413,
    code: 'too_large',
  },
  {
    name: 'oversized body (Content-Length over server.max_body_bytes)',
    method: 'POST',
    path: INFER_PATH,
    // Valid JSON, a valid request even: only its size is wrong.
    opts: asTenant({ rawBody: JSON.stringify(inferBody(1)) + ' '.repeat(MAX_BODY_BYTES) }),
    status: 413,
    code: 'payload_too_large',
    freshConnection: true,
  },
  { name: 'missing key', method: 'POST', path: INFER_PATH, opts: () => ({ body: inferBody(1) }), status: 401, code: 'missing_key' },
  { name: 'invalid key', method: 'POST', path: INFER_PATH, opts: () => ({ key: 'il_tenant_this-key-was-never-issued-000000', body: inferBody(1) }), status: 401, code: 'invalid_key' },
  { name: 'not a bearer header', method: 'POST', path: INFER_PATH, opts: () => ({ headers: { authorization: `Basic ${tenantKey}` }, body: inferBody(1) }), status: 401, code: 'missing_key' },
  // API routes
  { name: 'tenant key on an admin route', method: 'POST', path: `/v1/tenants/${TENANT}/keys`, opts: asTenant({ body: { role: 'tenant' } }), status: 403, code: 'wrong_role' },
  { name: 'admin: bad key role', method: 'POST', path: `/v1/tenants/${TENANT}/keys`, opts: () => ({ key: ADMIN_KEY, body: { role: 'admin' } }), status: 400, code: 'invalid_request' },
  { name: 'admin: JSON body sent as text/plain', method: 'POST', path: `/v1/tenants/${TENANT}/keys`, opts: () => ({ key: ADMIN_KEY, rawBody: '{"role":"tenant"}', headers: { 'content-type': 'text/plain' } }), status: 415, code: 'unsupported_media_type' },
  { name: 'admin: unknown field in key body', method: 'POST', path: `/v1/tenants/${TENANT}/keys`, opts: () => ({ key: ADMIN_KEY, body: { role: 'tenant', tenant: 'other' } }), status: 400, code: 'invalid_request' },
  { name: 'admin: oversized key body', method: 'POST', path: `/v1/tenants/${TENANT}/keys`, opts: () => ({ key: ADMIN_KEY, rawBody: '{"role":"tenant"}' + ' '.repeat(MAX_BODY_BYTES) }), status: 413, code: 'payload_too_large', freshConnection: true },
  { name: 'bad `from`', method: 'GET', path: `/v1/tenants/${TENANT}/usage?from=yesterday`, opts: asTenant(), status: 400, code: 'invalid_request' },
  { name: 'bad `to`', method: 'GET', path: `/v1/tenants/${TENANT}/usage?to=2024-13-45T99:00:00Z`, opts: asTenant(), status: 400, code: 'invalid_request' },
  { name: '`from` after `to`', method: 'GET', path: `/v1/tenants/${TENANT}/usage?from=2000&to=1000`, opts: asTenant(), status: 400, code: 'invalid_range' },
  { name: 'bad `step`', method: 'GET', path: `/v1/tenants/${TENANT}/usage?step=fortnight`, opts: asTenant(), status: 400, code: 'invalid_request' },
  { name: 'zero `step`', method: 'GET', path: `/v1/tenants/${TENANT}/usage?step=0`, opts: asTenant(), status: 400, code: 'invalid_step' },
  { name: 'too many points', method: 'GET', path: `/v1/tenants/${TENANT}/usage?from=0&to=86400000&step=1`, opts: asTenant(), status: 400, code: 'invalid_step' },
  // Costs are priced per hour: a 5-minute step was silently rounded to an hour.
  { name: 'a cost step that is not whole hours', method: 'GET', path: `/v1/tenants/${TENANT}/costs?step=5m`, opts: asTenant(), status: 400, code: 'invalid_step' },
  { name: 'bad group_by', method: 'GET', path: `/v1/tenants/${TENANT}/usage?group_by=tenant`, opts: asTenant(), status: 400, code: 'invalid_request' },
  { name: 'bad group_by on costs', method: 'GET', path: `/v1/tenants/${TENANT}/costs?group_by=tenant`, opts: asTenant(), status: 400, code: 'invalid_request' },
  { name: 'bad tenant id in path (tenant key)', method: 'GET', path: '/v1/tenants/Not_A%20Tenant/usage', opts: asTenant(), status: 400, code: 'invalid_request' },
  { name: 'bad tenant id in path (admin)', method: 'GET', path: '/v1/tenants/UPPER/usage', opts: () => ({ key: ADMIN_KEY }), status: 400, code: 'invalid_request' },
  { name: 'bad tenant id when creating a key', method: 'POST', path: '/v1/tenants/-leading-dash/keys', opts: () => ({ key: ADMIN_KEY, body: {} }), status: 400, code: 'invalid_request' },
  // OTLP receiver (every case carries a span that would be TENANT's if it were accepted)
  { name: 'OTLP: wrong Content-Type', method: 'POST', path: '/v1/traces', opts: asIngest({ rawBody: JSON.stringify(otlpTraces()), headers: { 'content-type': 'text/plain' } }), status: 415, code: 'unsupported_media_type' },
  { name: 'OTLP: no Content-Type', method: 'POST', path: '/v1/metrics', opts: asIngest({ rawBody: '{}', headers: { 'content-type': '' } }), status: 415, code: 'unsupported_media_type' },
  { name: 'OTLP: unsupported Content-Encoding', method: 'POST', path: '/v1/traces', opts: asIngest({ body: otlpTraces(), headers: { 'content-encoding': 'zstd' } }), status: 415, code: 'unsupported_encoding' },
  { name: 'OTLP: gzip header on a plain body', method: 'POST', path: '/v1/traces', opts: asIngest({ body: otlpTraces(), headers: { 'content-encoding': 'gzip' } }), status: 400, code: 'invalid_gzip' },
  { name: 'OTLP: malformed protobuf', method: 'POST', path: '/v1/traces', opts: asIngest({ rawBody: '\u0000\u00ff\u00ff\u00ff not protobuf', headers: { 'content-type': 'application/x-protobuf' } }), status: 400, code: 'invalid_otlp' },
  { name: 'OTLP: malformed JSON', method: 'POST', path: '/v1/traces', opts: asIngest({ rawBody: '{"resourceSpans": [' }), status: 400, code: 'invalid_otlp' },
  { name: 'OTLP: base64 ids in JSON', method: 'POST', path: '/v1/traces', opts: asIngest({ rawBody: JSON.stringify(otlpTraces()).replace('0af7651916cd43dd8448eb211c80319c', 'CvdlGRbNQ92ESOshHIAxnA==') }), status: 400, code: 'invalid_otlp' },
  { name: 'OTLP: admin key, span names no tenant', method: 'POST', path: '/v1/traces', opts: () => ({ key: ADMIN_KEY, body: otlpTraces() }), status: 400, code: 'missing_tenant' },
  { name: 'OTLP: oversized body', method: 'POST', path: '/v1/traces', opts: asIngest({ rawBody: JSON.stringify(otlpTraces()) + ' '.repeat(MAX_BODY_BYTES) }), status: 413, code: 'payload_too_large', freshConnection: true },
  { name: 'OTLP: missing key', method: 'POST', path: '/v1/traces', opts: () => ({ body: otlpTraces() }), status: 401, code: 'missing_key' },
  { name: 'OTLP: tenant-role key', method: 'POST', path: '/v1/traces', opts: asTenant({ body: otlpTraces() }), status: 403, code: 'wrong_role' },
  { name: 'OTLP metrics: tenant-role key', method: 'POST', path: '/v1/metrics', opts: asTenant({ body: { resourceMetrics: [] } }), status: 403, code: 'wrong_role' },
  { name: 'unknown route', method: 'GET', path: '/v1/nothing-here', opts: asTenant(), status: 404, code: 'not_found' },
  // A range of decades priced day by day ran the process out of memory; an instant past
  // ClickHouse's DateTime range came back as a 503 from the query.
  { name: 'costs over decades', method: 'GET', path: `/v1/tenants/${TENANT}/costs?from=0&to=4102444800000`, opts: asTenant(), status: 400, code: 'range_too_long' },
  { name: 'attribution over decades', method: 'GET', path: '/v1/attribution?from=1970-01-01T00:00:00Z&to=2099-01-01T00:00:00Z', opts: () => ({ key: ADMIN_KEY }), status: 400, code: 'range_too_long' },
  { name: 'an instant past 2100', method: 'GET', path: `/v1/tenants/${TENANT}/usage?from=0&to=8640000000000000&step=9999999d`, opts: asTenant(), status: 400, code: 'invalid_request' },
  // Found by hand: a 405 whose Allow listed the very method it refused.
  { name: 'a trailing slash', method: 'GET', path: `/v1/tenants/${TENANT}/usage/`, opts: asTenant(), status: 404, code: 'not_found' },
  { name: 'a known path with another method', method: 'DELETE', path: `/v1/tenants/${TENANT}/usage`, opts: asTenant(), status: 405, code: 'method_not_allowed' },
  { name: 'malformed JSON when creating a key', method: 'POST', path: `/v1/tenants/${TENANT}/keys`, opts: () => ({ key: ADMIN_KEY, rawBody: '{"role": ' }), status: 400, code: 'invalid_json' },
];

/** Oversized bodies go on their own connection: the server stops reading them and may then close it. */
function sendFresh(method: string, path: string, o: CallOptions) {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...o.headers };
  if (o.key) headers.authorization = `Bearer ${o.key}`;
  return callOnFreshConnection(h.baseUrl, method, path, { headers, chunks: [o.rawBody ?? JSON.stringify(o.body)] });
}

describe('bad requests: a 4xx JSON error, nothing written', () => {
  it.each(BAD_REQUESTS.map((r) => [r.name, r] as const))('%s', async (_name, r) => {
    const res = r.freshConnection ? await sendFresh(r.method, r.path, r.opts()) : await call(h.baseUrl, r.method, r.path, r.opts());
    expect(res.status, res.text).toBe(r.status);
    expect(res.headers.get('content-type')).toContain('application/json');
    const err = expectErrorShape(res);
    if (r.code) expect(err.code).toBe(r.code);
  });

  it('a body with many problems gets a bounded message: the first ten, then how many more', async () => {
    const res = await call(h.baseUrl, 'POST', INFER_PATH, asTenant({ body: { inputs: new Array(200).fill({}) } })());
    expect(res.status).toBe(400);
    const { message } = expectErrorShape(res);
    expect(message.length).toBeLessThan(2000);
    expect(message).toMatch(/; and \d+ more problems$/);
  });

  it('a 405 says which methods the path has (Allow), GET paths answering HEAD too', async () => {
    const usagePath = await call(h.baseUrl, 'PUT', `/v1/tenants/${TENANT}/usage`, asTenant()());
    expect(usagePath.status).toBe(405);
    expect(usagePath.headers.get('allow')).toBe('GET, HEAD');
    const keysPath = await call(h.baseUrl, 'PUT', `/v1/tenants/${TENANT}/keys`, { key: ADMIN_KEY });
    expect(keysPath.status).toBe(405);
    expect(keysPath.headers.get('allow')).toBe('GET, HEAD, POST');
    expect(expectErrorShape(keysPath).message).toBe(`PUT is not allowed on /v1/tenants/${TENANT}/keys; allowed: GET, HEAD, POST`);
    const keyPath = await call(h.baseUrl, 'GET', `/v1/tenants/${TENANT}/keys/0123456789abcdef`, { key: ADMIN_KEY });
    expect(keyPath.headers.get('allow')).toBe('DELETE');
  });

  it('a chunked body without Content-Length over the limit is also 413', async () => {
    const chunks = [JSON.stringify(inferBody(1)), ...new Array<string>(8).fill(' '.repeat(8 * 1024))];
    const res = await callOnFreshConnection(h.baseUrl, 'POST', INFER_PATH, {
      headers: { authorization: `Bearer ${tenantKey}`, 'content-type': 'application/json' },
      chunks,
      chunked: true,
    });
    expect(res.status, res.text).toBe(413);
    expect(expectErrorShape(res).code).toBe('payload_too_large');
  });

  it(`after all of them, ${TENANT} has no request rows and no spans`, async () => {
    await h.platform.flushTelemetry();
    const count = z.object({ n: z.coerce.number() });
    const [requests] = await h.platform.store.query({
      query: 'SELECT count() AS n FROM requests FINAL WHERE tenant_id = {t:String}',
      params: { t: TENANT },
      schema: count,
    });
    const [spans] = await h.platform.store.query({
      query: `SELECT count() AS n FROM otel_traces WHERE SpanAttributes['tenant.id'] = {t:String}`,
      params: { t: TENANT },
      schema: count,
    });
    expect(requests?.n).toBe(0);
    expect(spans?.n).toBe(0);
    const u = await usage(h.baseUrl, tenantKey, TENANT);
    expect(u.totals).toMatchObject({ requests: 0, errors: 0, rejected: 0, cpu_seconds: 0 });

    // The same ingest key and span do work over OTLP, and the key's tenant gets it.
    const otlp = await call(h.baseUrl, 'POST', '/v1/traces', { key: ingestKey, body: otlpTraces() });
    expect(otlp.status, otlp.text).toBe(200);
    expect((await usage(h.baseUrl, tenantKey, TENANT)).totals.requests).toBe(1);

    // The same key and model do work: the zero above is not because nothing could ever be written.
    const ok = await infer(h.baseUrl, tenantKey, 'classifier-small', 1);
    expect(ok.status, ok.text).toBe(200);
    await h.platform.flushTelemetry();
    expect((await usage(h.baseUrl, tenantKey, TENANT)).totals.requests).toBe(2);
  });
});

describe('OIP server metadata and version-scoped routes', () => {
  it('GET /v2 names the server; the model\'s own version serves metadata, readiness and inference', async () => {
    expect((await call(h.baseUrl, 'GET', '/v2')).body).toEqual({ name: 'inferledger', version: '0.1.0', extensions: [] });
    const meta = await call<{ name: string; versions: string[] }>(h.baseUrl, 'GET', '/v2/models/classifier-small/versions/1', { key: tenantKey });
    expect(meta.status, meta.text).toBe(200);
    expect(meta.body).toMatchObject({ name: 'classifier-small', versions: ['1'] });
    expect((await call(h.baseUrl, 'GET', '/v2/models/classifier-small/versions/1/ready', { key: tenantKey })).body).toEqual({ name: 'classifier-small', ready: true });
    const res = await call<{ model_version: string }>(h.baseUrl, 'POST', '/v2/models/classifier-small/versions/1/infer', { key: tenantKey, body: inferBody(1) });
    expect(res.status, res.text).toBe(200);
    expect(res.body.model_version).toBe('1');
  });
});

describe('admission queue (max_concurrency 1, max_queue 0)', () => {
  it('refuses what does not fit with 429 + Retry-After, serves the rest, and records both', async () => {
    let served = 0;
    let rejected = 0;
    // Concurrent bursts until both outcomes were seen (the first burst nearly always suffices).
    for (let round = 0; round < 5 && (served === 0 || rejected === 0); round++) {
      const results = await Promise.all(Array.from({ length: 16 }, () => infer(h.baseUrl, queueKey, 'classifier-large', 32)));
      for (const r of results) {
        if (r.status === 200) {
          served++;
          expect(r.body.model_name).toBe('classifier-large');
          continue;
        }
        expect(r.status, r.text).toBe(429);
        rejected++;
        const retryAfter = r.headers.get('retry-after');
        expect(retryAfter).toMatch(/^\d+$/);
        expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
        expect(r.headers.get('content-type')).toContain('application/json');
        expect(expectErrorShape(r).code).toBe('queue_full');
      }
    }
    expect(served).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);

    await h.platform.flushTelemetry();
    const u = await usage(h.baseUrl, queueKey, QUEUE_TENANT);
    expect(u.totals.requests).toBe(served);
    expect(u.totals.rejected).toBe(rejected);
    expect(u.totals.errors).toBe(0);
    expect(u.series.reduce((n, p) => n + p.rejected, 0)).toBe(rejected);

    // Rejections cost nothing: every CPU microsecond sits on a served request.
    const rows = await h.platform.store.query({
      query: `SELECT status, count() AS n, sum(cpu_us) AS cpu FROM requests FINAL WHERE tenant_id = {t:String} GROUP BY status ORDER BY status`,
      params: { t: QUEUE_TENANT },
      schema: z.object({ status: z.string(), n: z.coerce.number(), cpu: z.coerce.number() }),
    });
    expect(rows.map((r) => [r.status, r.n])).toEqual([
      ['ok', served],
      ['rejected', rejected],
    ]);
    expect(rows.find((r) => r.status === 'rejected')?.cpu).toBe(0);
  });
});
