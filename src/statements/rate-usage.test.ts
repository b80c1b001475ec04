import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseMoney, sumMicros } from '../money/money.ts';
import { METERS } from '../pricing/price-book.ts';
import { diffForAdjustments, rateStatement, toAdjustment } from './rate-usage.ts';
import { renderJson } from './render.ts';
import { adjustment, BEFORE, flat, H, OCT, rate, tiered, usageAt, version } from './test-support.ts';
import type { MeteredHour } from './types.ts';
import { METER_UNITS, periodBounds, quantityToBase } from './units.ts';

/** [tier, quantity, included_quantity, amount] per line, the shape most expectations take. */
const shape = (usage: MeteredHour[], versions = [version(BEFORE, { requests: TIERS })]) =>
  rate(usage, versions).lines.map((l) => [l.tier, l.quantity, l.included_quantity, l.amount]);

const TIERS = tiered([[100, '0.01'], [1000, '0.005'], [undefined, '0.001']]);

describe('graduated tiers', () => {
  it.each([
    ['below the first bound', [50n], [[1, 50, 0, '0.500000']]],
    ['exactly at the first bound', [100n], [[1, 100, 0, '1.000000']]],
    ['one past the first bound', [101n], [[1, 100, 0, '1.000000'], [2, 1, 0, '0.005000']]],
    ['across every band in one hour', [1500n], [[1, 100, 0, '1.000000'], [2, 900, 0, '4.500000'], [3, 500, 0, '0.500000']]],
    ['across a bound between hours (cumulative position)', [60n, 60n], [[1, 100, 0, '1.000000'], [2, 20, 0, '0.100000']]],
    ['exactly at the last bound', [1000n], [[1, 100, 0, '1.000000'], [2, 900, 0, '4.500000']]],
  ])('%s', (_name, perHour, expected) => {
    expect(shape(perHour.map((requests, i) => usageAt(i, 'resnet', { requests })))).toEqual(expected);
  });
});

describe('allowance', () => {
  const plan = (included: number) => [version(BEFORE, { requests: flat('0.0001', included) })];
  it.each([
    ['larger than usage', 100, 50n, [[0, 50, 50, '0.000000']]],
    ['equal to usage', 100, 100n, [[0, 100, 100, '0.000000']]],
    ['smaller than usage', 100, 150n, [[0, 150, 100, '0.005000']]],
    ['none', 0, 150n, [[0, 150, 0, '0.015000']]],
  ])('%s', (_name, included, requests, expected) => {
    expect(shape([usageAt(0, 'resnet', { requests })], plan(included))).toEqual(expected);
  });

  it('is consumed first and still occupies tier positions', () => {
    const versions = [version(BEFORE, { requests: tiered([[100, '0.01'], [undefined, '0.005']], 150) })];
    expect(shape([usageAt(0, 'resnet', { requests: 300n })], versions)).toEqual([
      [1, 100, 100, '0.000000'],
      [2, 200, 50, '0.750000'],
    ]);
  });

  it('is shared by models, first come (chronologically, then by name) first served', () => {
    const versions = [version(BEFORE, { requests: flat('0.01', 100) })];
    const s = rate([usageAt(0, 'b', { requests: 80n }), usageAt(0, 'a', { requests: 80n }), usageAt(1, 'a', { requests: 10n })], versions);
    expect(s.lines.map((l) => [l.model, l.quantity, l.included_quantity, l.amount])).toEqual([
      ['a', 90, 80, '0.100000'],
      ['b', 80, 20, '0.600000'],
    ]);
  });
});

