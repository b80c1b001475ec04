import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_KEY,
  call,
  expectErrorShape,
  infer,
  startHarness,
  usage,
  waitFor,
  type Harness,
  type UsageBody,
} from '../support/platform.ts';

/**
 * The acceptance, walked as a new user would: an operator with INFERLEDGER_ADMIN_KEY set
 * creates keys for two tenants, one tenant sends OIP v2 inference, reads its usage, the other
 * tenant cannot see it, and nothing changes across a restart on the same data directory.
 * No flushTelemetry() here: spans reach ClickHouse through the normal batch timer.
 */

const A = 'tenant-a';
const B = 'tenant-b';
const SMALL_REQUESTS = 20;
const LARGE_REQUESTS = 5;

let h: Harness;
const keys: Record<string, string> = {};

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.close();
});

async function usageWhen(key: string, tenant: string, requests: number): Promise<UsageBody> {
  return waitFor(async () => {
    const u = await usage(h.baseUrl, key, tenant);
    return u.totals.requests >= requests ? u : undefined;
  }, `${requests} requests in ${tenant}'s usage`);
}

function expectSeriesToMatchTotals(u: UsageBody): void {
  const sum = (pick: (p: UsageBody['series'][number]) => number) => u.series.reduce((n, p) => n + pick(p), 0);
  expect(sum((p) => p.requests)).toBe(u.totals.requests);
  expect(sum((p) => p.errors)).toBe(u.totals.errors);
  expect(sum((p) => p.rejected)).toBe(u.totals.rejected);
  // Seconds are microsecond-exact decimals; compare in integer microseconds.
  expect(Math.round(sum((p) => p.cpu_seconds) * 1e6)).toBe(Math.round(u.totals.cpu_seconds * 1e6));
  for (const p of u.series) expect(Number.isNaN(Date.parse(p.t))).toBe(false);
}

