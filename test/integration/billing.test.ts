import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatMoney, parseMoney, type Micros } from '../../src/money/money.ts';
import { FOCUS_COLUMNS } from '../../src/statements/render.ts';
import { parseCsv } from '../../src/statements/test-support.ts';
import type { Statement } from '../../src/statements/types.ts';
import {
  ADMIN_KEY,
  call,
  createKey,
  expectErrorShape,
  infer,
  startHarness,
  usage,
  type CallResult,
  type Harness,
  type UsageBody,
} from '../support/platform.ts';

/**
 * Billing end to end through the running app (`inferledger up`): real inference from two tenants,
 * spans and resource samples into ClickHouse, the rollups, then attribution, tenant costs and
 * statements over HTTP, all checked against each other with exact decimal arithmetic.
 *
 * Prices are deliberately high and whole at the micro: 1 CPU-second of capacity costs $1, so the
 * CPU cost of a few inferences is well above a micro; the plan is flat (unit prices only, no
 * allowances, no tiers) with per-unit amounts that are whole micros, so list revenue (rounded per
 * hour) and the statement (rounded per line) must agree to the micro.
 */

const A = 'bill-a';
const B = 'bill-b';
const SINCE = '2020-01-01T00:00:00Z';
const PRICE = { request: parseMoney('0.0025'), cpuSecond: parseMoney('3') };

const CONFIG = {
  // Windows close only when the test flushes: no sample lands between two reads of the same range.
  sidecar: { sample_interval_s: 3600 },
  pricing: {
    currency: 'USD',
    idle_policy: 'proportional',
    capacity: [{ effective_from: SINCE, vcpu_hour: '3600', memory_gib_hour: '36', overhead_hour: '36', gpu_hour: { default: '3600' } }],
    plans: {
      flat: [
        {
          effective_from: SINCE,
          meters: {
            requests: { unit_price: '0.0025' },
            cpu_seconds: { unit_price: '3' },
            gpu_seconds: { unit_price: '5' },
            input_tokens: { unit_price: '0.5' },
            output_tokens: { unit_price: '1.5' },
          },
        },
      ],
    },
    default_plan: 'flat',
  },
  tenants: { [A]: { plan: 'flat' }, [B]: { plan: 'flat' } },
};

/** Requests per tenant and model, with the rows per request (the large model makes CPU time). */
const TRAFFIC: Record<string, Array<{ model: string; requests: number; rows: number }>> = {
  [A]: [
    { model: 'classifier-large', requests: 12, rows: 32 },
    { model: 'classifier-small', requests: 7, rows: 4 },
  ],
  [B]: [
    { model: 'classifier-large', requests: 5, rows: 64 },
    { model: 'classifier-small', requests: 9, rows: 1 },
  ],
};

const HOUR = 3_600_000;

let h: Harness;
let startedAt = 0;
let trafficDoneAt = 0;
const keys = { a: '', b: '', aIngest: '' };

beforeAll(async () => {
  startedAt = Date.now();
  h = await startHarness({ config: CONFIG });
  keys.a = await createKey(h.baseUrl, A);
  keys.b = await createKey(h.baseUrl, B);
  keys.aIngest = await createKey(h.baseUrl, A, 'ingest');

  const key = (t: string) => (t === A ? keys.a : keys.b);
  const sends = Object.entries(TRAFFIC).flatMap(([tenant, plan]) =>
    plan.flatMap(({ model, requests, rows }) => Array.from({ length: requests }, () => ({ tenant, model, rows }))),
  );
  // Two at a time, tenants interleaved: concurrent requests share the CPU ledger's windows.
  for (let i = 0; i < sends.length; i += 2) {
    const batch = sends.slice(i, i + 2);
    const results = await Promise.all(batch.map((s) => infer(h.baseUrl, key(s.tenant), s.model, s.rows)));
    results.forEach((r, j) => {
      if (r.status !== 200) throw new Error(`infer ${batch[j]!.tenant}/${batch[j]!.model}: ${r.status} ${r.text}`);
    });
  }
  await h.platform.flushTelemetry();
  await h.platform.runRollup();
  trafficDoneAt = Date.now();
});

afterAll(async () => {
  await h?.close();
});

interface AttributionBody {
  from: string;
  to: string;
  currency: string;
  idle_policy: string;
  capacity_cost: string;
  overhead_cost: string;
  idle_cost: string;
  unallocated_idle: string;
  tenants: Array<{ tenant: string; plan: string; usage_cost: string; idle_share: string; overhead_share: string; total_cost: string; revenue: string; margin: string }>;
  unpriced_usage: { cpu_seconds: number; gpu_seconds: number; hours: number };
  conservation: { holds: boolean; difference: string };
}

