import { createHash } from 'node:crypto';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_MODELS } from '../../src/config/load.ts';
import {
  ADMIN_KEY,
  bundledModelsConfig,
  call,
  createKey,
  expectErrorShape,
  inferBody,
  startHarness,
  usage,
  type CallResult,
  type Harness,
  type InferResponseBody,
} from '../support/platform.ts';

/**
 * The tenant-isolation contract (SPEC §3, §7, §9), run against every tenant-scoped route. Adding
 * a route is one line in ROUTES. Tenant A owns a resource on each route (its tenant path, or a
 * model only A may use); tenant B must not be able to tell it from something that does not exist.
 */

const A = 'iso-a';
const B = 'iso-b';
/** A logical model only A has (it resolves to a variant-only file). */
const A_PRIVATE_MODEL = 'classifier-a';
const A_PRIVATE_FILE = 'classifier-a-private';
const NOBODY = { tenant: 'no-such-tenant', model: 'no-such-model' };
/** The current UTC month: its statement is open, so every role that may read it gets a 200. */
const PERIOD = new Date().toISOString().slice(0, 7);

const largePath = BUNDLED_MODELS.find((m) => m.name === 'classifier-large')!.path;
const CONFIG = {
  sidecar: { trust_tenant_header: true },
  models: [...bundledModelsConfig(), { name: A_PRIVATE_FILE, path: largePath, version: '7' }],
  tenants: {
    [A]: { model_variants: { 'classifier-small': 'classifier-small-int8', [A_PRIVATE_MODEL]: A_PRIVATE_FILE } },
    [B]: {},
  },
};

let h: Harness;
const keys = { a: '', b: '', aIngest: '' };

beforeAll(async () => {
  h = await startHarness({ config: CONFIG });
  keys.a = await createKey(h.baseUrl, A);
  keys.b = await createKey(h.baseUrl, B);
  keys.aIngest = await createKey(h.baseUrl, A, 'ingest');
});

afterAll(async () => {
  await h?.close();
});

/** Whose resource a request targets: a tenant (path) and a model (OIP routes). */
interface Target {
  tenant: string;
  model: string;
}
const OF_A: Target = { tenant: A, model: A_PRIVATE_MODEL };

interface RouteCase {
  route: string;
  request: (t: Target) => { method: string; path: string; body?: unknown };
  /** Status for the owning tenant's own key (403: the tenant role may not call it at all). */
  owner: number;
  /** Status for the admin key without X-Tenant-Id. */
  admin: number;
  /** Inference routes: identity may come from a trusted gateway's X-Tenant-Id. */
  oip: boolean;
}