describe('acceptance: keys, inference, usage, isolation, restart', () => {
  it('the admin creates a tenant key for A and for B (201, shown once)', async () => {
    for (const tenant of [A, B]) {
      const res = await call<{ key: string; role: string; tenant: string }>(h.baseUrl, 'POST', `/v1/tenants/${tenant}/keys`, {
        key: ADMIN_KEY,
        body: { role: 'tenant' },
      });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ key: expect.any(String), id: expect.stringMatching(/^[0-9a-f]{16}$/), role: 'tenant', tenant });
      expect(res.body.key.length).toBeGreaterThanOrEqual(32);
      keys[tenant] = res.body.key;
    }
    expect(keys[A]).not.toBe(keys[B]);
  });

  it(`A runs ${SMALL_REQUESTS} inferences on classifier-small and ${LARGE_REQUESTS} on classifier-large`, async () => {
    const plan = [
      ...Array.from({ length: SMALL_REQUESTS }, (_, i) => ({ model: 'classifier-small', rows: 1 + (i % 4) })),
      ...Array.from({ length: LARGE_REQUESTS }, (_, i) => ({ model: 'classifier-large', rows: 2 + i })),
    ];
    for (const { model, rows } of plan) {
      const res = await infer(h.baseUrl, keys[A]!, model, rows);
      expect(res.status, res.text).toBe(200);
      expect(res.body.model_name).toBe(model);
      const [out] = res.body.outputs;
      expect(out?.shape).toEqual([rows, 10]);
      expect(out?.datatype).toBe('FP32');
      // Softmax output: each row is a probability distribution.
      const first = out!.data.slice(0, 10).reduce((a, b) => a + b, 0);
      expect(first).toBeCloseTo(1, 4);
    }
  });

  it("A's usage shows 25 requests (20/5 by model), no errors, CPU seconds and latency percentiles", async () => {
    const u = await usageWhen(keys[A]!, A, SMALL_REQUESTS + LARGE_REQUESTS);
    expect(u.tenant).toBe(A);
    expect(u.totals.requests).toBe(SMALL_REQUESTS + LARGE_REQUESTS);
    expect(u.totals.errors).toBe(0);
    expect(u.totals.rejected).toBe(0);
    expect(u.totals.cpu_seconds).toBeGreaterThan(0);
    expect(u.totals.gpu_seconds).toBe(0);
    expect(Date.parse(u.from)).toBeLessThan(Date.parse(u.to));

    const byModel = Object.fromEntries(u.by_model.map((m) => [m.model, m]));
    expect(Object.keys(byModel).sort()).toEqual(['classifier-large', 'classifier-small']);
    expect(byModel['classifier-small']?.requests).toBe(SMALL_REQUESTS);
    expect(byModel['classifier-large']?.requests).toBe(LARGE_REQUESTS);
    for (const m of u.by_model) {
      expect(m.errors).toBe(0);
      expect(m.p50_ms).toEqual(expect.any(Number));
      expect(m.p50_ms!).toBeGreaterThan(0);
      expect(m.p95_ms!).toBeGreaterThanOrEqual(m.p50_ms!);
      expect(m.p99_ms!).toBeGreaterThanOrEqual(m.p95_ms!);
    }
    const cpuByModel = u.by_model.reduce((n, m) => n + Math.round(m.cpu_seconds * 1e6), 0);
    expect(cpuByModel).toBe(Math.round(u.totals.cpu_seconds * 1e6));
    expectSeriesToMatchTotals(u);
  });

  it('the admin sees the same usage for A; B has none of it', async () => {
    const mine = await usage(h.baseUrl, keys[A]!, A);
    const asAdmin = await usage(h.baseUrl, ADMIN_KEY, A);
    expect(asAdmin.totals).toEqual(mine.totals);
    expect(asAdmin.by_model).toEqual(mine.by_model);

    const b = await usage(h.baseUrl, keys[B]!, B);
    expect(b.totals.requests).toBe(0);
    expect(b.by_model).toEqual([]);
  });

  it("B gets 404 with a JSON error for A's usage, indistinguishable from a tenant that does not exist", async () => {
    const res = await call(h.baseUrl, 'GET', `/v1/tenants/${A}/usage`, { key: keys[B] });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/json');
    const err = expectErrorShape(res);
    expect(res.text).not.toContain('classifier');
    expect(res.text).not.toContain('requests');

    const ghost = await call(h.baseUrl, 'GET', '/v1/tenants/no-such-tenant/usage', { key: keys[B] });
    expect(ghost.status).toBe(404);
    expect(expectErrorShape(ghost).code).toBe(err.code);
  });

  it('after a restart on the same data directory the counts are unchanged and the keys still work', async () => {
    const before = await usage(h.baseUrl, ADMIN_KEY, A);
    h = await h.restart();

    const after = await usage(h.baseUrl, keys[A]!, A);
    expect(after.totals).toEqual(before.totals);
    expect(after.by_model.map((m) => [m.model, m.requests])).toEqual([
      ['classifier-large', LARGE_REQUESTS],
      ['classifier-small', SMALL_REQUESTS],
    ]);
    expectSeriesToMatchTotals(after);

    expect((await call(h.baseUrl, 'GET', `/v1/tenants/${A}/usage`, { key: keys[B] })).status).toBe(404);
    expect((await usage(h.baseUrl, keys[B]!, B)).totals.requests).toBe(0);

    // The key still infers after the restart, and the new request is counted on top.
    const res = await infer(h.baseUrl, keys[A]!, 'classifier-small', 1);
    expect(res.status, res.text).toBe(200);
    const grown = await usageWhen(keys[A]!, A, SMALL_REQUESTS + LARGE_REQUESTS + 1);
    expect(grown.totals.requests).toBe(SMALL_REQUESTS + LARGE_REQUESTS + 1);
    expect(grown.by_model.find((m) => m.model === 'classifier-small')?.requests).toBe(SMALL_REQUESTS + 1);
  });
});

describe('public endpoints', () => {
  it('GET /healthz and /readyz answer 200 JSON without a key', async () => {
    const live = await call<{ status: string }>(h.baseUrl, 'GET', '/healthz');
    expect(live.status).toBe(200);
    expect(live.body).toEqual({ status: 'ok' });
    const ready = await call<{ status: string; checks: Record<string, boolean> }>(h.baseUrl, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('ok');
    expect(ready.body.checks).toEqual({ clickhouse: true, spool: true });
  });

  it('GET /openapi.json is an OpenAPI 3.1 document listing the routes', async () => {
    const res = await call<{ openapi: string; info: { title: string }; paths: Record<string, Record<string, unknown>> }>(
      h.baseUrl,
      'GET',
      '/openapi.json',
    );
    expect(res.status).toBe(200);
    expect(res.body.openapi).toMatch(/^3\.1\./);
    expect(res.body.info.title).toBe('inferledger');
    const routes = Object.entries(res.body.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(routes).toEqual(
      expect.arrayContaining([
        'GET /healthz',
        'GET /readyz',
        'POST /v1/tenants/{tenant}/keys',
        'GET /v1/tenants/{tenant}/usage',
        'GET /v2/health/live',
        'GET /v2/health/ready',
        'GET /v2/models',
        'GET /v2/models/{model}',
        'GET /v2/models/{model}/ready',
        'POST /v2/models/{model}/infer',
      ]),
    );
  });
});
