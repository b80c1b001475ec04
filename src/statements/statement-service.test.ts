import { createHash } from 'node:crypto';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore } from '../../test/support/store.ts';
import { AppError } from '../errors.ts';
import { pricingSchema } from '../pricing/price-book.ts';
import type { Store } from '../store/client.ts';
import { parseCsv } from './test-support.ts';
import { FOCUS_COLUMNS, renderCsv, renderFocus, renderJson, type FocusContext } from './render.ts';
import { getStatement, issuedTermsProblems, type StatementContext } from './statement-service.ts';
import type { Statement } from './types.ts';

/**
 * The statement service against a real embedded ClickHouse (chdb): open months computed from
 * usage_hourly, closed months issued once and frozen, late usage carried exactly once into a later
 * statement as an adjustment. Time is the injected `now`; usage rows are written to usage_hourly
 * directly (the rollup's output table), so every figure below is known exactly. One store per
 * file (chdb: one data directory per process); tests keep apart by tenant id.
 */

const H = 3_600_000;
const SINCE = '2020-01-01T00:00:00Z';

const pricing = pricingSchema.parse({
  currency: 'USD',
  capacity: [{ effective_from: SINCE, vcpu_hour: '0.04', memory_gib_hour: '0.005' }],
  plans: {
    flat: [{ effective_from: SINCE, meters: { requests: { unit_price: '0.001' }, cpu_seconds: { unit_price: '0.0002' } } }],
    tiered: [
      {
        effective_from: SINCE,
        meters: { requests: { tiers: [{ up_to: 100, unit_price: '0.01' }, { unit_price: '0.005' }], included: 10 } },
      },
    ],
  },
  default_plan: 'flat',
});

const PLANS: Record<string, string> = { 'st-tiered': 'tiered' };

const FOCUS: FocusContext = {
  providerName: 'inferledger',
  publisherName: 'inferledger',
  invoiceIssuerName: 'inferledger',
  billingAccountId: 'acct',
  billingAccountName: 'acct',
  serviceName: 'AI Inference',
  serviceCategory: 'AI and Machine Learning',
};

let store: Store;

beforeAll(async () => {
  ({ store } = await openTestStore());
});

afterAll(async () => {
  await store?.close();
});

function ctxAt(now: number | string, closeGraceHours = 2): StatementContext {
  const ms = typeof now === 'number' ? now : Date.parse(now);
  return { store, pricing, planOf: (t) => PLANS[t] ?? pricing.default_plan, closeGraceHours, now: () => ms };
}

interface Seed {
  tenant: string;
  hour: string;
  model: string;
  requests?: number;
  cpuUs?: number;
  instance?: string;
  computedAt: string;
}

/** Rows as the rollup writes them (latency_ms_quantiles left to its empty default). */
async function seed(...rows: Seed[]): Promise<void> {
  await store.insert(
    'usage_hourly',
    rows.map((r) => ({
      tenant_id: r.tenant,
      hour: r.hour,
      model: r.model,
      model_variant: r.model,
      instance_id: r.instance ?? 'i-1',
      requests: r.requests ?? 0,
      errors: 0,
      rejected: 0,
      cpu_us: r.cpuUs ?? 0,
      gpu_us: 0,
      input_tokens: 0,
      output_tokens: 0,
      input_elements: 0,
      output_elements: 0,
      duration_ns_sum: 0,
      computed_at: r.computedAt,
    })),
  );
}

const storedRow = z.object({ period: z.string(), body: z.string(), body_sha256: z.string(), total: z.string(), n: z.coerce.number() });

/** Every stored row of a tenant's statements, without FINAL: a second write would show here. */
async function storedStatements(tenant: string) {
  return store.query({
    query: `SELECT period, body, body_sha256, toString(total) AS total, count() OVER (PARTITION BY period) AS n
            FROM statements WHERE tenant_id = {t:String} ORDER BY period`,
    params: { t: tenant },
    schema: storedRow,
  });
}

const line = (model: string, meter: string, quantity: number, unitPrice: string, amount: string, extra: { tier?: number; unit?: string; included?: number } = {}) => ({
  model,
  meter,
  tier: extra.tier ?? 0,
  price_effective_from: SINCE,
  quantity,
  unit: extra.unit ?? (meter === 'requests' ? 'request' : 'second'),
  unit_price: unitPrice,
  amount,
  included_quantity: extra.included ?? 0,
});