const ROUTES: RouteCase[] = [
  { route: 'GET /v1/tenants/{tenant}/usage', request: (t) => ({ method: 'GET', path: `/v1/tenants/${t.tenant}/usage` }), owner: 200, admin: 200, oip: false },
  { route: 'GET /v1/tenants/{tenant}/costs', request: (t) => ({ method: 'GET', path: `/v1/tenants/${t.tenant}/costs` }), owner: 200, admin: 200, oip: false },
  { route: 'GET /v1/tenants/{tenant}/costs?group_by=instance', request: (t) => ({ method: 'GET', path: `/v1/tenants/${t.tenant}/costs?group_by=instance` }), owner: 200, admin: 200, oip: false },
  ...(['json', 'csv', 'focus'] as const).map((format): RouteCase => ({
    route: `GET /v1/tenants/{tenant}/statements/{YYYY-MM}?format=${format}`,
    request: (t) => ({ method: 'GET', path: `/v1/tenants/${t.tenant}/statements/${PERIOD}?format=${format}` }),
    owner: 200,
    admin: 200,
    oip: false,
  })),
  // Admin only, and about every tenant: a tenant key is refused outright (its own data or not).
  { route: 'GET /v1/attribution', request: () => ({ method: 'GET', path: '/v1/attribution' }), owner: 403, admin: 200, oip: false },
  // Key lookups for standalone sidecars: admin only; no live key has this hash (the admin learns that).
  { route: 'POST /v1/keys/resolve', request: () => ({ method: 'POST', path: '/v1/keys/resolve', body: { key_hash: '0'.repeat(64) } }), owner: 403, admin: 404, oip: false },
  // Capacity is shared by every tenant: only the admin key may add samples (an empty batch here).
  { route: 'POST /v1/resource-samples', request: () => ({ method: 'POST', path: '/v1/resource-samples', body: {} }), owner: 403, admin: 200, oip: false },
  { route: 'POST /v1/tenants/{tenant}/keys', request: (t) => ({ method: 'POST', path: `/v1/tenants/${t.tenant}/keys`, body: { role: 'tenant' } }), owner: 403, admin: 201, oip: false },
  { route: 'GET /v1/tenants/{tenant}/keys', request: (t) => ({ method: 'GET', path: `/v1/tenants/${t.tenant}/keys` }), owner: 200, admin: 200, oip: false },
  // No live key has this id: the admin learns that (404), a tenant key is refused outright.
  { route: 'DELETE /v1/tenants/{tenant}/keys/{id}', request: (t) => ({ method: 'DELETE', path: `/v1/tenants/${t.tenant}/keys/0000000000000000` }), owner: 403, admin: 404, oip: false },
  // Inference needs a tenant: the bootstrap admin key names none, so it must send X-Tenant-Id.
  { route: 'GET /v2/models', request: () => ({ method: 'GET', path: '/v2/models' }), owner: 200, admin: 403, oip: true },
  { route: 'GET /v2/models/{model}', request: (t) => ({ method: 'GET', path: `/v2/models/${t.model}` }), owner: 200, admin: 403, oip: true },
  { route: 'GET /v2/models/{model}/ready', request: (t) => ({ method: 'GET', path: `/v2/models/${t.model}/ready` }), owner: 200, admin: 403, oip: true },
  { route: 'POST /v2/models/{model}/infer', request: (t) => ({ method: 'POST', path: `/v2/models/${t.model}/infer`, body: inferBody(1) }), owner: 200, admin: 403, oip: true },
];
const CASES = ROUTES.map((r) => [r.route, r] as const);

function send(r: RouteCase, target: Target, key: string | undefined, headers?: Record<string, string>): Promise<CallResult> {
  const { method, path, body } = r.request(target);
  return call(h.baseUrl, method, path, { key, body, headers });
}

/** The response with the identifiers the caller itself sent blanked out, for comparing two answers. */
function anonymised(res: CallResult, target: Target): string {
  return res.text.split(target.tenant).join('<tenant>').split(target.model).join('<model>');
}

function expectError(res: CallResult, status: number, code: string): void {
  expect(res.status, res.text).toBe(status);
  expect(expectErrorShape(res).code).toBe(code);
}

describe.each(CASES)('%s', (_route, r) => {
  it('no key → 401', async () => {
    expectError(await send(r, OF_A, undefined), 401, 'missing_key');
  });

  it('invalid key → 401', async () => {
    expectError(await send(r, OF_A, 'il_tenant_never-issued-never-issued-never-issued'), 401, 'invalid_key');
  });

  it('malformed Authorization → 401', async () => {
    expectError(await send(r, OF_A, undefined, { authorization: keys.a }), 401, 'missing_key');
  });

  it('ingest-role key (of the same tenant) → 403', async () => {
    expectError(await send(r, OF_A, keys.aIngest), 403, 'wrong_role');
  });

  it("the owner's key gets what SPEC allows it", async () => {
    const res = await send(r, OF_A, keys.a);
    expect(res.status, res.text).toBe(r.owner);
    if (r.owner >= 400) expectErrorShape(res);
  });

  it("tenant B's key on A's resource: the same answer as for one that does not exist (404 where B may call the route)", async () => {
    const onA = await send(r, OF_A, keys.b);
    const onNothing = await send(r, NOBODY, keys.b);
    expect(onA.status).toBe(onNothing.status);
    expect(anonymised(onA, OF_A)).toBe(anonymised(onNothing, NOBODY));
    if (r.owner < 400 && r.request(OF_A).path !== r.request(NOBODY).path) {
      expectError(onA, 404, expectErrorShape(onNothing).code);
    }
    // Never A's data: nothing A-specific appears beyond what B itself sent.
    expect(anonymised(onA, OF_A)).not.toContain(A_PRIVATE_FILE);
    expect(onA.text).not.toContain('classifier-small-int8');
  });

  it("B's key with X-Tenant-Id: A is still B (the header never upgrades a tenant key)", async () => {
    const spoofed = await send(r, OF_A, keys.b, { 'x-tenant-id': A });
    const plain = await send(r, OF_A, keys.b);
    expect(spoofed.status).toBe(plain.status);
    expect(anonymised(spoofed, OF_A)).toBe(anonymised(plain, OF_A));
  });

  it('admin without X-Tenant-Id gets what SPEC allows it', async () => {
    const res = await send(r, OF_A, ADMIN_KEY);
    expect(res.status, res.text).toBe(r.admin);
    if (r.admin >= 400) expectErrorShape(res);
  });

  it('X-Tenant-Id from a gateway key: acts as A on inference routes, ignored on API routes', async () => {
    for (const key of [keys.aIngest, ADMIN_KEY]) {
      const res = await send(r, OF_A, key, { 'x-tenant-id': A });
      // On API routes the header changes nothing: the key's own role decides.
      const expected = r.oip ? r.owner : key === ADMIN_KEY ? r.admin : 403;
      expect(res.status, res.text).toBe(expected);
    }
  });
});

