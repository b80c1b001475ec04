import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cauchyCombination } from './combine.ts';

describe('cauchyCombination', () => {
  it('returns a lone p-value below ½ unchanged', () => {
    for (const p of [1e-300, 1e-20, 1e-6, 0.01, 0.3, 0.49]) expect(cauchyCombination([p]) / p).toBeCloseTo(1, 10);
  });

  it('is 1 (no evidence) when no channel is below ½', () => {
    expect(cauchyCombination([0.5, 0.9, 1])).toBe(1);
  });

  it('returns the common value when every channel agrees', () => {
    expect(cauchyCombination([0.02, 0.02, 0.02, 0.02])).toBeCloseTo(0.02, 12);
  });

  it('is Bonferroni in the tail when one channel is extreme and the others are silent', () => {
    const p = cauchyCombination([1e-9, 0.7, 0.9, 1]);
    expect(p / (4 * 1e-9)).toBeCloseTo(1, 6);
  });

  it('rewards agreement: two strong channels beat Bonferroni, one strong channel does not', () => {
    const two = cauchyCombination([1e-4, 1e-4, 0.8, 0.8]);
    expect(two).toBeCloseTo(2e-4, 8);
    expect(two).toBeLessThan(4 * 1e-4);
  });

  it('keeps precision where ½ − p would round to ½ (the exponential tail goes far below 1e-17)', () => {
    const a = cauchyCombination([1e-30, 0.6]);
    const b = cauchyCombination([1e-40, 0.6]);
    expect(a).toBeCloseTo(2e-30, 40);
    expect(b).toBeLessThan(a);
    expect(cauchyCombination([0, 0.2])).toBe(0);
  });

  it('no channels, no evidence', () => {
    expect(cauchyCombination([])).toBe(1);
  });

  it('is a p-value in [0, ½] or 1, and never increases when a channel gets stronger', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 6 }), fc.nat(), fc.double({ min: 0, max: 1, noNaN: true }), (ps, i, factor) => {
        const p = cauchyCombination(ps);
        expect(p === 1 || (p >= 0 && p <= 0.5)).toBe(true);
        expect(p === 1).toBe(ps.every((q) => q >= 0.5));
        const j = i % ps.length;
        const stronger = ps.map((q, k) => (k === j ? q * factor : q));
        expect(cauchyCombination(stronger)).toBeLessThanOrEqual(p + 1e-15);
      }),
    );
  });
});
