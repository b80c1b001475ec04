import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_MODELS } from '../../src/config/load.ts';
import { ADMIN_KEY, bundledModelsConfig, call, createKey, expectErrorShape, infer, startHarness, usage, waitFor, type Harness } from '../support/platform.ts';

/**
 * Quotas through the real all-in-one process (`inferledger up`: the API is the quota authority
 * and the sidecar leases from it in process). Tenant A may send 5 requests a minute; B has no
 * quotas; C may use one CPU microsecond a month; D may send 128 tokens a day to a token model
 * (one 64-feature row is 64 tokens).
 */

const A = 'quota-a';
const B = 'quota-b';
const C = 'quota-c';
const D = 'quota-d';
const E = 'quota-e';
const TOKEN_MODEL = 'tok-small';
const MINUTE = 60_000;

interface QuotaItem {
  quota: string;
  limit: number | string;
  used: number | string | null;
  remaining: number | string | null;
  ratio: number | null;
  window_start: string | null;
  reset_at: string | null;
  as_of?: string | null;
  stale?: boolean;
}
interface QuotasBody {
  tenant: string;
  quotas: QuotaItem[];
}

let h: Harness;
const keys: Record<string, string> = {};

beforeAll(async () => {
  h = await startHarness({
    config: {
      tenants: {
        [A]: { quotas: { requests_per_minute: 5 } },
        [B]: {},
        [C]: { quotas: { cpu_seconds_per_month: 0.000001 } },
        [D]: { quotas: { tokens_per_day: 128 } },
        [E]: { quotas: { requests_per_minute: 2 } },
      },
      models: [
        ...bundledModelsConfig(),
        { name: TOKEN_MODEL, path: BUNDLED_MODELS.find((m) => m.name === 'classifier-small')!.path, version: '1', tokens: true },
      ],
    },
  });
  for (const t of [A, B, C, D, E]) keys[t] = await createKey(h.baseUrl, t);
});

afterAll(async () => {
  await h?.close();
});

/** The minute must not roll over mid-test: start with at least 20 s of it left. */
async function startOfAFreshMinute(): Promise<number> {
  const intoMinute = Date.now() % MINUTE;
  if (intoMinute > 40_000) await new Promise((r) => setTimeout(r, MINUTE - intoMinute + 50));
  return Math.floor(Date.now() / MINUTE) * MINUTE;
}