const requestRow = z.object({ tenant_id: z.string(), model: z.string(), model_variant: z.string(), model_version: z.string(), n: z.coerce.number() });

async function requestRows(tenant: string) {
  await h.platform.flushTelemetry();
  return h.platform.store.query({
    query: `SELECT tenant_id, model, model_variant, model_version, count() AS n FROM requests FINAL
            WHERE tenant_id = {t:String} GROUP BY tenant_id, model, model_variant, model_version ORDER BY model, model_variant`,
    params: { t: tenant },
    schema: requestRow,
  });
}

async function served(tenant: string): Promise<number> {
  await h.platform.flushTelemetry();
  return (await usage(h.baseUrl, ADMIN_KEY, tenant)).totals.requests;
}

const inferAs = (key: string, model: string, headers?: Record<string, string>, rows = 1) =>
  call<InferResponseBody>(h.baseUrl, 'POST', `/v2/models/${model}/infer`, { key, body: inferBody(rows), headers });

describe('trusted tenant header: who is billed', () => {
  it('an ingest key + X-Tenant-Id: A infers as A (A grows, B does not)', async () => {
    const [a0, b0] = [await served(A), await served(B)];
    const res = await inferAs(keys.aIngest, 'classifier-large', { 'x-tenant-id': A });
    expect(res.status, res.text).toBe(200);
    expect([await served(A), await served(B)]).toEqual([a0 + 1, b0]);
  });

  it("B's tenant key + X-Tenant-Id: A is counted as B, never A", async () => {
    const [a0, b0] = [await served(A), await served(B)];
    const res = await inferAs(keys.b, 'classifier-small', { 'x-tenant-id': A });
    expect(res.status, res.text).toBe(200);
    expect([await served(A), await served(B)]).toEqual([a0, b0 + 1]);
    // And it ran B's model, not A's variant.
    const rows = await requestRows(B);
    expect(rows.some((row) => row.model_variant === 'classifier-small-int8')).toBe(false);
  });

  it('an invalid X-Tenant-Id from a gateway is a 400, and bills nobody', async () => {
    const [a0, b0] = [await served(A), await served(B)];
    for (const bad of ['ISO-A', 'a b', '', '-x']) {
      const res = await inferAs(keys.aIngest, 'classifier-small', { 'x-tenant-id': bad });
      expect(res.status, `${JSON.stringify(bad)}: ${res.text}`).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expectErrorShape(res);
    }
    expect([await served(A), await served(B)]).toEqual([a0, b0]);
  });
});

