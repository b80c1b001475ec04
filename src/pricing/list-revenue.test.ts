import { describe, expect, it } from 'vitest';
import { parseMoney } from '../money/money.ts';
import { listRevenue } from './list-revenue.ts';
import { pricingSchema } from './price-book.ts';

const H = 3_600_000;
const book = pricingSchema.parse({
  capacity: [{ effective_from: '2026-01-01T00:00:00Z', vcpu_hour: '0.04', memory_gib_hour: '0' }],
  plans: {
    standard: [
      {
        effective_from: '2026-01-01T00:00:00Z',
        meters: {
          requests: { unit_price: '0.0001', included: 1000 },
          cpu_seconds: { tiers: [{ up_to: 10, unit_price: '0.002' }, { unit_price: '0.001' }] },
          input_tokens: { unit_price: '0.5' },
        },
      },
      { effective_from: '2026-01-01T02:00:00Z', meters: { requests: { unit_price: '0.0002' } } },
    ],
  },
});
const t0 = Date.parse('2026-01-01T00:00:00Z');
const row = (hour: number, q: Partial<Record<'requests' | 'inputTokens' | 'outputTokens' | 'cpuUs' | 'gpuUs', bigint>>) => ({
  hour,
  requests: 0n,
  inputTokens: 0n,
  outputTokens: 0n,
  cpuUs: 0n,
  gpuUs: 0n,
  ...q,
});

describe('listRevenue', () => {
  it.each([
    ['requests at list price, allowance ignored', [row(t0, { requests: 1000n })], '0.100000'],
    ['first-tier price for cpu seconds (20 s x 0.002)', [row(t0, { cpuUs: 20_000_000n })], '0.040000'],
    ['tokens per 1k (1500 tokens x 0.5 / 1k)', [row(t0, { inputTokens: 1500n })], '0.750000'],
    ['the version in force at each hour', [row(t0 + H, { requests: 10n }), row(t0 + 2 * H, { requests: 10n })], '0.003000'],
    ['meters the version does not price', [row(t0 + 2 * H, { cpuUs: 5_000_000n })], '0.000000'],
    ['hours before the first version', [row(t0 - H, { requests: 10n })], '0.000000'],
  ])('%s', (_name, rows, expected) => {
    expect(listRevenue(book.plans.standard!, rows)).toBe(parseMoney(expected));
  });
});