interface CostsBody {
  tenant: string;
  from: string;
  to: string;
  currency: string;
  total: string;
  usage_cost: string;
  series: Array<{ t: string; total: string }>;
}

const sum = (values: readonly string[]): Micros => values.reduce((n, v) => n + parseMoney(v), 0n);
const micros = (seconds: number): bigint => BigInt(Math.round(seconds * 1e6));

/** The hours the traffic and its samples fell in: from the hour the platform started to now. */
const trafficRange = () => `from=${Math.floor(startedAt / HOUR) * HOUR}&to=${trafficDoneAt}`;

/** The UTC month of the traffic, and its bounds. */
function currentMonth(): { period: string; from: number; to: number } {
  const d = new Date(trafficDoneAt);
  const [y, m] = [d.getUTCFullYear(), d.getUTCMonth()];
  return { period: `${y}-${String(m + 1).padStart(2, '0')}`, from: Date.UTC(y, m, 1), to: Date.UTC(y, m + 1, 1) };
}

async function ok<T>(res: Promise<CallResult<T>>): Promise<CallResult<T>> {
  const r = await res;
  if (r.status !== 200) throw new Error(`expected 200, got ${r.status}: ${r.text}`);
  return r;
}

const attribution = (query: string) => ok(call<AttributionBody>(h.baseUrl, 'GET', `/v1/attribution?${query}`, { key: ADMIN_KEY }));
const costs = (tenant: string, key: string, query: string) => ok(call<CostsBody>(h.baseUrl, 'GET', `/v1/tenants/${tenant}/costs?${query}`, { key }));
const statementPath = (tenant: string, format?: string) =>
  `/v1/tenants/${tenant}/statements/${currentMonth().period}${format ? `?format=${format}` : ''}`;

/** The statement JSON, fetched twice: the same request must give byte-identical output. */
async function statementTwice(tenant: string, key: string): Promise<{ text: string; statement: Statement }> {
  const first = await ok(call<Statement>(h.baseUrl, 'GET', statementPath(tenant), { key }));
  await h.platform.runRollup(); // a rollup recompute in between must not change the bytes
  const second = await ok(call<Statement>(h.baseUrl, 'GET', statementPath(tenant), { key }));
  expect(second.text).toBe(first.text);
  expect(first.headers.get('content-type')).toMatch(/^application\/json/);
  return { text: first.text, statement: first.body };
}

describe('attribution over the traffic hours', () => {
  it('conserves exactly: Σ tenant total_cost + unallocated_idle = capacity_cost + overhead_cost', async () => {
    const { body } = await attribution(trafficRange());
    expect(body.currency).toBe('USD');
    expect(body.idle_policy).toBe('proportional');
    expect(body.conservation).toMatchObject({ holds: true, difference: '0.000000' });
    expect(parseMoney(body.capacity_cost)).toBeGreaterThan(0n);
    expect(parseMoney(body.overhead_cost)).toBeGreaterThan(0n);
    expect(body.tenants.map((t) => t.tenant)).toEqual([A, B]);

    const left = sum(body.tenants.map((t) => t.total_cost)) + parseMoney(body.unallocated_idle);
    const right = parseMoney(body.capacity_cost) + parseMoney(body.overhead_cost);
    expect(formatMoney(left)).toBe(formatMoney(right));
    for (const t of body.tenants) {
      expect(t.plan).toBe('flat');
      expect(parseMoney(t.total_cost)).toBe(parseMoney(t.usage_cost) + parseMoney(t.idle_share) + parseMoney(t.overhead_share));
      expect(parseMoney(t.margin)).toBe(parseMoney(t.revenue) - parseMoney(t.total_cost));
    }
    // Usage in an hour with no capacity sample cannot be priced (an hour boundary mid-test);
    // when all of it is priced, both tenants carry a CPU cost well above a micro.
    if (body.unpriced_usage.hours === 0) {
      for (const t of body.tenants) expect(parseMoney(t.usage_cost)).toBeGreaterThan(0n);
    }
  });

  it("each tenant's costs total equals its attribution total_cost, and its series sums to it", async () => {
    const { body: attr } = await attribution(trafficRange());
    for (const [tenant, key] of [[A, keys.a], [B, keys.b], [A, ADMIN_KEY], [B, ADMIN_KEY]] as const) {
      const { body } = await costs(tenant, key, trafficRange());
      const expected = attr.tenants.find((t) => t.tenant === tenant)!;
      expect(body.tenant).toBe(tenant);
      expect([body.from, body.to]).toEqual([attr.from, attr.to]);
      expect(body.total).toBe(expected.total_cost);
      expect(body.usage_cost).toBe(expected.usage_cost);
      expect(body.series.length).toBeGreaterThan(0);
      expect(formatMoney(sum(body.series.map((p) => p.total)))).toBe(body.total);
    }
  });
});

