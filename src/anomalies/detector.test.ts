import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../seeded-random.ts';
import { createDetector } from './detector.ts';

const FIVE_MIN = 300_000;
const DAY_ROWS = 288;
const T0 = Date.UTC(2024, 0, 1);

/** Deterministic noise (seeded uniform + Box–Muller) so the scenario tests cannot flake. */
function gaussian(seed: number): () => number {
  const uniform = seededRandom(seed);
  return () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
}

function scoreAll(values: readonly number[], times?: readonly number[]): number[] {
  const detector = createDetector();
  return values.map((v, i) => detector.update(times?.[i] ?? T0 + i * FIVE_MIN, v));
}

const rowArb = fc.record({
  gap: fc.integer({ min: 0, max: 4 * 3_600_000 }),
  value: fc.oneof(
    fc.double({ noNaN: false }),
    fc.constant(Number.NaN),
    fc.constant(0),
    fc.constant(1e300),
    fc.integer({ min: -5, max: 5 }),
  ),
});

function toSeries(rows: ReadonlyArray<{ gap: number; value: number }>): { times: number[]; values: number[] } {
  let t = T0;
  return { times: rows.map((r) => (t += r.gap)), values: rows.map((r) => r.value) };
}

describe('createDetector', () => {
  it('is causal: the scores of a prefix do not depend on later rows', () => {
    fc.assert(
      fc.property(fc.array(rowArb, { minLength: 1, maxLength: 400 }), fc.nat(), (rows, cut) => {
        const { times, values } = toSeries(rows);
        const k = cut % (rows.length + 1);
        const full = scoreAll(values, times);
        expect(scoreAll(values.slice(0, k), times.slice(0, k))).toEqual(full.slice(0, k));
      }),
      { numRuns: 60 },
    );
  });

  it('keeps every score in [0, 1], whatever the input', () => {
    fc.assert(
      fc.property(fc.array(rowArb, { maxLength: 600 }), (rows) => {
        const { times, values } = toSeries(rows);
        for (const s of scoreAll(values, times)) expect(s >= 0 && s <= 1).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('scores 0 for a missing value and leaves the state as if the row were absent', () => {
    const noise = gaussian(7);
    const values = Array.from({ length: 600 }, () => 10 + noise());
    const times = values.map((_, i) => T0 + i * FIVE_MIN);
    const gapped = values.flatMap((v, i) => (i % 50 === 25 ? [Number.NaN, v] : [v]));
    const gappedTimes = times.flatMap((t, i) => (i % 50 === 25 ? [t - 1000, t] : [t]));
    const scores = scoreAll(gapped, gappedTimes);
    expect(scores.filter((_, i) => Number.isNaN(gapped[i])).every((s) => s === 0)).toBe(true);
    expect(scores.filter((_, i) => !Number.isNaN(gapped[i]))).toEqual(scoreAll(values, times));
  });

  it('ranks a spike in a noisy daily-seasonal series above every normal point of its last week', () => {
    const noise = gaussian(1);
    const values = Array.from({ length: 21 * DAY_ROWS }, (_, i) => 100 + 30 * Math.sin((2 * Math.PI * i) / DAY_ROWS) + 3 * noise());
    const spikeAt = values.length - 100;
    values[spikeAt] = (values[spikeAt] as number) + 25;
    const scores = scoreAll(values);
    const lastWeek = scores.slice(spikeAt - 7 * DAY_ROWS, spikeAt);
    expect(scores[spikeAt]).toBeGreaterThan(Math.max(...lastWeek));
    expect(scores[spikeAt]).toBeGreaterThan(0.5);
  });

  it('flags a level shift, then stops flagging it once the new level persists', () => {
    const noise = gaussian(2);
    const values = Array.from({ length: 6 * DAY_ROWS }, (_, i) => (i < 4 * DAY_ROWS ? 50 : 80) + 2 * noise());
    const scores = scoreAll(values);
    const shift = 4 * DAY_ROWS;
    expect(Math.max(...scores.slice(shift, shift + 6))).toBeGreaterThan(0.6);
    expect(Math.max(...scores.slice(shift + DAY_ROWS, shift + 2 * DAY_ROWS))).toBeLessThan(0.5);
  });

  it('flags a burst of moderate errors that no single row makes extreme (anomaly likelihood)', () => {
    const noise = gaussian(4);
    const start = 2000;
    // 15 rows alternating ±2.2σ: each is within the range of the errors seen so far, and the
    // alternation keeps the mean residual (the shift channel) near 0.
    const values = Array.from({ length: 2020 }, (_, i) => 50 + (i >= start && i < start + 15 ? (i % 2 ? 2.2 : -2.2) : noise()));
    const score = (likelihoodRows?: number) => {
      const detector = createDetector(likelihoodRows === undefined ? {} : { likelihoodRows });
      const scores = values.map((v, i) => detector.update(T0 + i * FIVE_MIN, v));
      return { burst: Math.max(...scores.slice(start, start + 15)), before: Math.max(...scores.slice(500, start)) };
    };
    const withLikelihood = score();
    expect(withLikelihood.burst).toBeGreaterThan(withLikelihood.before);
    expect(withLikelihood.burst).toBeGreaterThan(0.5);
    // Without the likelihood channel the burst scores below ordinary noise peaks.
    const without = score(0);
    expect(without.burst).toBeLessThan(without.before);
  });

  it('flags any change of a flatline as extreme, without dividing by zero', () => {
    const values = [...Array.from({ length: 500 }, () => 5), 5.001, 5, 5];
    const scores = scoreAll(values);
    expect(scores.slice(0, 500).every((s) => s === 0)).toBe(true);
    expect(scores[500]).toBeGreaterThan(0.9);
    expect(scoreAll([...Array.from({ length: 500 }, () => 0), 1])[500]).toBeGreaterThan(0.9);
  });

  it('uses time, not row order, for seasonality: irregular sampling still learns the daily shape', () => {
    const noise = gaussian(3);
    const times: number[] = [];
    const values: number[] = [];
    for (let t = T0, i = 0; t < T0 + 14 * 86_400_000; i++) {
      t += (5 + (i % 3) * 5) * 60_000; // 5, 10, 15 minute gaps
      times.push(t);
      const hour = (t % 86_400_000) / 3_600_000;
      values.push((hour >= 8 && hour < 20 ? 200 : 20) + 2 * noise());
    }
    const scores = scoreAll(values, times);
    // The daily steps at 08:00 and 20:00 are normal once a few days have been seen.
    expect(Math.max(...scores.slice(Math.floor(scores.length / 2)))).toBeLessThan(0.6);
  });

  it('flags a spike in a calm stretch that is smaller than the errors of an earlier noisy stretch', () => {
    const noise = gaussian(4);
    const values = Array.from({ length: 1400 }, (_, i) => 100 + (i < 800 ? 10 : 1) * noise());
    const spikeAt = 1300;
    values[spikeAt] = 100 + 12; // well inside the noisy stretch's range, far outside the calm one's
    const scores = scoreAll(values);
    expect(scores[spikeAt]).toBeGreaterThan(0.55);
    expect(scores[spikeAt]).toBeGreaterThan(Math.max(...scores.slice(900, spikeAt)));
  });

  it('halves a residual that is small next to the range the series has shown lately, until that range ages out', () => {
    const noise = gaussian(6);
    // Busy at 90 for a day, then calm at 2 (σ 0.05); a blip of +1 is 20σ but 1/90 of the range.
    const series = (days: number) => Array.from({ length: days * DAY_ROWS }, (_, i) => (i < DAY_ROWS ? 90 : 2) + 0.05 * noise());
    const blipScores = (days: number) => {
      const values = series(days);
      values[values.length - 1] = 3;
      const gated = scoreAll(values).at(-1)!;
      const detector = createDetector({ minRangeFraction: 0 });
      const ungated = values.map((v, i) => detector.update(T0 + i * FIVE_MIN, v)).at(-1)!;
      return { gated, ungated };
    };
    const recent = blipScores(5);
    expect(recent.ungated).toBeGreaterThan(0.5);
    expect(recent.gated).toBeCloseTo(recent.ungated / 2, 12);
    // 23 days on, the busy day has left the 22-day lookback: the blip is the series' range now.
    const later = blipScores(24);
    expect(later.gated).toBe(later.ungated);
    expect(later.gated).toBeGreaterThan(0.5);
  });

  it('is causal with a short relative-scale window too', () => {
    const noise = gaussian(5);
    const values = Array.from({ length: 700 }, (_, i) => (i % 97 === 0 ? 40 : 10) + noise());
    const full = values.map(((d) => (v: number, i: number) => d.update(T0 + i * FIVE_MIN, v))(createDetector({ scaleRows: 7 })));
    for (const k of [1, 50, 333, 699]) {
      const d = createDetector({ scaleRows: 7 });
      expect(values.slice(0, k).map((v, i) => d.update(T0 + i * FIVE_MIN, v))).toEqual(full.slice(0, k));
    }
  });
});