describe('requests_per_minute through the real app', () => {
  let minuteStart = 0;
  let rejected = 0;

  it("A's 6th and later requests in the minute get 429 with Retry-After and quota_exceeded; B is unaffected", async () => {
    minuteStart = await startOfAFreshMinute();
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await infer(h.baseUrl, keys[A]!, 'classifier-small');
      statuses.push(res.status);
      if (i < 5) {
        expect(res.status, res.text).toBe(200);
        continue;
      }
      expect(res.status, res.text).toBe(429);
      // The first refusal keeps the connection; the two sent after it, paced, end theirs.
      expect(res.headers.get('connection'), `request ${i + 1}`).toBe(i === 5 ? 'keep-alive' : 'close');
      rejected++;
      const retryAfter = Number(res.headers.get('retry-after'));
      expect(Number.isInteger(retryAfter)).toBe(true);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(Math.ceil((minuteStart + MINUTE - Date.now()) / 1000) + 1);
      const err = expectErrorShape(res);
      expect(err.code).toBe('quota_exceeded');
      expect(err.message).toContain('requests_per_minute');
      expect(err.message).toContain('limit 5');
      expect(err.message).toContain(new Date(minuteStart + MINUTE).toISOString());
      expect((res.body as unknown as { error: { details: unknown } }).error.details).toEqual({ quota: 'requests_per_minute', limit: 5, retryAfterSeconds: retryAfter });
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);

    for (let i = 0; i < 8; i++) expect((await infer(h.baseUrl, keys[B]!, 'classifier-small')).status).toBe(200);
  });

  it("A's first refusal of the minute is answered at once; the two after it, sent anyway, were paced", async () => {
    const res = await call(h.baseUrl, 'GET', '/metrics', { key: ADMIN_KEY });
    expect(res.status).toBe(200);
    const paced = (tenant: string) => Number(new RegExp(`^inferledger_refusals_paced_total\\{tenant="${tenant}"\\} (\\d+)$`, 'm').exec(res.text)?.[1] ?? 0);
    expect(paced(A)).toBe(2);
    expect(paced(B)).toBe(0);
  });

  it('GET /v1/tenants/A/quotas shows limit 5, used 5 and the reset at the minute end', async () => {
    for (const key of [ADMIN_KEY, keys[A]!]) {
      const res = await call<QuotasBody>(h.baseUrl, 'GET', `/v1/tenants/${A}/quotas`, { key });
      expect(res.status, res.text).toBe(200);
      expect(res.body).toEqual({
        tenant: A,
        quotas: [
          {
            quota: 'requests_per_minute',
            limit: 5,
            used: 5,
            remaining: 0,
            ratio: 1,
            window_start: new Date(minuteStart).toISOString(),
            reset_at: new Date(minuteStart + MINUTE).toISOString(),
          },
        ],
      });
    }
  });

  it("B gets 404 on A's quotas, like a tenant that does not exist; B's own list is empty", async () => {
    const res = await call(h.baseUrl, 'GET', `/v1/tenants/${A}/quotas`, { key: keys[B] });
    expect(res.status).toBe(404);
    expect(expectErrorShape(res).code).toBe('tenant_not_found');
    expect(res.text).not.toContain('requests_per_minute');
    const ghost = await call(h.baseUrl, 'GET', '/v1/tenants/nobody-here/quotas', { key: ADMIN_KEY });
    expect(ghost.status).toBe(404);
    const own = await call<QuotasBody>(h.baseUrl, 'GET', `/v1/tenants/${B}/quotas`, { key: keys[B] });
    expect(own.body).toEqual({ tenant: B, quotas: [] });
  });

  it("A's usage counts the refused requests as rejected, not as requests", async () => {
    // A model that only refused requests reached still reads (no latency: nothing was served).
    expect((await infer(h.baseUrl, keys[A]!, 'classifier-large')).status).toBe(429);
    rejected++;
    await h.platform.flushTelemetry();
    const a = await waitFor(async () => {
      const u = await usage(h.baseUrl, keys[A]!, A);
      return u.totals.requests + u.totals.rejected >= 5 + rejected ? u : undefined;
    }, "A's spans");
    expect(a.totals.requests).toBe(5);
    expect(a.totals.rejected).toBe(4);
    expect(a.by_model.find((m) => m.model === 'classifier-large')).toMatchObject({ requests: 0, p50_ms: null, p95_ms: null, p99_ms: null });
    const b = await usage(h.baseUrl, keys[B]!, B);
    expect(b.totals).toMatchObject({ requests: 8, rejected: 0 });
  });
});

describe('tokens_per_day through the real app', () => {
  it("D's third 64-token request of the day is refused, and its tokens are neither used nor billed", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await infer(h.baseUrl, keys[D]!, TOKEN_MODEL)).status);
    expect(statuses).toEqual([200, 200, 429]);
    await h.platform.flushTelemetry();
    const d = await waitFor(async () => {
      const u = await usage(h.baseUrl, keys[D]!, D);
      return u.totals.requests + u.totals.rejected >= 3 ? u : undefined;
    }, "D's spans");
    expect(d.totals).toMatchObject({ requests: 2, rejected: 1, input_tokens: 128 });
    const quotas = await call<QuotasBody>(h.baseUrl, 'GET', `/v1/tenants/${D}/quotas`, { key: keys[D] });
    expect(quotas.body.quotas).toEqual([expect.objectContaining({ quota: 'tokens_per_day', limit: 128, used: 128, remaining: 0 })]);
    const raw = await h.platform.store.query<{ tokens: string }>({
      query: "SELECT sum(input_tokens) AS tokens FROM requests FINAL WHERE tenant_id = {t:String} AND status = 'rejected'",
      params: { t: D },
    });
    expect(raw).toEqual([{ tokens: '0' }]);
  });

  it('a request with more tokens than the whole daily limit is 413 exceeds_quota_limit, not a 429 that could never succeed', async () => {
    const res = await infer(h.baseUrl, keys[D]!, TOKEN_MODEL, 3); // 3 rows of 64 = 192 tokens > 128 a day
    expect(res.status).toBe(413);
    expect(expectErrorShape(res)).toMatchObject({ code: 'exceeds_quota_limit' });
    expect(res.headers.get('retry-after')).toBeNull();
    // Recorded as refused, with the status it was answered with.
    await h.platform.flushTelemetry();
    const rows = await waitFor(async () => {
      const r = await h.platform.store.query<{ n: string }>({
        query: "SELECT toString(count()) AS n FROM requests FINAL WHERE tenant_id = {t:String} AND status = 'rejected' AND http_status = 413",
        params: { t: D },
      });
      return r[0]?.n === '0' ? undefined : r;
    }, "D's 413 in requests", 10_000).catch(() => [{ n: '0' }]);
    expect(rows).toEqual([{ n: '1' }]);
  });
});

