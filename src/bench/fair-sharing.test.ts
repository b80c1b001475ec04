import { describe, expect, it } from 'vitest';
import { arrivesAt, CONCURRENCY, LIGHT_TENANTS, noisyTenant, othersOf, SUBSTEPS, type Tally } from './fair-sharing.ts';

describe('fair-sharing scenario', () => {
  it('floods at 10x the noisy tenant weighted share, while the light tenants leave room', () => {
    const { tenant, sharePerTick } = noisyTenant(10);
    expect(sharePerTick).toBeCloseTo(0.8, 12); // 4 slots x 1 / (1 + 1 + 1 + 2)
    expect(SUBSTEPS / tenant.every).toBeCloseTo(8, 12);
    const light = LIGHT_TENANTS.reduce((a, t) => a + SUBSTEPS / t.every, 0);
    expect(light).toBeLessThan(CONCURRENCY);
  });

  it.each([
    [{ name: 'x', weight: 1, every: 50, offset: 7 }, 0, 7, true],
    [{ name: 'x', weight: 1, every: 50, offset: 7 }, 1, 17, true], // 40 + 17 - 7 = 50
    [{ name: 'x', weight: 1, every: 50, offset: 7 }, 0, 6, false],
    [{ name: 'x', weight: 1, every: 50, offset: 57 }, 0, 7, false], // before its first arrival
  ])('arrivesAt(%j, tick %d, step %d) = %s', (t, tick, step, want) => {
    expect(arrivesAt(t, tick, step)).toBe(want);
  });

  it("summarizes the light tenants only, with latency = wait + one tick of service", () => {
    const tally = (waits: number[], refused = 0): Tally => ({ offered: waits.length + refused, served: waits.length, refused, waits });
    const s = othersOf(new Map([['noisy', tally([50, 60], 9)], ['a', tally([0, 0, 1])], ['b', tally([2], 1)]]));
    expect(s).toEqual({ p50: 0, p99: 2, p99Latency: 3, served: 4, offered: 5, refused: 1 });
  });
});