describe('plan versions changing mid-period', () => {
  const v2 = OCT + 10 * H;
  it('splits at the effective instant and carries the tier position over', () => {
    const versions = [
      version(BEFORE, { requests: tiered([[100, '0.01'], [undefined, '0.005']]) }),
      version(v2, { requests: tiered([[200, '0.02'], [undefined, '0.004']]) }),
    ];
    const s = rate([usageAt(0, 'resnet', { requests: 150n }), usageAt(10, 'resnet', { requests: 100n })], versions);
    expect(s.lines.map((l) => [l.price_effective_from, l.tier, l.quantity, l.amount])).toEqual([
      ['2026-01-01T00:00:00Z', 1, 100, '1.000000'],
      ['2026-01-01T00:00:00Z', 2, 50, '0.250000'],
      ['2026-10-01T10:00:00Z', 1, 50, '1.000000'],
      ['2026-10-01T10:00:00Z', 2, 50, '0.200000'],
    ]);
    expect(s.subtotal).toBe('2.450000');
  });

  it('carries the allowance over: a larger one frees only the difference', () => {
    const versions = [version(BEFORE, { requests: flat('0.01', 100) }), version(v2, { requests: flat('0.02', 150) })];
    const s = rate([usageAt(0, 'resnet', { requests: 120n }), usageAt(10, 'resnet', { requests: 100n })], versions);
    expect(s.lines.map((l) => [l.price_effective_from, l.quantity, l.included_quantity, l.amount])).toEqual([
      ['2026-01-01T00:00:00Z', 120, 100, '0.200000'],
      ['2026-10-01T10:00:00Z', 100, 50, '1.000000'],
    ]);
  });

  it('does not rate or count usage before the first version, or meters a version does not price', () => {
    const versions = [version(v2, { requests: tiered([[100, '0.01'], [undefined, '0.005']]) })];
    const s = rate([usageAt(0, 'resnet', { requests: 500n, gpuUs: 9_000_000n }), usageAt(10, 'resnet', { requests: 100n, gpuUs: 1n })], versions);
    expect(s.lines.map((l) => [l.meter, l.tier, l.quantity])).toEqual([['requests', 1, 100]]);
  });
});

describe('units', () => {
  it.each([
    ['fractional cpu seconds', { cpu_seconds: flat('0.0002') }, { cpuUs: 1_500_000n }, 1.5, 'second', '0.000300'],
    ['one microsecond, rounded to nothing', { cpu_seconds: flat('0.0002') }, { cpuUs: 1n }, 0.000001, 'second', '0.000000'],
    ['half a micro rounds to even (down)', { gpu_seconds: flat('0.5') }, { gpuUs: 1n }, 0.000001, 'second', '0.000000'],
    ['one and a half micros round to even (up)', { gpu_seconds: flat('0.5') }, { gpuUs: 3n }, 0.000003, 'second', '0.000002'],
    ['tokens per 1k', { input_tokens: flat('0.0005') }, { inputTokens: 1500n }, 1.5, '1k tokens', '0.000750'],
    ['a single token', { output_tokens: flat('0.0015') }, { outputTokens: 1n }, 0.001, '1k tokens', '0.000002'],
  ])('%s', (_name, meters, q, quantity, unit, amount) => {
    const [line] = rate([usageAt(0, 'bert', q)], [version(BEFORE, meters)]).lines;
    expect(line).toMatchObject({ quantity, unit, amount });
  });

  it('splits tokens exactly at a fractional (1k) tier bound', () => {
    const versions = [version(BEFORE, { input_tokens: tiered([[1.5, '0.001'], [undefined, '0.0005']]) })];
    const s = rate([usageAt(0, 'bert', { inputTokens: 2000n })], versions);
    expect(s.lines.map((l) => [l.tier, l.quantity, l.amount])).toEqual([[1, 1.5, '0.001500'], [2, 0.5, '0.000250']]);
  });
});

