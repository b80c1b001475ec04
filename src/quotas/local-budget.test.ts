import { describe, expect, it } from 'vitest';
import { absorb, CHUNK_SPREAD, isCurrent, leaseAmount, refund, SPENT_RECHECK_MS, takeIdle, trySpend, type LocalBudget } from './local-budget.ts';

const W = { start: 60_000, end: 120_000 };
const budget = (units: number, over: Partial<LocalBudget> = {}): LocalBudget => ({ window: W, units, unlimited: false, usedAt: 60_000, ...over });

describe('lease sizing', () => {
  it.each([
    // missing, perRequest, maxChunk, lastRemaining, amount
    [1, 1, 20, undefined, 20], // nothing known yet: a full chunk
    [1, 1, 20, 1000, 20], // plenty left: capped by max_chunk
    [1, 1, 20, 100, 13], // ceil(100 / 8)
    [1, 1, 20, 16, 2],
    [1, 1, 20, 3, 1], // the tail is leased one request at a time
    [1, 1, 20, 0, 1], // spent: ask for what is missing (the grant says 0 and when to retry)
    [1, 1, 1, undefined, 1], // max_chunk 1: exact, one request per lease
    [500, 500, 20, undefined, 10_000], // tokens: max_chunk requests' worth of this request's size
    [500, 500, 20, 40_000, 5000],
    [500, 500, 20, 800, 500], // never less than the request needs
    [300, 500, 20, 800, 300], // 200 already held locally
  ])('missing %d, per request %d, max chunk %d, remaining %s -> %d', (missing, perRequest, maxChunk, lastRemaining, amount) => {
    expect(leaseAmount({ missing, perRequest, maxChunk, lastRemaining })).toBe(amount);
  });

  it('shrinks chunks geometrically as the window runs out, so few units are stranded near the limit', () => {
    let remaining = 100;
    const chunks: number[] = [];
    while (remaining > 0) {
      const chunk = Math.min(remaining, leaseAmount({ missing: 1, perRequest: 1, maxChunk: 20, lastRemaining: remaining }));
      chunks.push(chunk);
      remaining -= chunk;
    }
    expect(chunks.slice(0, 3)).toEqual([13, 11, 10]);
    expect(chunks.at(-1)).toBe(1);
    expect(Math.max(...chunks.slice(-8))).toBeLessThanOrEqual(Math.ceil(8 / CHUNK_SPREAD) + 1);
  });
});

describe('local budget', () => {
  it('spends while it covers the request, then refuses', () => {
    const b = budget(2);
    expect(trySpend(b, 1, 61_000)).toBe(true);
    expect(trySpend(b, 1, 62_000)).toBe(true);
    expect(trySpend(b, 1, 63_000)).toBe(false);
    expect(b).toMatchObject({ units: 0, usedAt: 62_000 });
  });

  it('an unlimited budget always covers', () => {
    expect(trySpend(budget(0, { unlimited: true }), 1_000_000, 61_000)).toBe(true);
  });

  it.each([
    [59_999, false],
    [60_000, true],
    [119_999, true],
    [120_000, false],
  ])('at %d the budget of [60000, 120000) is current: %s', (now, current) => {
    expect(isCurrent(budget(1), now)).toBe(current);
  });

  it('absorbs a grant of the same window into the budget, and starts afresh in a new window', () => {
    const b = absorb(budget(3), { granted: 5, windowStart: W.start, windowEnd: W.end, limit: 100, remaining: 40 }, 61_000);
    expect(b).toMatchObject({ units: 8, limit: 100, lastRemaining: 40, spentUntil: undefined });
    const next = absorb(b, { granted: 2, windowStart: W.end, windowEnd: W.end + 60_000, limit: 100, remaining: 98 }, W.end);
    expect(next).toMatchObject({ window: { start: W.end, end: W.end + 60_000 }, units: 2 });
  });

  it('a short grant marks the quota spent until a recheck, not until the window end', () => {
    const b = absorb(undefined, { granted: 0, windowStart: W.start, windowEnd: W.end, retryAfterMs: 50_000, limit: 5, remaining: 0 }, 70_000);
    expect(b.spentUntil).toBe(70_000 + SPENT_RECHECK_MS);
    const soon = absorb(undefined, { granted: 0, windowStart: W.start, windowEnd: W.end, retryAfterMs: 300, limit: 5, remaining: 0 }, 119_700);
    expect(soon.spentUntil).toBe(120_000);
  });

  it('refunds into the current window only', () => {
    const b = budget(1);
    refund(b, 2, 61_000);
    expect(b.units).toBe(3);
    refund(b, 2, 120_000);
    expect(b.units).toBe(3);
  });

  it.each([
    [64_999, 0],
    [65_000, 7],
  ])('after 5 s idle the unspent units go back: at %d, %d returned', (now, back) => {
    const b = budget(7);
    expect(takeIdle(b, now, 5000)).toBe(back);
    expect(b.units).toBe(7 - back);
  });
});