function renderings(s: Statement) {
  return { csv: renderCsv(s), focus: renderFocus(s, FOCUS) };
}

describe('an open month', () => {
  const tenant = 'st-open';

  beforeAll(async () => {
    const computedAt = '2025-03-10T00:00:00.000Z';
    await seed(
      { tenant, hour: '2025-03-02T10:00:00Z', model: 'resnet', requests: 100, cpuUs: 1_500_000, instance: 'i-1', computedAt },
      // Same hour and model on another instance: summed into the same line.
      { tenant, hour: '2025-03-02T10:00:00Z', model: 'resnet', requests: 50, cpuUs: 1_000_000, instance: 'i-2', computedAt },
      { tenant, hour: '2025-03-05T00:00:00Z', model: 'bert', requests: 7, cpuUs: 1_000_001, computedAt },
      // Outside the month on both sides: not on this statement.
      { tenant, hour: '2025-02-28T23:00:00Z', model: 'resnet', requests: 1000, computedAt },
      { tenant, hour: '2025-04-01T00:00:00Z', model: 'resnet', requests: 1000, computedAt },
    );
  });

  it('is rated from usage_hourly with the flat plan, exactly, and nothing is stored', async () => {
    const { statement, json } = await getStatement(ctxAt('2025-03-15T12:00:00Z'), tenant, '2025-03');
    expect(statement.status).toBe('open');
    expect(statement.plan).toBe('flat');
    expect(statement.period_start).toBe('2025-03-01T00:00:00Z');
    expect(statement.period_end).toBe('2025-04-01T00:00:00Z');
    expect(statement.lines).toEqual([
      line('bert', 'requests', 7, '0.001', '0.007000'),
      // 1.000001 s × 0.0002 = 0.0002000002: rounded once, per line.
      line('bert', 'cpu_seconds', 1.000001, '0.0002', '0.000200'),
      line('resnet', 'requests', 150, '0.001', '0.150000'),
      line('resnet', 'cpu_seconds', 2.5, '0.0002', '0.000500'),
    ]);
    expect(statement.subtotal).toBe('0.157700');
    expect(statement.adjustments).toEqual([]);
    expect(statement.adjustments_total).toBe('0.000000');
    expect(statement.total).toBe('0.157700');
    // Stamped with the end of the latest hour of data (2025-03-05T00–01), as README says, not the clock.
    expect(statement.generated_at).toBe('2025-03-05T01:00:00Z');
    expect(json).toBe(renderJson(statement));
    expect(await storedStatements(tenant)).toEqual([]);
  });

  it('gives byte-identical JSON, CSV and FOCUS for the same data, whenever it is asked', async () => {
    const first = await getStatement(ctxAt('2025-03-15T12:00:00Z'), tenant, '2025-03');
    const second = await getStatement(ctxAt('2025-03-20T08:30:00Z'), tenant, '2025-03');
    expect(second.json).toBe(first.json);
    expect(renderings(second.statement)).toEqual(renderings(first.statement));
  });

  it('rates a tiered plan with its allowance across hours and models', async () => {
    const t = 'st-tiered';
    const computedAt = '2025-03-03T00:00:00.000Z';
    await seed(
      { tenant: t, hour: '2025-03-01T05:00:00Z', model: 'bert', requests: 5, computedAt },
      { tenant: t, hour: '2025-03-01T05:00:00Z', model: 'resnet', requests: 60, computedAt },
      { tenant: t, hour: '2025-03-02T05:00:00Z', model: 'resnet', requests: 70, computedAt },
    );
    const { statement } = await getStatement(ctxAt('2025-03-15T12:00:00Z'), t, '2025-03');
    expect(statement.plan).toBe('tiered');
    // Positions: bert 0–5 (free), resnet 5–65 (5 free), resnet 65–135 crosses the bound at 100.
    expect(statement.lines).toEqual([
      line('bert', 'requests', 5, '0.01', '0.000000', { tier: 1, included: 5 }),
      line('resnet', 'requests', 95, '0.01', '0.900000', { tier: 1, included: 5 }),
      line('resnet', 'requests', 35, '0.005', '0.175000', { tier: 2 }),
    ]);
    expect(statement.total).toBe('1.075000');
  });

  it('a month with no usage yet is an empty open statement', async () => {
    const { statement } = await getStatement(ctxAt('2025-03-15T12:00:00Z'), 'st-nobody', '2025-03');
    expect(statement).toMatchObject({ status: 'open', lines: [], subtotal: '0.000000', total: '0.000000', generated_at: '2025-03-01T00:00:00Z' });
  });
});