describe('rateStatement', () => {
  const versions = [version(BEFORE, { requests: flat('0.01'), gpu_seconds: flat('0.001') })];

  it('keeps only hours inside the period', () => {
    const usage = [usageAt(-1, 'm', { requests: 7n }), usageAt(0, 'm', { requests: 1n }), usageAt(31 * 24, 'm', { requests: 7n })];
    expect(rate(usage, versions).lines.map((l) => l.quantity)).toEqual([1]);
  });

  it('orders lines by model, meter (METERS order), version, tier and renders the header fields', () => {
    const s = rate([usageAt(0, 'z', { gpuUs: 1_000_000n, requests: 1n }), usageAt(1, 'a', { gpuUs: 2_000_000n })], versions);
    expect(s.lines.map((l) => `${l.model}/${l.meter}`)).toEqual(['a/gpu_seconds', 'z/requests', 'z/gpu_seconds']);
    expect(s).toMatchObject({ period_start: '2026-10-01T00:00:00Z', period_end: '2026-11-01T00:00:00Z', generated_at: '2026-11-10T00:00:00Z' });
  });

  it('adds adjustments to the subtotal exactly', () => {
    const s = rate([usageAt(0, 'm', { requests: 250n })], versions, [adjustment('-1.000001'), adjustment('0.25')]);
    expect([s.subtotal, s.adjustments_total, s.total]).toEqual(['2.500000', '-0.750001', '1.749999']);
    expect(s.adjustments[0]).toEqual({ period: '2026-09', model: 'resnet', meter: 'requests', amount: '-1.000001', description: 'late usage for 2026-09' });
  });

  it('reads years below 100 as themselves, not as 19xx', () => {
    expect(periodBounds('0026-11')).toEqual({ start: Date.parse('0026-11-01T00:00:00Z'), end: Date.parse('0026-12-01T00:00:00Z') });
    expect(periodBounds('0099-12').end).toBe(Date.parse('0100-01-01T00:00:00Z'));
    expect(periodBounds('2026-12')).toEqual({ start: Date.UTC(2026, 11, 1), end: Date.UTC(2027, 0, 1) });
  });

  it.each(['2026-13', '2026-1', 'October', ''])('rejects the period %j', (period) => {
    expect(() => rate([], versions, [], period)).toThrow(RangeError);
  });

  it('rejects negative usage rather than rating it', () => {
    expect(() => rate([usageAt(0, 'm', { requests: -1n })], versions)).toThrow(RangeError);
  });
});

describe('diffForAdjustments', () => {
  const versions = [version(BEFORE, { requests: tiered([[100, '0.01'], [undefined, '0.005']]), gpu_seconds: flat('0.001') })];
  const issued = rate([usageAt(0, 'a', { requests: 90n, gpuUs: 1_000_000n })], versions);
  const late = [usageAt(0, 'a', { requests: 90n, gpuUs: 1_000_000n }), usageAt(500, 'a', { requests: 20n }), usageAt(501, 'b', { gpuUs: 3_000_000n })];
  const recomputed = rate(late, versions);

  it('carries recomputed − issued per (model, meter), only non-zero', () => {
    expect(diffForAdjustments(issued, recomputed, [])).toEqual([
      { period: '2026-10', model: 'a', meter: 'requests', amount: '0.150000', description: 'late usage for 2026-10' },
      { period: '2026-10', model: 'b', meter: 'gpu_seconds', amount: '0.003000', description: 'late usage for 2026-10' },
    ]);
  });

  it('subtracts what earlier adjustments for that period already carried, ignoring other periods', () => {
    const already = [
      { period: '2026-10', model: 'a', meter: 'requests', amount: '0.150000', description: 'late usage for 2026-10' },
      { period: '2026-09', model: 'b', meter: 'gpu_seconds', amount: '5.000000', description: 'late usage for 2026-09' },
    ];
    expect(diffForAdjustments(issued, recomputed, already).map((a) => [a.model, a.meter, a.amount])).toEqual([['b', 'gpu_seconds', '0.003000']]);
  });

  it('feeds the next period, where it shows as an adjustment', () => {
    const carried = diffForAdjustments(issued, recomputed, []).map(toAdjustment);
    const november = rate([], versions, carried, '2026-11');
    expect([november.subtotal, november.adjustments_total, november.total]).toEqual(['0.000000', '0.153000', '0.153000']);
  });

  it('refuses statements of different periods', () => {
    expect(() => diffForAdjustments(issued, rate([], versions, [], '2026-11'), [])).toThrow(RangeError);
  });
});

