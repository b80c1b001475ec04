import { describe, expect, it } from 'vitest';
import { parseRate } from '../money/money.ts';
import { DEFAULT_PRICING_INPUT, pricingSchema, versionAt } from './price-book.ts';

const H = 3_600_000;

describe('pricingSchema', () => {
  it('parses the default price book into exact rates, versions sorted', () => {
    const book = pricingSchema.parse(DEFAULT_PRICING_INPUT);
    expect(book.capacity[0]!.vcpu_hour).toBe(parseRate('0.04'));
    expect(book.plans.standard![0]!.meters.requests).toEqual({ unit_price: parseRate('0.0001'), included: 100 });
    expect(book.default_plan).toBe('standard');
  });

  it.each([
    ['a price with too many decimals', { vcpu_hour: '0.0000000000001' }, 'capacity.0.vcpu_hour'],
    ['a negative price', { vcpu_hour: '-1' }, 'capacity.0.vcpu_hour'],
    ['an effective instant off the hour', { effective_from: '2026-01-01T00:30:00Z' }, 'capacity.0.effective_from'],
  ])('rejects %s', (_name, override, path) => {
    const input = { ...DEFAULT_PRICING_INPUT, capacity: [{ ...DEFAULT_PRICING_INPUT.capacity[0], ...override }] };
    const result = pricingSchema.safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.path.join('.'))).toContain(path);
  });

  it.each([
    ['both unit_price and tiers', { unit_price: '1', tiers: [{ unit_price: '1' }] }],
    ['neither', { included: 5 }],
    ['a closed last tier', { tiers: [{ up_to: 10, unit_price: '1' }] }],
    ['decreasing bounds', { tiers: [{ up_to: 10, unit_price: '1' }, { up_to: 5, unit_price: '1' }, { unit_price: '1' }] }],
  ])('rejects a meter with %s', (_name, meter) => {
    const input = { ...DEFAULT_PRICING_INPUT, plans: { standard: [{ effective_from: '2026-01-01T00:00:00Z', meters: { requests: meter } }] } };
    expect(pricingSchema.safeParse(input).success).toBe(false);
  });

  it('rejects a default plan that does not exist', () => {
    expect(pricingSchema.safeParse({ ...DEFAULT_PRICING_INPUT, default_plan: 'gold' }).success).toBe(false);
  });
});

describe('versionAt', () => {
  const versions = [{ effective_from: 0 }, { effective_from: 10 * H }, { effective_from: 20 * H }];
  it.each([
    [-1, undefined],
    [0, 0],
    [10 * H - 1, 0],
    [10 * H, 10 * H],
    [99 * H, 20 * H],
  ])('at %s -> version from %s', (at, from) => expect(versionAt(versions, at)?.effective_from).toBe(from));
});
