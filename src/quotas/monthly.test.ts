import { describe, expect, it } from 'vitest';
import { evaluateMonthly, secondsToMicros } from './monthly.ts';

describe('monthly quotas', () => {
  it.each([
    [3600, 3_600_000_000n],
    [0.1, 100_000n],
    [1.000001, 1_000_001n],
    [12.5, 12_500_000n],
  ])('%d seconds are %d µs exactly', (seconds, micros) => {
    expect(secondsToMicros(seconds)).toBe(micros);
  });

  it.each([
    // cpu limit (s), used µs, exhausted
    [10, 9_999_999n, false],
    [10, 10_000_000n, true],
    [10, 10_000_001n, true],
    [0.1, 99_999n, false],
    [0.1, 100_000n, true],
  ])('cpu limit %d s at %d µs used: exhausted %s (blocked at used >= limit)', (limit, cpuUs, exhausted) => {
    const [m] = evaluateMonthly({ cpu_seconds_per_month: limit }, { cpuUs, gpuUs: 0n });
    expect(m).toMatchObject({ kind: 'cpu_seconds_per_month', limit, exhausted });
  });

  it.each([
    ['250.00', 249_999_999n, false, '249.999999'],
    ['250.00', 250_000_000n, true, '250.000000'],
    ['250', 250_000_001n, true, '250.000001'],
    [0.5, 499_999n, false, '0.499999'],
  ])('spend limit %s at %d micros: exhausted %s, used %s (exact decimals)', (limit, spend, exhausted, used) => {
    const [m] = evaluateMonthly({ spend_per_month: String(limit) }, { cpuUs: 0n, gpuUs: 0n, spend });
    expect(m).toMatchObject({ kind: 'spend_per_month', exhausted, used });
    expect(m!.limit).toMatch(/^\d+\.\d{6}$/);
  });

  it('reports only configured monthly quotas, in a fixed order, with ratios', () => {
    const out = evaluateMonthly(
      { requests_per_minute: 5, spend_per_month: '10', gpu_seconds_per_month: 100, cpu_seconds_per_month: 200 },
      { cpuUs: 50_000_000n, gpuUs: 100_000_000n, spend: 2_500_000n },
    );
    expect(out.map((m) => [m.kind, m.used, m.ratio, m.exhausted])).toEqual([
      ['cpu_seconds_per_month', 50, 0.25, false],
      ['gpu_seconds_per_month', 100, 1, true],
      ['spend_per_month', '2.500000', 0.25, false],
    ]);
  });

  it('a tenant without usage this month used nothing', () => {
    expect(evaluateMonthly({ gpu_seconds_per_month: 1 }, undefined)).toEqual([
      { kind: 'gpu_seconds_per_month', limit: 1, used: 0, ratio: 0, exhausted: false },
    ]);
  });
});