describe('invariants (property-based)', () => {
  // v1 leaves gpu unpriced; v2 (from hour 200) prices every meter, with other tiers and allowances.
  const V2 = OCT + 200 * H;
  const versions = [
    version(BEFORE, {
      requests: tiered([[500, '0.0003'], [5000, '0.0002'], [undefined, '0.0001']], 100),
      input_tokens: flat('0.0005', 2.5),
      output_tokens: tiered([[10, '0.0015'], [undefined, '0.001']]),
      cpu_seconds: tiered([[3600, '0.0002'], [undefined, '0.00015']]),
    }),
    version(V2, {
      requests: tiered([[1000, '0.0004'], [undefined, '0.00005']], 300),
      input_tokens: flat('0.0006'),
      output_tokens: tiered([[5, '0.002'], [50, '0.0012'], [undefined, '0.001']], 1),
      cpu_seconds: flat('0.00025', 0.5),
      gpu_seconds: flat('0.001', 60),
    }),
  ];
  const sum = (xs: bigint[]): bigint => xs.reduce((a, b) => a + b, 0n);
  const big = fc.bigInt({ min: 0n, max: 50_000_000n });
  const row = fc.record({
    hour: fc.integer({ min: -5, max: 31 * 24 + 5 }).map((i) => OCT + i * H),
    model: fc.constantFrom('a', 'b', 'c,"d"'),
    requests: fc.bigInt({ min: 0n, max: 5_000n }),
    inputTokens: big,
    outputTokens: big,
    cpuUs: big,
    gpuUs: big,
  });
  const adj = fc.bigInt({ min: -10_000_000n, max: 10_000_000n }).map((amount) => ({ period: '2026-09', model: 'a', meter: 'requests', amount, description: 'x' }));

  it('Σ lines = subtotal, total = subtotal + adjustments, and usage is neither lost nor doubled', () => {
    fc.assert(fc.property(fc.array(row, { maxLength: 40 }), fc.array(adj, { maxLength: 3 }), (usage, adjustments) => {
      const s = rateStatement({ tenant: 't', period: '2026-10', plan: 'p', planVersions: versions, currency: 'EUR', usage, adjustments, status: 'issued', generatedAt: 0 });
      const subtotal = parseMoney(s.subtotal);
      expect(sumMicros(s.lines.map((l) => parseMoney(l.amount)))).toBe(subtotal);
      expect(parseMoney(s.total)).toBe(subtotal + sumMicros(adjustments.map((a) => a.amount)));
      for (const meter of METERS) {
        const pricedFrom = meter === 'gpu_seconds' ? V2 : OCT;
        const priced = usage.filter((u) => u.hour >= pricedFrom && u.hour < OCT + 31 * 24 * H);
        const rated = sum(s.lines.filter((l) => l.meter === meter).map((l) => quantityToBase(l.quantity, METER_UNITS[meter])));
        expect(rated).toBe(sum(priced.map((u) => u[METER_UNITS[meter].field])));
      }
    }));
  });

  it('does not depend on the order of the input rows', () => {
    fc.assert(fc.property(fc.array(row, { maxLength: 30 }), fc.infiniteStream(fc.integer()), (usage, keys) => {
      const shuffled = usage.map((u) => ({ u, k: keys.next().value as number })).sort((x, y) => x.k - y.k).map((x) => x.u);
      const a = rateStatement({ tenant: 't', period: '2026-10', plan: 'p', planVersions: versions, currency: 'EUR', usage, adjustments: [], status: 'open', generatedAt: 0 });
      const b = rateStatement({ tenant: 't', period: '2026-10', plan: 'p', planVersions: [...versions].reverse(), currency: 'EUR', usage: shuffled, adjustments: [], status: 'open', generatedAt: 0 });
      expect(renderJson(b)).toBe(renderJson(a));
    }));
  });

  it('keeps the documented line order, and included never exceeds quantity', () => {
    fc.assert(fc.property(fc.array(row, { maxLength: 30 }), (usage) => {
      const s = rate(usage, versions);
      const keys = s.lines.map((l) => [l.model, METERS.indexOf(l.meter), l.price_effective_from, l.tier] as const);
      const sorted = [...keys].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] - y[1] || (x[2] < y[2] ? -1 : x[2] > y[2] ? 1 : x[3] - y[3])));
      expect(keys).toEqual(sorted);
      for (const l of s.lines) expect(l.included_quantity).toBeLessThanOrEqual(l.quantity);
    }));
  });
});