describe('statements of the current month', () => {
  let month: AttributionBody;
  const statements: Record<string, { text: string; statement: Statement }> = {};

  beforeAll(async () => {
    const { from, to } = currentMonth();
    month = (await attribution(`from=${from}&to=${to}`)).body;
    for (const [tenant, key] of [[A, keys.a], [B, keys.b]] as const) statements[tenant] = await statementTwice(tenant, key);
  });

  it('the OpenAPI document describes the statement as served: the same fields, in the statement and in its lines', async () => {
    type Schema = { properties: Record<string, { items?: { properties: Record<string, unknown> } }>; required?: string[] };
    const doc = (await call<{ components: { schemas: Record<string, Schema> } }>(h.baseUrl, 'GET', '/openapi.json')).body;
    const schema = doc.components.schemas.Statement!;
    const { statement } = statements[A]!;
    expect(Object.keys(schema.properties).sort()).toEqual(Object.keys(statement).sort());
    expect([...(schema.required ?? [])].sort()).toEqual(Object.keys(statement).sort());
    expect(Object.keys(schema.properties.lines!.items!.properties).sort()).toEqual(Object.keys(statement.lines[0]!).sort());
  });

  it.each([A, B])('%s: lines are its usage, priced by the flat plan, and the total is its list revenue', async (tenant) => {
    const { statement } = statements[tenant]!;
    const u: UsageBody = await usage(h.baseUrl, ADMIN_KEY, tenant);
    expect(statement).toMatchObject({ tenant, period: currentMonth().period, currency: 'USD', plan: 'flat', status: 'open', adjustments: [] });

    let expectedTotal = 0n;
    for (const { model, requests } of TRAFFIC[tenant]!) {
      const ofModel = statement.lines.filter((l) => l.model === model);
      const req = ofModel.find((l) => l.meter === 'requests');
      expect(req).toMatchObject({ quantity: requests, unit: 'request', unit_price: '0.0025', tier: 0, included_quantity: 0 });
      expect(req!.amount).toBe(formatMoney(BigInt(requests) * PRICE.request));

      const cpuUs = micros(u.by_model.find((m) => m.model === model)!.cpu_seconds);
      const cpu = ofModel.find((l) => l.meter === 'cpu_seconds');
      if (cpuUs === 0n) expect(cpu).toBeUndefined();
      else {
        expect(micros(cpu!.quantity)).toBe(cpuUs);
        expect(cpu).toMatchObject({ unit: 'second', unit_price: '3.00', tier: 0 });
        expect(cpu!.amount).toBe(formatMoney(cpuUs * 3n));
      }
      expectedTotal += BigInt(requests) * PRICE.request + cpuUs * 3n;
      // Nothing else is metered for these models (no GPU, no tokens).
      expect(ofModel.map((l) => l.meter).sort()).toEqual(cpuUs === 0n ? ['requests'] : ['cpu_seconds', 'requests']);
    }
    expect(new Set(statement.lines.map((l) => l.model))).toEqual(new Set(TRAFFIC[tenant]!.map((t) => t.model)));
    expect(u.totals.cpu_seconds).toBeGreaterThan(0);
    expect(sum(statement.lines.map((l) => l.amount))).toBe(parseMoney(statement.subtotal));
    expect(statement.total).toBe(statement.subtotal);
    expect(statement.total).toBe(formatMoney(expectedTotal));
    expect(statement.total).toBe(month.tenants.find((t) => t.tenant === tenant)!.revenue);
  });

  it.each([A, B])('%s: the tenant and the admin get the same bytes, JSON, CSV and FOCUS', async (tenant) => {
    const own = tenant === A ? keys.a : keys.b;
    const { statement } = statements[tenant]!;
    for (const format of ['csv', 'focus'] as const) {
      const first = await ok(call(h.baseUrl, 'GET', statementPath(tenant, format), { key: own }));
      const second = await ok(call(h.baseUrl, 'GET', statementPath(tenant, format), { key: own }));
      const admin = await ok(call(h.baseUrl, 'GET', statementPath(tenant, format), { key: ADMIN_KEY }));
      expect(first.headers.get('content-type')).toMatch(/^text\/csv/);
      expect(second.text).toBe(first.text);
      expect(admin.text).toBe(first.text);
      const rows = parseCsv(first.text);
      if (format === 'csv') expect(rows.at(-1)!.slice(5)).toEqual(['total', '', '', '', '', '', '', statement.total]);
    }
    const viaAccept = await ok(call(h.baseUrl, 'GET', statementPath(tenant), { key: own, headers: { accept: 'text/csv' } }));
    expect(viaAccept.text).toBe((await ok(call(h.baseUrl, 'GET', statementPath(tenant, 'csv'), { key: own }))).text);
    const adminJson = await statementTwice(tenant, ADMIN_KEY);
    expect(adminJson.text).toBe(statements[tenant]!.text);
  });

  it.each([A, B])('%s: FOCUS has every FOCUS 1.2 column and its BilledCost sums to the statement total', async (tenant) => {
    const { statement } = statements[tenant]!;
    const res = await ok(call(h.baseUrl, 'GET', statementPath(tenant, 'focus'), { key: ADMIN_KEY }));
    const [header, ...rows] = parseCsv(res.text);
    expect(header).toEqual([...FOCUS_COLUMNS]);
    expect(rows).toHaveLength(statement.lines.length);
    const col = (name: (typeof FOCUS_COLUMNS)[number]) => header!.indexOf(name);
    for (const r of rows) {
      expect(r).toHaveLength(FOCUS_COLUMNS.length);
      expect(r[col('SubAccountId')]).toBe(tenant);
      expect(r[col('BillingCurrency')]).toBe('USD');
      expect(r[col('ChargeCategory')]).toBe('Usage');
      // Flat list prices: billed = list.
      expect(r[col('BilledCost')]).toBe(r[col('ListCost')]);
    }
    expect(formatMoney(sum(rows.map((r) => r[col('BilledCost')]!)))).toBe(statement.total);
  });
});

