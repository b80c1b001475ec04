import { describe, expect, it } from 'vitest';
import { expectedStatusCounts, recomputeSelectOnly, rollupLayout } from './rollup-data.ts';

const NOW = Date.UTC(2026, 10, 28, 10, 42);

describe('rollup suite layout', () => {
  it('spreads the requests over yesterday, UTC, one tenant per 50,000', () => {
    const layout = rollupLayout(120_000, NOW);
    expect(layout).toMatchObject({ tenants: 3, from: Date.UTC(2026, 10, 27), to: Date.UTC(2026, 10, 28) });
    // 3 tenants × 24 hours × 3 models × 2 instances combinations, all hit.
    expect(layout.expectedRows).toBe(432);
    expect(rollupLayout(100, NOW).expectedRows).toBe(100);
    expect(() => rollupLayout(0, NOW)).toThrow(/positive integer/);
  });

  it('counts the rejected (number % 100 = 7) and error (number % 50 = 3) requests as the insert makes them', () => {
    for (const n of [1, 4, 8, 53, 100, 107, 108, 1000, 123_457]) {
      let rejected = 0;
      let errors = 0;
      for (let i = 0; i < n; i++) {
        if (i % 100 === 7) rejected++;
        else if (i % 50 === 3) errors++;
      }
      expect(expectedStatusCounts(n), `n = ${n}`).toEqual({ rejected, errors });
    }
  });

  it('baselines the rollup on its own SELECT, without the INSERT', () => {
    const q = recomputeSelectOnly(rollupLayout(1000, NOW));
    expect(q.query).not.toMatch(/INSERT/);
    expect(q.query).toMatch(/^SELECT count\(\) AS n FROM \(\s*SELECT/);
    expect(q.params.hours).toHaveLength(24);
  });
});
