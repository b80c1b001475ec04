import { describe, expect, it } from 'vitest';
import { seededRandom as uniform } from '../seeded-random.ts';
import { AnomalyLikelihood, logGaussianTail } from './likelihood.ts';

describe('logGaussianTail', () => {
  it.each([
    [0, 0.5],
    [1, 0.15865525],
    [1.959964, 0.025],
    [3, 0.0013498980],
    [-1, 0.84134475],
  ])('P(Z ≥ %d) ≈ %d', (z, p) => {
    expect(Math.exp(logGaussianTail(z))).toBeCloseTo(p, 6);
  });

  it('stays finite far in the tail, where the probability itself underflows', () => {
    expect(logGaussianTail(8)).toBeCloseTo(Math.log(6.2209606e-16), 4);
    expect(logGaussianTail(10)).toBeCloseTo(Math.log(7.6198530e-24), 4);
    expect(logGaussianTail(50)).toBeCloseTo(-1254.8, 0);
    expect(Number.isFinite(logGaussianTail(1e6))).toBe(true);
  });
});

describe('AnomalyLikelihood', () => {
  it('says nothing until it has 100 means to compare with', () => {
    const l = new AnomalyLikelihood(10, 1000);
    const out = Array.from({ length: 120 }, () => l.push(0.5));
    expect(out.slice(0, 109).every((p) => p === undefined)).toBe(true);
    expect(out[109]).toBeDefined();
  });

  it('finds nothing unusual in a steady stream of surprises', () => {
    const l = new AnomalyLikelihood(10, 1000);
    let p: number | undefined;
    for (let i = 0; i < 500; i++) p = l.push(0.5);
    expect(p).toBe(1);
  });

  it('makes a burst of moderately surprising rows significant, though no row of it is', () => {
    const l = new AnomalyLikelihood(10, 1000);
    const u = uniform(7);
    for (let i = 0; i < 2000; i++) l.push(u());
    // No row of the burst is extreme on its own (0.9 is the top decile of what came before) ...
    const burst = Array.from({ length: 10 }, () => l.push(0.9) as number);
    // ... and one such row does not move the mean of ten out of the ordinary ...
    expect(burst[0]).toBeGreaterThan(0.01);
    // ... but several in a row take it beyond every mean in the history.
    expect(Math.min(...burst)).toBeLessThan(1 / 1001);
  });

  it('returns probabilities in (0, 1]', () => {
    const l = new AnomalyLikelihood(5, 200);
    const u = uniform(11);
    for (let i = 0; i < 3000; i++) {
      const p = l.push(i % 500 < 20 ? 1 : u() * 0.3);
      if (p !== undefined) {
        expect(p).toBeGreaterThan(0);
        expect(p).toBeLessThanOrEqual(1);
      }
    }
  });
});