describe('statement periods', () => {
  it.each(['0026-11', '1969-12', '2100-01', '2026-13', '2026-1'])('%s is 400, never a statement issued for the wrong month', async (period) => {
    const res = await call(h.baseUrl, 'GET', `/v1/tenants/${A}/statements/${period}`, { key: ADMIN_KEY });
    expect(res.status, res.text).toBe(400);
    expect(expectErrorShape(res).message).toContain('1970-01 to 2099-12');
  });
});

describe("one tenant never reads another's costs or statements", () => {
  const ofA = (): Array<{ what: string; path: string; headers: Record<string, string> }> => [
    { what: 'costs', path: `/v1/tenants/${A}/costs?${trafficRange()}`, headers: {} },
    { what: 'statement (default)', path: statementPath(A), headers: {} },
    { what: 'statement json', path: statementPath(A, 'json'), headers: {} },
    { what: 'statement csv', path: statementPath(A, 'csv'), headers: {} },
    { what: 'statement focus', path: statementPath(A, 'focus'), headers: {} },
    { what: 'statement Accept: text/csv', path: statementPath(A), headers: { accept: 'text/csv' } },
  ];

  it("B's key on A: 404 with a JSON error that names nothing of A's", async () => {
    const models = Object.values(TRAFFIC).flatMap((t) => t.map((x) => x.model));
    for (const { what, path, headers } of ofA()) {
      const res = await call(h.baseUrl, 'GET', path, { key: keys.b, headers });
      expect(res.status, `${what}: ${res.text}`).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(expectErrorShape(res).code).toBe('tenant_not_found');
      for (const m of models) expect(res.text).not.toContain(m);
      // The same answer as for a tenant that does not exist.
      const nobody = await call(h.baseUrl, 'GET', path.replace(`/tenants/${A}/`, '/tenants/no-such-tenant/'), { key: keys.b, headers });
      expect(nobody.status).toBe(404);
      expect(nobody.text.replace('no-such-tenant', A)).toBe(res.text);
    }
  });

  it("A's ingest key: 403; the admin key reads both", async () => {
    for (const { what, path, headers } of ofA()) {
      const ingest = await call(h.baseUrl, 'GET', path, { key: keys.aIngest, headers });
      expect(ingest.status, `${what}: ${ingest.text}`).toBe(403);
      expect(expectErrorShape(ingest).code).toBe('wrong_role');
      for (const tenant of [A, B]) {
        const admin = await call(h.baseUrl, 'GET', path.replace(`/tenants/${A}/`, `/tenants/${tenant}/`), { key: ADMIN_KEY, headers });
        expect(admin.status, `${what} of ${tenant}: ${admin.text}`).toBe(200);
      }
    }
  });

  it('the attribution report is for the admin only', async () => {
    for (const key of [keys.a, keys.b, keys.aIngest]) {
      const res = await call(h.baseUrl, 'GET', `/v1/attribution?${trafficRange()}`, { key });
      expect(res.status, res.text).toBe(403);
      expect(expectErrorShape(res).code).toBe('wrong_role');
    }
  });
});
