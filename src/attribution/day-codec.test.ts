import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { attributionArbitraries } from '../../test/support/attribution-arbitraries.ts';
import { IDLE_POLICIES, pricingSchema } from '../pricing/price-book.ts';
import { attributeCostsByHour } from './attribute-costs.ts';
import { revenueCounter } from './cost-service.ts';
import type { DayAttribution } from './day-cache.ts';
import { DAY_FORMAT_VERSION, decodeDay, encodeDay, int64Base64, int64FromBase64 } from './day-codec.ts';
import type { AttributionInput } from './types.ts';
import type { UsageRecord } from './usage-table.ts';

const HOUR = 3_600_000;
const D0 = Date.UTC(2026, 9, 1);
const { capacityRow, usageRow, priceVersion } = attributionArbitraries(D0, 24);

/** A day as attributeRange builds it: the engine's result and hours, with revenue and requests per tenant. */
function dayOf(input: AttributionInput, revenue: DayAttribution['revenue'] = new Map()): DayAttribution {
  const { result, tenantHours } = attributeCostsByHour(input);
  return { result, tenantHours, revenue, requests: requestsOf(input.usage as UsageRecord[]) };
}

function requestsOf(rows: readonly UsageRecord[]): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const r of rows) out.set(r.tenantId, (out.get(r.tenantId) ?? 0n) + r.requests);
  return out;
}

const decoded = (text: string): DayAttribution => {
  const out = decodeDay(text);
  if ('error' in out) throw new Error(out.error);
  return out.day;
};

/** A fixed day with every kind of figure: two instances, a GPU, overhead, idle, three tenants, revenue. */
const FIXED: AttributionInput = {
  from: D0,
  to: D0 + 24 * HOUR,
  now: D0 + 30 * HOUR,
  idlePolicy: 'proportional',
  prices: [{ effective_from: D0 - HOUR, vcpu_hour: 36_000_000_000n, memory_gib_hour: 4_700_000_000n, gpu_hour: { H100: 2_990_000_000_000n }, overhead_hour: 10_000_000_000n }],
  capacity: [0, 5, 23].flatMap((h) => [
    { instanceId: 'i1', hour: D0 + h * HOUR, cpuMillicoreMs: 8_000n * 3_600_000n, memoryByteMs: (32n << 30n) * 3_600_000n, memoryUsedByteMs: (9n << 30n) * 3_600_000n, gpuModel: 'H100', gpuMs: 3_600_000n },
    { instanceId: 'i2', hour: D0 + h * HOUR, cpuMillicoreMs: 4_000n * 3_600_000n, memoryByteMs: (16n << 30n) * 3_600_000n, memoryUsedByteMs: (3n << 30n) * 3_600_000n, gpuModel: '', gpuMs: 0n },
  ]),
  usage: [0, 5, 23].flatMap((h) => [
    { tenantId: 'acme', instanceId: 'i1', hour: D0 + h * HOUR, model: 'resnet', modelVariant: 'fp16', requests: 1200n, inputTokens: 0n, outputTokens: 0n, cpuUs: 900_000_007n, gpuUs: 1_700_000_003n },
    { tenantId: 'globex', instanceId: 'i2', hour: D0 + h * HOUR, model: 'bert', modelVariant: 'int8', requests: 77n, inputTokens: 5000n, outputTokens: 12n, cpuUs: 3_333_333_333n, gpuUs: 0n },
    { tenantId: 'ünïcode "quoted"', instanceId: 'i2', hour: D0 + h * HOUR, model: 'bert', modelVariant: 'int8', requests: 1n, inputTokens: 1n, outputTokens: 1n, cpuUs: 1n, gpuUs: 0n },
  ]),
};
/** The fixed day's list revenue, from a plan with tiers and an allowance, as attributeRange counts it. */
const FIXED_REVENUE = (() => {
  const pricing = pricingSchema.parse({
    capacity: [{ effective_from: '2026-01-01T00:00:00Z', vcpu_hour: '0.036', memory_gib_hour: '0.0047' }],
    plans: {
      standard: [
        {
          effective_from: '2026-01-01T00:00:00Z',
          meters: { requests: { tiers: [{ up_to: 1000, unit_price: '0.001' }, { unit_price: '0.0004' }] }, input_tokens: { unit_price: '0.0021' }, gpu_seconds: { unit_price: '0.00071' } },
        },
      ],
    },
  });
  const counter = revenueCounter({ store: undefined as never, pricing, planOf: () => 'standard', now: () => FIXED.now });
  counter.add(FIXED.usage as UsageRecord[]);
  return counter.table();
})();