describe('a month that has not started', () => {
  it('is not_found (period_not_started), before and at the last instant of the previous month', async () => {
    for (const now of ['2025-03-15T12:00:00Z', '2025-03-31T23:59:59.999Z']) {
      const err = await getStatement(ctxAt(now), 'st-open', '2025-04').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ kind: 'not_found', code: 'period_not_started' });
    }
    expect(await storedStatements('st-open')).toEqual([]);
    // From its first instant on, it exists.
    const { statement } = await getStatement(ctxAt('2025-04-01T00:00:00Z'), 'st-open', '2025-04');
    expect(statement.status).toBe('open');
  });
});

describe('closing, freezing and carrying late usage', () => {
  const tenant = 'st-frozen';
  const APRIL_END = Date.parse('2025-05-01T00:00:00Z');
  let issuedJson = '';
  let issuedRenderings: ReturnType<typeof renderings>;

  beforeAll(async () => {
    await seed(
      { tenant, hour: '2025-04-03T00:00:00Z', model: 'resnet', requests: 200, cpuUs: 4_000_000, computedAt: '2025-04-03T01:00:00.000Z' },
      { tenant, hour: '2025-04-30T23:00:00Z', model: 'bert', requests: 10, computedAt: '2025-05-01T00:10:00.000Z' },
      { tenant, hour: '2025-05-02T00:00:00Z', model: 'resnet', requests: 30, computedAt: '2025-05-02T01:00:00.000Z' },
    );
  });

  it('stays open until closeGraceHours after the month ends', async () => {
    const { statement } = await getStatement(ctxAt(APRIL_END + 2 * H - 1), tenant, '2025-04');
    expect(statement.status).toBe('open');
    expect(await storedStatements(tenant)).toEqual([]);
  });

  it('the first fetch after the grace issues it: status issued, one stored row with exactly the served bytes', async () => {
    const issuedAt = APRIL_END + 2 * H;
    const { statement, json } = await getStatement(ctxAt(issuedAt), tenant, '2025-04');
    expect(statement.status).toBe('issued');
    expect(statement.generated_at).toBe('2025-05-01T02:00:00Z');
    expect(statement.lines).toEqual([
      line('bert', 'requests', 10, '0.001', '0.010000'),
      line('resnet', 'requests', 200, '0.001', '0.200000'),
      line('resnet', 'cpu_seconds', 4, '0.0002', '0.000800'),
    ]);
    expect(statement.total).toBe('0.210800');
    const rows = await storedStatements(tenant);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ period: '2025-04', body: json, total: '0.2108', n: 1 });
    expect(rows[0]!.body_sha256).toBe(createHash('sha256').update(json).digest('hex'));
    issuedJson = json;
    issuedRenderings = renderings(statement);
  });

  it('is served byte-identically afterwards, in JSON, CSV and FOCUS', async () => {
    for (const now of [APRIL_END + 2 * H, APRIL_END + 3 * H, APRIL_END + 40 * 24 * H]) {
      const { statement, json } = await getStatement(ctxAt(now), tenant, '2025-04');
      expect(json).toBe(issuedJson);
      expect(renderings(statement)).toEqual(issuedRenderings);
    }
    // A differently configured grace changes nothing once issued.
    expect((await getStatement(ctxAt(APRIL_END + 3 * H, 48), tenant, '2025-04')).json).toBe(issuedJson);
  });

  it('stays frozen when more usage for the month arrives, and is never written again', async () => {
    await seed(
      // A new hour, and a recomputation of an existing (hour, model, instance) with more requests.
      { tenant, hour: '2025-04-30T22:00:00Z', model: 'resnet', requests: 40, cpuUs: 1_000_000, computedAt: '2025-05-01T05:00:00.000Z' },
      { tenant, hour: '2025-04-30T23:00:00Z', model: 'bert', requests: 15, computedAt: '2025-05-01T05:00:00.000Z' },
    );
    const { statement, json } = await getStatement(ctxAt(APRIL_END + 6 * H), tenant, '2025-04');
    expect(json).toBe(issuedJson);
    expect(renderings(statement)).toEqual(issuedRenderings);
    expect(statement.total).toBe('0.210800');
    const rows = await storedStatements(tenant);
    expect(rows.map((r) => [r.period, r.n])).toEqual([['2025-04', 1]]);
  });

  it("the late usage is an adjustment on the next month's open statement", async () => {
    const { statement } = await getStatement(ctxAt('2025-05-10T00:00:00Z'), tenant, '2025-05');
    expect(statement.status).toBe('open');
    expect(statement.lines).toEqual([line('resnet', 'requests', 30, '0.001', '0.030000')]);
    // bert +5 requests; resnet +40 requests and +1 s CPU.
    expect(statement.adjustments).toEqual([
      { period: '2025-04', model: 'bert', meter: 'requests', amount: '0.005000', description: 'late usage for 2025-04' },
      { period: '2025-04', model: 'resnet', meter: 'requests', amount: '0.040000', description: 'late usage for 2025-04' },
      { period: '2025-04', model: 'resnet', meter: 'cpu_seconds', amount: '0.000200', description: 'late usage for 2025-04' },
    ]);
    expect(statement.subtotal).toBe('0.030000');
    expect(statement.adjustments_total).toBe('0.045200');
    expect(statement.total).toBe('0.075200');
  });

  it('and the same adjustments are frozen into the next month when it is issued', async () => {
    const open = await getStatement(ctxAt('2025-05-10T00:00:00Z'), tenant, '2025-05');
    const issued = await getStatement(ctxAt('2025-06-01T02:00:00Z'), tenant, '2025-05');
    expect(issued.statement.status).toBe('issued');
    expect(issued.statement.adjustments).toEqual(open.statement.adjustments);
    expect(issued.statement.total).toBe('0.075200');
    const again = await getStatement(ctxAt('2025-07-01T00:00:00Z'), tenant, '2025-05');
    expect(again.json).toBe(issued.json);
    expect(renderings(again.statement)).toEqual(renderings(issued.statement));
    const focus = parseCsv(renderings(issued.statement).focus);
    const category = focus[0]!.indexOf('ChargeCategory');
    const chargeClass = focus[0]!.indexOf('ChargeClass');
    expect(focus.slice(1).map((r) => [r[category], r[chargeClass]])).toEqual([
      ['Usage', ''],
      ['Adjustment', 'Correction'],
      ['Adjustment', 'Correction'],
      ['Adjustment', 'Correction'],
    ]);
  });

  it('the month after carries no second adjustment for it, open or issued', async () => {
    const open = await getStatement(ctxAt('2025-06-15T00:00:00Z'), tenant, '2025-06');
    expect(open.statement.adjustments).toEqual([]);
    expect(open.statement.total).toBe('0.000000');
    const issued = await getStatement(ctxAt('2025-07-01T02:00:00Z'), tenant, '2025-06');
    expect(issued.statement.status).toBe('issued');
    expect(issued.statement.adjustments).toEqual([]);
  });

  it('more late usage for the same month later is carried once more, as the difference only', async () => {
    await seed({ tenant, hour: '2025-04-10T00:00:00Z', model: 'bert', requests: 3, computedAt: '2025-07-01T05:00:00.000Z' });
    const july = await getStatement(ctxAt('2025-07-15T00:00:00Z'), tenant, '2025-07');
    expect(july.statement.adjustments).toEqual([
      { period: '2025-04', model: 'bert', meter: 'requests', amount: '0.003000', description: 'late usage for 2025-04' },
    ]);
    // The earlier statements are untouched.
    expect((await getStatement(ctxAt('2025-07-15T00:00:00Z'), tenant, '2025-04')).json).toBe(issuedJson);
    const rows = await storedStatements(tenant);
    expect(rows.map((r) => [r.period, r.n])).toEqual([['2025-04', 1], ['2025-05', 1], ['2025-06', 1]]);
  });
});