describe('tenant-specific model variants', () => {
  it('each tenant lists its own logical models; variant files stay private', async () => {
    const list = async (key: string) =>
      (await call<{ models: Array<{ name: string; versions: string[]; platform: string }> }>(h.baseUrl, 'GET', '/v2/models', { key })).body.models;
    const aModels = await list(keys.a);
    const bModels = await list(keys.b);
    expect(aModels.map((m) => m.name)).toEqual([A_PRIVATE_MODEL, 'classifier-large', 'classifier-small']);
    expect(bModels.map((m) => m.name)).toEqual(['classifier-large', 'classifier-small']);
    expect(aModels.find((m) => m.name === A_PRIVATE_MODEL)?.versions).toEqual(['7']);
    for (const m of [...aModels, ...bModels]) expect(m.platform).toBe('onnxruntime_onnx');

    for (const key of [keys.a, keys.b]) {
      for (const file of ['classifier-small-int8', A_PRIVATE_FILE]) {
        const res = await call(h.baseUrl, 'GET', `/v2/models/${file}`, { key });
        expectError(res, 404, 'model_not_found');
      }
    }
  });

  it("A's classifier-small runs the int8 variant, B's the float model; both answer as classifier-small", async () => {
    const rows = 32;
    const a = await inferAs(keys.a, 'classifier-small', undefined, rows);
    const b = await inferAs(keys.b, 'classifier-small', undefined, rows);
    expect(a.status, a.text).toBe(200);
    expect(b.status, b.text).toBe(200);
    expect(a.body.model_name).toBe('classifier-small');
    expect(b.body.model_name).toBe('classifier-small');
    const pa = a.body.outputs[0]!.data;
    const pb = b.body.outputs[0]!.data;
    expect(pa).toHaveLength(rows * 10);
    // Quantized, so not identical, but close to the float model it came from.
    const diffs = pa.map((p, i) => Math.abs(p - (pb[i] ?? 0)));
    expect(Math.max(...diffs)).toBeGreaterThan(0);
    expect(Math.max(...diffs)).toBeLessThan(0.05);

    const aRows = await requestRows(A);
    const bRows = await requestRows(B);
    const smallA = aRows.filter((row) => row.model === 'classifier-small');
    const smallB = bRows.filter((row) => row.model === 'classifier-small');
    expect(smallA.length).toBeGreaterThan(0);
    expect(smallB.length).toBeGreaterThan(0);
    expect(new Set(smallA.map((row) => row.model_variant))).toEqual(new Set(['classifier-small-int8']));
    expect(new Set(smallB.map((row) => row.model_variant))).toEqual(new Set(['classifier-small']));
  });

  it("A's private model is billed under its logical name with the variant file recorded", async () => {
    const res = await inferAs(keys.a, A_PRIVATE_MODEL);
    expect(res.status, res.text).toBe(200);
    expect(res.body.model_name).toBe(A_PRIVATE_MODEL);
    expect(res.body.model_version).toBe('7');
    const rows = (await requestRows(A)).filter((row) => row.model === A_PRIVATE_MODEL);
    expect(rows.map((row) => [row.model_variant, row.model_version])).toEqual([[A_PRIVATE_FILE, '7']]);
    expect(await requestRows(B)).not.toContainEqual(expect.objectContaining({ model: A_PRIVATE_MODEL }));

    const u = await call<{ groups: { by: string; entries: Array<{ key: string; requests: number }> } }>(
      h.baseUrl,
      'GET',
      `/v1/tenants/${A}/usage?group_by=variant`,
      { key: keys.a },
    );
    expect(u.status).toBe(200);
    expect(u.body.groups.by).toBe('variant');
    expect(u.body.groups.entries.map((e) => e.key)).toEqual(expect.arrayContaining(['classifier-small-int8', A_PRIVATE_FILE]));
    expect(u.body.groups.entries.map((e) => e.key)).not.toContain('classifier-small');
  });
});