describe('a priced day written for attribution_days and read back', () => {
  it('reads back exactly what was priced: every amount, every tenant, every hour', () => {
    const day = dayOf(FIXED, FIXED_REVENUE);
    expect(day.result.tenants).toHaveLength(3);
    expect(day.revenue.get('acme')?.get('resnet')).toBeGreaterThan(0n);
    expect(decoded(encodeDay(day))).toEqual(day);
  });

  it('reads back exactly for any rows, prices and idle policy the engine can be given', () => {
    const inputs = fc.record({
      capacity: fc.array(capacityRow, { maxLength: 30 }),
      usage: fc.array(usageRow, { maxLength: 40 }),
      prices: fc.uniqueArray(priceVersion, { minLength: 1, maxLength: 2, selector: (p) => p.effective_from }),
      idlePolicy: fc.constantFrom(...IDLE_POLICIES),
      now: fc.integer({ min: D0, max: D0 + 30 * HOUR }),
    });
    fc.assert(
      fc.property(inputs, ({ prices, ...rest }) => {
        const day = dayOf({ ...rest, prices: [...prices].sort((a, b) => a.effective_from - b.effective_from), from: D0, to: D0 + 24 * HOUR });
        expect(decoded(encodeDay(day))).toEqual(day);
      }),
      { numRuns: 100 },
    );
  });

  it('keeps 64-bit hourly figures exact, negative and extreme ones included', () => {
    const values = BigInt64Array.from([0n, -1n, 1n, 2n ** 63n - 1n, -(2n ** 63n), 9_007_199_254_740_993n]);
    expect(int64FromBase64(int64Base64(values))).toEqual(values);
  });

  /**
   * The digest of a fixed day's stored text. If this fails, a change made the stored value of the
   * same rows and prices different: bump DAY_FORMAT_VERSION (so days stored by the old code are
   * priced again instead of being served) and then update the digest here.
   */
  it('pins what a stored day means: a change to it must bump DAY_FORMAT_VERSION', () => {
    const text = encodeDay(dayOf(FIXED, FIXED_REVENUE));
    const digest = createHash('sha256').update(`${DAY_FORMAT_VERSION}\n${text}`).digest('hex');
    expect(digest).toBe('cb08bbd84aa351656ac5170171445954c38c78495c641677612bc2b3ab699d70');
  });

  describe('refuses a stored value it cannot trust (the day is priced again instead)', () => {
    const good = JSON.parse(encodeDay(dayOf(FIXED, FIXED_REVENUE))) as Record<string, unknown>;
    const refused = (change: (p: Record<string, unknown>) => unknown) => {
      const p = structuredClone(good);
      change(p);
      return decodeDay(JSON.stringify(p));
    };

    it('text that is not JSON', () => {
      expect(decodeDay('{"v":1,')).toEqual({ error: expect.stringMatching(/^not JSON/) });
    });

    it('another format version', () => {
      expect(refused((p) => (p.v = DAY_FORMAT_VERSION + 1))).toEqual({ error: expect.stringContaining('v') });
    });

    it('an amount that is not an integer', () => {
      expect(refused((p) => (p.capacityCost = '12.5'))).toEqual({ error: expect.stringContaining('capacityCost') });
      expect(refused((p) => ((p.tenants as unknown[][])[0]![1] = 12))).toEqual({ error: 'tenants[0] (acme): not an integer as a decimal string' });
      expect(refused((p) => ((p.tenants as unknown[][])[1]![6] = [['bert', 'int8', '1']]))).toEqual({ error: 'tenants[1] models[0]: not a list of 4' });
      expect(refused((p) => ((p.tenants as unknown[][])[2]![7] = [[7, '1']]))).toEqual({ error: expect.stringMatching(/^tenants\[2\] instances\[0\]: not a name/) });
    });

    it('hourly figures of the wrong length or not base64', () => {
      expect(refused((p) => ((p.hours as string[][])[0]![1] = int64Base64(new BigInt64Array(3))))).toEqual({ error: expect.stringContaining('not 3 × 24') });
      expect(refused((p) => ((p.hours as string[][])[0]![1] = '@@@@'))).toEqual({ error: expect.stringContaining('int64') });
    });

    it('a range that is not whole hours', () => {
      expect(refused((p) => (p.to = (p.to as number) + 1))).toEqual({ error: expect.stringContaining('whole hours') });
    });

    it('an unknown field or idle policy', () => {
      expect(refused((p) => (p.extra = 1))).toHaveProperty('error');
      expect(refused((p) => (p.idlePolicy = 'generous'))).toHaveProperty('error');
    });
  });

  it('will not write a day whose hourly figures cover another range', () => {
    const day = dayOf(FIXED);
    expect(() => encodeDay({ ...day, tenantHours: { ...day.tenantHours, to: day.tenantHours.to + HOUR } })).toThrow(RangeError);
  });
});
