import { describe, expect, it } from 'vitest';
import { percentile, perSecond, ratioOf, shuffled, summarize } from './stats.ts';

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted on purpose
  it.each([
    [hundred, 50, 50],
    [hundred, 99, 99],
    [hundred, 100, 100],
    [hundred, 0, 1],
    [[7], 50, 7],
    [[7], 99, 7],
    [[1, 2, 3, 4], 50, 2],
    [[1, 2, 3, 4], 75, 3],
    [[1, 2, 3, 4], 76, 4],
    [[3, 1, 2], 99, 3],
  ])('p of %j at %d is %d', (samples, p, want) => {
    expect(percentile(samples, p)).toBe(want);
  });

  it('is null for no samples, and refuses p outside [0, 100]', () => {
    expect(percentile([], 50)).toBeNull();
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], Number.NaN)).toThrow(RangeError);
  });

  it('does not reorder its input', () => {
    const xs = [3, 1, 2];
    percentile(xs, 50);
    expect(xs).toEqual([3, 1, 2]);
  });
});

describe('summarize, ratioOf, perSecond', () => {
  it('summarizes count, p50, p99 and mean', () => {
    expect(summarize([1, 2, 3, 4])).toEqual({ count: 4, p50: 2, p99: 4, mean: 2.5 });
    expect(summarize([])).toEqual({ count: 0, p50: null, p99: null, mean: null });
  });

  it.each([
    [2, 1, 2],
    [1, 4, 0.25],
    [0, 5, 0],
    [1, 0, null],
    [null, 1, null],
    [1, null, null],
    [1, undefined, null],
    [Number.POSITIVE_INFINITY, 1, null],
  ])('ratioOf(%s, %s) = %s', (value, baseline, want) => {
    expect(ratioOf(value, baseline)).toBe(want);
  });

  it('gives items per second, null for an empty or instant run', () => {
    expect(perSecond(500, 250)).toBe(2000);
    expect(perSecond(0, 250)).toBeNull();
    expect(perSecond(10, 0)).toBeNull();
  });
});

describe('shuffled', () => {
  it('is a permutation, the same for the same seed, different for another', () => {
    const xs = Array.from({ length: 50 }, (_, i) => i);
    const a = shuffled(xs, 42);
    expect([...a].sort((x, y) => x - y)).toEqual(xs);
    expect(shuffled(xs, 42)).toEqual(a);
    expect(shuffled(xs, 7)).not.toEqual(a);
    expect(xs[0]).toBe(0);
  });
});