describe('CSV and FOCUS of an issued statement', () => {
  const tenant = 'st-render';

  it('are byte-identical across fetches and agree with the JSON', async () => {
    await seed(
      { tenant, hour: '2025-01-05T00:00:00Z', model: 'resnet', requests: 12, cpuUs: 2_345_678, computedAt: '2025-01-05T01:00:00.000Z' },
      { tenant, hour: '2025-01-06T00:00:00Z', model: '=bert', requests: 3, computedAt: '2025-01-06T01:00:00.000Z' },
    );
    const fetches = [];
    for (const now of ['2025-02-01T02:00:00Z', '2025-02-02T00:00:00Z', '2025-09-01T00:00:00Z']) {
      fetches.push(await getStatement(ctxAt(now), tenant, '2025-01'));
    }
    const [first, ...rest] = fetches.map((f) => ({ json: f.json, ...renderings(f.statement) }));
    for (const r of rest) expect(r).toEqual(first);
    expect(fetches[0]!.statement.status).toBe('issued');
    expect((await storedStatements(tenant)).map((r) => [r.period, r.n])).toEqual([['2025-01', 1]]);
    // Renderings of what the JSON bytes say, too: nothing is lost in storage.
    expect(renderings(JSON.parse(first!.json) as Statement)).toEqual({ csv: first!.csv, focus: first!.focus });

    const csv = parseCsv(first!.csv);
    expect(csv.at(-1)!.slice(5)).toEqual(['total', '', '', '', '', '', '', fetches[0]!.statement.total]);
    // Formula injection neutralised in CSV.
    expect(csv.some((r) => r[4] === "'=bert")).toBe(true);
    const focus = parseCsv(first!.focus);
    expect(focus[0]).toEqual([...FOCUS_COLUMNS]);
    const billed = focus[0]!.indexOf('BilledCost');
    const sum = focus.slice(1).reduce((n, r) => n + BigInt(r[billed]!.replace('.', '')), 0n);
    expect(sum).toBe(BigInt(fetches[0]!.statement.total.replace('.', '')));
  });
});