describe('untrusted tenant header (sidecar.trust_tenant_header: false)', () => {
  it('a gateway key + X-Tenant-Id is refused, and a tenant key ignores the header', async () => {
    h = await h.restart({ ...CONFIG, sidecar: { trust_tenant_header: false } });
    const a0 = await served(A);
    for (const key of [keys.aIngest, ADMIN_KEY]) {
      expectError(await inferAs(key, 'classifier-small', { 'x-tenant-id': A }), 403, 'wrong_role');
    }
    const b0 = await served(B);
    expect((await inferAs(keys.b, 'classifier-small', { 'x-tenant-id': A })).status).toBe(200);
    expect([await served(A), await served(B)]).toEqual([a0, b0 + 1]);
  });
});

describe('OTLP ingest (POST /v1/traces, /v1/metrics): nobody writes as another tenant', () => {
  const spanOf = (spanId: string, tenant?: string) => ({
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId,
    name: 'chat',
    kind: 2,
    startTimeUnixNano: String(Date.now() * 1_000_000),
    endTimeUnixNano: String(Date.now() * 1_000_000 + 1_000_000),
    attributes: [
      { key: 'gen_ai.operation.name', value: { stringValue: 'chat' } },
      { key: 'gen_ai.request.model', value: { stringValue: 'otlp-model' } },
      ...(tenant ? [{ key: 'tenant.id', value: { stringValue: tenant } }] : []),
    ],
  });
  const traces = (spans: unknown[], resourceTenant?: string) => ({
    resourceSpans: [
      {
        resource: { attributes: resourceTenant ? [{ key: 'tenant.id', value: { stringValue: resourceTenant } }] : [] },
        scopeSpans: [{ spans }],
      },
    ],
  });
  const metrics = (resourceTenant?: string) => ({
    resourceMetrics: [
      {
        resource: { attributes: resourceTenant ? [{ key: 'tenant.id', value: { stringValue: resourceTenant } }] : [] },
        scopeMetrics: [{ metrics: [{ name: 'iso_gauge', gauge: { dataPoints: [{ timeUnixNano: String(Date.now() * 1_000_000), asDouble: 1 }] } }] }],
      },
    ],
  });
  const post = (path: string, key: string | undefined, body: unknown, headers?: Record<string, string>) => call(h.baseUrl, 'POST', path, { key, body, headers });

  it.each(['/v1/traces', '/v1/metrics'])('%s: no key, invalid key → 401; tenant keys (own or other) → 403', async (path) => {
    const body = path === '/v1/traces' ? traces([spanOf('a000000000000001')]) : metrics();
    expectError(await post(path, undefined, body), 401, 'missing_key');
    expectError(await post(path, 'il_ingest_never-issued-never-issued-never', body), 401, 'invalid_key');
    expectError(await post(path, keys.a, body), 403, 'wrong_role');
    expectError(await post(path, keys.b, body), 403, 'wrong_role');
  });

  it("A's ingest key: spans naming B (span or resource) are refused; unnamed ones are A's; X-Tenant-Id changes nothing", async () => {
    const [a0, b0] = [await served(A), await served(B)];
    const res = await post(
      '/v1/traces',
      keys.aIngest,
      { resourceSpans: [...traces([spanOf('a000000000000002', B), spanOf('a000000000000003')]).resourceSpans, ...traces([spanOf('a000000000000004')], B).resourceSpans] },
      { 'x-tenant-id': B },
    );
    expect(res.status, res.text).toBe(200);
    expect((res.body as { partialSuccess?: { rejectedSpans?: string } }).partialSuccess?.rejectedSpans).toBe('2');
    expect([await served(A), await served(B)]).toEqual([a0 + 1, b0]);
  });

  it("A's ingest key: metrics of a resource naming B are refused, never stored as B", async () => {
    const res = await post('/v1/metrics', keys.aIngest, metrics(B));
    expect(res.status, res.text).toBe(200);
    expect((res.body as { partialSuccess?: { rejectedDataPoints?: string } }).partialSuccess?.rejectedDataPoints).toBe('1');
    const rows = await h.platform.store.query({
      query: `SELECT count() AS n FROM otel_metrics_gauge WHERE MetricName = 'iso_gauge' AND ResourceAttributes['tenant.id'] = {t:String}`,
      params: { t: B },
      schema: z.object({ n: z.coerce.number() }),
    });
    expect(rows[0]?.n).toBe(0);
  });

  it('the admin key writes for the tenant a span names, and only that one', async () => {
    const [a0, b0] = [await served(A), await served(B)];
    const res = await post('/v1/traces', ADMIN_KEY, traces([spanOf('a000000000000005', B)]));
    expect(res.status, res.text).toBe(200);
    expect([await served(A), await served(B)]).toEqual([a0, b0 + 1]);
  });
});