describe('monthly quotas through the real app', () => {
  it('C is refused once its measured CPU seconds reach the monthly limit', async () => {
    expect((await infer(h.baseUrl, keys[C]!, 'classifier-large', 8)).status).toBe(200);
    await h.platform.flushTelemetry();
    await h.platform.runRollup();
    await h.platform.quotas!.refresh();

    // The sidecar trusts its cached monthly blocks for a few seconds; then C is blocked.
    const refused = await waitFor(async () => {
      const res = await infer(h.baseUrl, keys[C]!, 'classifier-small');
      return res.status === 429 ? res : undefined;
    }, 'C to be blocked');
    expect(expectErrorShape(refused).code).toBe('quota_exceeded');
    expect(refused.text).toContain('cpu_seconds_per_month');
    const monthEnd = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + 1, 1);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(Math.floor((monthEnd - Date.now()) / 1000) - 5);

    const status = await call<QuotasBody>(h.baseUrl, 'GET', `/v1/tenants/${C}/quotas`, { key: keys[C] });
    const [cpu] = status.body.quotas;
    expect(cpu).toMatchObject({ quota: 'cpu_seconds_per_month', limit: 0.000001, remaining: 0, stale: false, reset_at: new Date(monthEnd).toISOString() });
    expect(cpu!.used as number).toBeGreaterThanOrEqual(0.000001);
    expect(cpu!.ratio!).toBeGreaterThanOrEqual(1);
    expect(Date.parse(cpu!.as_of!)).toBeLessThanOrEqual(Date.now());
  });
});

describe('internal lease endpoints', () => {
  it('refuse tenant keys (403) and ingest keys acting for another tenant (404)', async () => {
    const lease = { tenant: A, kind: 'requests_per_minute', amount: 1, holder: 'test' };
    expect((await call(h.baseUrl, 'POST', '/v1/quota/leases', { key: keys[A], body: lease })).status).toBe(403);
    const ingestB = await createKey(h.baseUrl, B, 'ingest');
    const res = await call(h.baseUrl, 'POST', '/v1/quota/leases', { key: ingestB, body: lease });
    expect(res.status).toBe(404);
    expect((await call(h.baseUrl, 'POST', '/v1/quota/leases', { key: ingestB, body: { ...lease, tenant: B } })).status).toBe(200);
    expect((await call(h.baseUrl, 'POST', '/v1/quota/leases', { body: lease })).status).toBe(401);
    expect((await call(h.baseUrl, 'POST', '/v1/quota/leases', { key: ADMIN_KEY, body: { ...lease, amount: -1 } })).status).toBe(400);
  });

  it("an ingest key cannot hand back budget the sidecar holds for its tenant: E stays at 2 a minute", async () => {
    const ingestE = await createKey(h.baseUrl, E, 'ingest');
    // The in-process sidecar's holder name, which E can read from its usage by instance.
    const sidecarHolder = `${hostname()}-${process.pid}`;
    const windowStart = await startOfAFreshMinute();
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const release = { tenant: E, kind: 'requests_per_minute', amount: 2, holder: sidecarHolder, window_start: windowStart };
      const res = await call(h.baseUrl, 'POST', '/v1/quota/releases', { key: ingestE, body: release });
      expect(res.status, res.text).toBe(204); // accepted, booked under the key's own holder: nothing to give back
      statuses.push((await infer(h.baseUrl, keys[E]!, 'classifier-small')).status);
    }
    expect(statuses).toEqual([200, 200, 429, 429]);
    const quotas = await call<QuotasBody>(h.baseUrl, 'GET', `/v1/tenants/${E}/quotas`, { key: keys[E] });
    expect(quotas.body.quotas[0]).toMatchObject({ quota: 'requests_per_minute', used: 2, remaining: 0 });
  });

  it('are in the OpenAPI document with the quotas endpoint', async () => {
    const res = await call<{ paths: Record<string, Record<string, unknown>> }>(h.baseUrl, 'GET', '/openapi.json');
    const routes = Object.entries(res.body.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(routes).toEqual(
      expect.arrayContaining(['GET /v1/tenants/{tenant}/quotas', 'POST /v1/quota/leases', 'POST /v1/quota/releases', 'GET /v1/quota/blocks/{tenant}']),
    );
  });
});