describe('late usage is carried exactly once, whatever order months are issued in', () => {
  const tenant = 'st-skip';

  it('a month issued after a later one does not carry again what the later one already carried', async () => {
    await seed({ tenant, hour: '2024-04-02T00:00:00Z', model: 'resnet', requests: 100, computedAt: '2024-04-02T01:00:00.000Z' });
    expect((await getStatement(ctxAt('2024-05-01T02:00:00Z'), tenant, '2024-04')).statement.total).toBe('0.100000');
    await seed({ tenant, hour: '2024-04-03T00:00:00Z', model: 'resnet', requests: 20, computedAt: '2024-05-01T05:00:00.000Z' });
    // Nobody asks for May's statement before June's is issued.
    const june = await getStatement(ctxAt('2024-07-01T02:00:00Z'), tenant, '2024-06');
    const may = await getStatement(ctxAt('2024-07-01T03:00:00Z'), tenant, '2024-05');
    expect([june.statement.status, may.statement.status]).toEqual(['issued', 'issued']);
    const carried = [...june.statement.adjustments, ...may.statement.adjustments].filter((a) => a.period === '2024-04');
    expect(carried.map((a) => a.amount)).toEqual(['0.020000']);
    // And July, open, carries nothing more.
    expect((await getStatement(ctxAt('2024-07-15T00:00:00Z'), tenant, '2024-07')).statement.adjustments).toEqual([]);
  });
});

describe('a price book that lost what issued statements were rated with (refused at start)', () => {
  const tenant = 'st-terms';
  // Periods of their own (2030), so the other tests' statements are outside the 12-month lookback.
  const now = Date.parse('2030-03-10T00:00:00Z');

  it('names a removed or renamed plan and a changed currency, with the tenants and periods', async () => {
    await seed({ tenant, hour: '2030-01-05T00:00:00Z', model: 'resnet', requests: 10, computedAt: '2030-01-05T01:00:00.000Z' });
    expect((await getStatement(ctxAt('2030-02-01T02:00:00Z'), tenant, '2030-01')).statement.status).toBe('issued');
    const ctx = (over: Partial<typeof pricing>) => ({ store, pricing: { ...pricing, ...over }, now: () => now });
    expect(await issuedTermsProblems(ctx({}))).toEqual([]);

    // Renaming `flat` would re-rate January to nothing and refund all of it on March's statement.
    const { flat, ...renamed } = pricing.plans;
    expect(await issuedTermsProblems(ctx({ plans: { ...renamed, flat2: flat! } }))).toEqual([
      'pricing.plans: "flat" is gone, but issued statements (st-terms; 2030-01) were rated with it and late usage re-rates them: keep the plan (add a version to change its prices; rename nothing)',
    ]);
    expect(await issuedTermsProblems(ctx({ currency: 'EUR' }))).toEqual([
      'pricing.currency: EUR, but issued statements (st-terms; 2030-01) are in USD: one currency per deployment',
    ]);
    // Beyond the 12 months late usage is re-rated for, nothing is required any more.
    expect(await issuedTermsProblems({ store, pricing: { ...pricing, currency: 'EUR' }, now: () => Date.parse('2031-02-01T00:00:00Z') })).toEqual([]);
  });
});