describe('POST /v1/resource-samples: only the admin adds capacity, all or nothing', () => {
  const at = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
  const sample = (instance: string, over: Record<string, unknown> = {}) => ({
    ts: at(Date.now() - 1000),
    window_start: at(Date.now() - 11_000),
    instance_id: instance,
    host: 'node-9',
    service_name: 'inferledger-sidecar',
    cpu_capacity_millicores: 2000,
    memory_limit_bytes: '8589934592',
    cpu_used_us: '5000000',
    inference_cpu_us: '4000000',
    rss_bytes: '1073741824',
    gpu_count: 0,
    gpu_model: '',
    ...over,
  });
  const stored = async (instance: string) =>
    (
      await h.platform.store.query({
        query: 'SELECT count() AS n FROM resource_samples FINAL WHERE instance_id = {i:String}',
        params: { i: instance },
        schema: z.object({ n: z.coerce.number() }),
      })
    )[0]!.n;

  it('the admin key stores the rows; sending them again changes nothing', async () => {
    const body = { resource_samples: [sample('iso-sampled-1')] };
    for (let i = 0; i < 2; i++) {
      const res = await call(h.baseUrl, 'POST', '/v1/resource-samples', { key: ADMIN_KEY, body });
      expect(res.status, res.text).toBe(200);
      expect(res.body).toEqual({ accepted: { resource_samples: 1, gpu_samples: 0 } });
    }
    expect(await stored('iso-sampled-1')).toBe(1);
  });

  it('tenant and ingest keys are refused and write nothing', async () => {
    for (const key of [keys.a, keys.b, keys.aIngest]) {
      expectError(await call(h.baseUrl, 'POST', '/v1/resource-samples', { key, body: { resource_samples: [sample('iso-sampled-2')] } }), 403, 'wrong_role');
    }
    expect(await stored('iso-sampled-2')).toBe(0);
  });

  it('one bad row refuses the whole body, with the row named', async () => {
    const res = await call(h.baseUrl, 'POST', '/v1/resource-samples', {
      key: ADMIN_KEY,
      body: { resource_samples: [sample('iso-sampled-3'), sample('iso-sampled-3', { inference_cpu_us: '6000000' })] },
    });
    expectError(res, 400, 'invalid_samples');
    expect(expectErrorShape(res).message).toContain('resource_samples[1]: inference_cpu_us exceeds cpu_used_us');
    expect(await stored('iso-sampled-3')).toBe(0);
  });
});

describe('POST /v1/keys/resolve: a standalone sidecar learns the API\'s keys by their hash', () => {
  it("the admin gets a live key's tenant and role, never the key; a revoked one is not found", async () => {
    const created = await call<{ key: string; id: string }>(h.baseUrl, 'POST', `/v1/tenants/${A}/keys`, { key: ADMIN_KEY, body: { role: 'ingest' } });
    const hash = createHash('sha256').update(created.body.key).digest('hex');
    const res = await call(h.baseUrl, 'POST', '/v1/keys/resolve', { key: ADMIN_KEY, body: { key_hash: hash } });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ tenant: A, role: 'ingest' });
    expect(res.text).not.toContain(created.body.key);
    expect((await call(h.baseUrl, 'DELETE', `/v1/tenants/${A}/keys/${created.body.id}`, { key: ADMIN_KEY })).status).toBe(204);
    expectError(await call(h.baseUrl, 'POST', '/v1/keys/resolve', { key: ADMIN_KEY, body: { key_hash: hash } }), 404, 'key_not_found');
  });

  it('takes only a SHA-256 in hex', async () => {
    expectError(await call(h.baseUrl, 'POST', '/v1/keys/resolve', { key: ADMIN_KEY, body: { key_hash: keys.a } }), 400, 'invalid_request');
  });
});
