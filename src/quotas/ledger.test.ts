import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LeaseLedger } from './ledger.ts';

const T0 = Date.parse('2026-03-14T09:26:10Z');
const NEXT_MINUTE = Date.parse('2026-03-14T09:27:00Z');
const RECLAIM_MS = 15_000;

describe('counter book', () => {
  it.each([
    // [limit, asks in order, grants]
    [10, [4, 4, 4], [4, 4, 2]],
    [10, [10, 1], [10, 0]],
    [10, [20], [10]],
    [5, [0, 5, 0], [0, 5, 0]],
    [1, [1, 1, 1], [1, 0, 0]],
  ])('limit %d: asks %j are granted %j (min(amount, limit - used))', (limit, asks, grants) => {
    const ledger = new LeaseLedger(RECLAIM_MS);
    expect(asks.map((a) => ledger.take('t', 'requests_per_minute', 'h', a, limit, T0).granted)).toEqual(grants);
  });

  it('counts granted units as used at once and reports the window', () => {
    const ledger = new LeaseLedger(RECLAIM_MS);
    const take = ledger.take('t', 'requests_per_minute', 'h', 7, 10, T0);
    expect(take).toEqual({ granted: 7, used: 7, window: { start: Date.parse('2026-03-14T09:26:00Z'), end: NEXT_MINUTE } });
    expect(ledger.used('t', 'requests_per_minute', T0).used).toBe(7);
  });

  it('a new window starts empty; the old one is forgotten', () => {
    const ledger = new LeaseLedger(RECLAIM_MS);
    ledger.take('t', 'requests_per_minute', 'h', 10, 10, T0);
    expect(ledger.take('t', 'requests_per_minute', 'h', 1, 10, T0 + 1000).granted).toBe(0);
    expect(ledger.take('t', 'requests_per_minute', 'h', 3, 10, NEXT_MINUTE).granted).toBe(3);
    expect(ledger.used('t', 'requests_per_minute', NEXT_MINUTE).used).toBe(3);
  });

  it('keeps tenants and kinds apart', () => {
    const ledger = new LeaseLedger(RECLAIM_MS);
    ledger.take('a', 'requests_per_minute', 'h', 10, 10, T0);
    expect(ledger.take('b', 'requests_per_minute', 'h', 10, 10, T0).granted).toBe(10);
    expect(ledger.take('a', 'tokens_per_day', 'h', 10, 10, T0).granted).toBe(10);
  });

  it('release returns units to the same window only', () => {
    const ledger = new LeaseLedger(RECLAIM_MS);
    const { window } = ledger.take('t', 'requests_per_minute', 'h', 10, 10, T0);
    ledger.giveBack('t', 'requests_per_minute', 'h', 4, window.start, T0 + 1);
    expect(ledger.used('t', 'requests_per_minute', T0 + 1).used).toBe(6);
    // A release for last minute arriving in this minute is dropped, not credited to this one.
    ledger.take('t', 'requests_per_minute', 'h', 2, 10, NEXT_MINUTE);
    ledger.giveBack('t', 'requests_per_minute', 'h', 6, window.start, NEXT_MINUTE + 1);
    expect(ledger.used('t', 'requests_per_minute', NEXT_MINUTE + 1).used).toBe(2);
  });

  it('a holder cannot give back more than it was granted, nor units of another holder', () => {
    const ledger = new LeaseLedger(RECLAIM_MS);
    const { window } = ledger.take('t', 'requests_per_minute', 'a', 3, 10, T0);
    ledger.take('t', 'requests_per_minute', 'b', 5, 10, T0);
    ledger.giveBack('t', 'requests_per_minute', 'a', 100, window.start, T0);
    expect(ledger.used('t', 'requests_per_minute', T0).used).toBe(5);
    ledger.giveBack('t', 'requests_per_minute', 'nobody', 5, window.start, T0);
    expect(ledger.used('t', 'requests_per_minute', T0).used).toBe(5);
  });

  it('never grants more than the limit per window, whatever the sequence of takes and releases', () => {
    const op = fc.oneof(
      fc.record({ take: fc.integer({ min: 0, max: 30 }), holder: fc.constantFrom('a', 'b', 'c') }),
      fc.record({ back: fc.integer({ min: 0, max: 30 }), holder: fc.constantFrom('a', 'b', 'c') }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.array(op, { maxLength: 60 }), (limit, ops) => {
        const ledger = new LeaseLedger(RECLAIM_MS);
        const held = new Map<string, number>();
        for (const o of ops) {
          if ('take' in o) {
            const t = ledger.take('t', 'tokens_per_day', o.holder, o.take, limit, T0);
            held.set(o.holder, (held.get(o.holder) ?? 0) + t.granted);
          } else {
            const back = Math.min(o.back, held.get(o.holder) ?? 0);
            ledger.giveBack('t', 'tokens_per_day', o.holder, o.back, undefined, T0);
            held.set(o.holder, (held.get(o.holder) ?? 0) - back);
          }
          const out = [...held.values()].reduce((a, b) => a + b, 0);
          expect(ledger.used('t', 'tokens_per_day', T0).used).toBe(out);
          expect(out).toBeLessThanOrEqual(limit);
        }
      }),
    );
  });
});

describe('carry-over after a restart', () => {
  const MINUTE = Date.parse('2026-03-14T09:26:00Z');

  it('counts units spent before the ledger existed on top of its own leases, raise-only', () => {
    const ledger = new LeaseLedger(RECLAIM_MS);
    ledger.take('t', 'requests_per_minute', 'h', 2, 10, T0);
    ledger.carryOver('t', 'requests_per_minute', MINUTE, 5, T0);
    expect(ledger.used('t', 'requests_per_minute', T0).used).toBe(7);
    ledger.carryOver('t', 'requests_per_minute', MINUTE, 3, T0); // an older, smaller read changes nothing
    expect(ledger.take('t', 'requests_per_minute', 'h', 9, 10, T0)).toMatchObject({ granted: 3, used: 10 });
  });

  it('cannot be given back: a give-back returns only what that holder was leased', () => {
    const ledger = new LeaseLedger(RECLAIM_MS);
    ledger.carryOver('t', 'requests_per_minute', MINUTE, 6, T0);
    ledger.take('t', 'requests_per_minute', 'h', 4, 10, T0);
    ledger.giveBack('t', 'requests_per_minute', 'h', 10, MINUTE, T0);
    ledger.giveBack('t', 'requests_per_minute', 'other', 10, MINUTE, T0);
    expect(ledger.used('t', 'requests_per_minute', T0).used).toBe(6);
  });

  it('applies to the window it was read for only, and a new window starts without it', () => {
    const ledger = new LeaseLedger(RECLAIM_MS);
    ledger.carryOver('t', 'requests_per_minute', MINUTE - 60_000, 8, T0);
    expect(ledger.used('t', 'requests_per_minute', T0).used).toBe(0);
    ledger.carryOver('t', 'requests_per_minute', MINUTE, 8, T0);
    expect(ledger.used('t', 'requests_per_minute', NEXT_MINUTE).used).toBe(0);
  });
});

describe('concurrency gauge', () => {
  it('acquires up to the limit across holders and frees on release', () => {
    const ledger = new LeaseLedger(RECLAIM_MS);
    expect(ledger.acquire('t', 'a', 2, 3, T0)).toEqual({ granted: 2, inUse: 2 });
    expect(ledger.acquire('t', 'b', 2, 3, T0)).toEqual({ granted: 1, inUse: 3 });
    expect(ledger.acquire('t', 'b', 1, 3, T0).granted).toBe(0);
    ledger.free('t', 'a', 1, T0);
    expect(ledger.inUse('t', T0)).toBe(2);
    expect(ledger.acquire('t', 'b', 1, 3, T0).granted).toBe(1);
  });

  it('freeing more than held clamps at zero (a double release cannot mint slots)', () => {
    const ledger = new LeaseLedger(RECLAIM_MS);
    ledger.acquire('t', 'a', 1, 2, T0);
    ledger.acquire('t', 'b', 1, 2, T0);
    ledger.free('t', 'a', 5, T0);
    expect(ledger.inUse('t', T0)).toBe(1);
    expect(ledger.acquire('t', 'c', 5, 2, T0).granted).toBe(1);
  });

  it.each([
    [RECLAIM_MS, 2],
    [RECLAIM_MS + 1, 0],
  ])('slots of a holder silent for %d ms: %d still held', (silentMs, held) => {
    const ledger = new LeaseLedger(RECLAIM_MS);
    ledger.acquire('t', 'crashed', 2, 2, T0);
    expect(ledger.inUse('t', T0 + silentMs)).toBe(held);
  });

  it('a lease of 0 renews the holder, so a long-running holder keeps its slots', () => {
    const ledger = new LeaseLedger(RECLAIM_MS);
    ledger.acquire('t', 'busy', 2, 2, T0);
    ledger.acquire('t', 'busy', 0, 2, T0 + 10_000);
    ledger.acquire('t', 'busy', 0, 2, T0 + 20_000);
    expect(ledger.inUse('t', T0 + 30_000)).toBe(2);
    expect(ledger.acquire('t', 'other', 1, 2, T0 + 30_000).granted).toBe(0);
    expect(ledger.acquire('t', 'other', 1, 2, T0 + 40_000).granted).toBe(1);
  });
});

describe('peaks between drains', () => {
  const MINUTE = Date.parse('2026-03-14T09:26:00Z');
  const summary = (ledger: LeaseLedger, now: number) => ledger.drainPeaks(now).map((p) => [p.tenantId, p.kind, p.peak, p.window?.start ?? null]);

  it('reports the highest value a counter reached since the last drain, once', () => {
    const ledger = new LeaseLedger(RECLAIM_MS);
    const { window } = ledger.take('t', 'requests_per_minute', 'h', 9, 10, T0);
    ledger.giveBack('t', 'requests_per_minute', 'h', 5, window.start, T0 + 1);
    expect(summary(ledger, T0 + 2)).toEqual([['t', 'requests_per_minute', 9, MINUTE]]);
    expect(summary(ledger, T0 + 3)).toEqual([]);
    // Back up, but not above what the last drain saw (4): nothing new.
    ledger.take('t', 'requests_per_minute', 'h', 0, 10, T0 + 4);
    expect(summary(ledger, T0 + 5)).toEqual([]);
    ledger.take('t', 'requests_per_minute', 'h', 3, 10, T0 + 6);
    expect(summary(ledger, T0 + 7)).toEqual([['t', 'requests_per_minute', 7, MINUTE]]);
  });

  it("reports the peak of a window that ended before the drain, whether or not a new window's counter replaced it", () => {
    const ledger = new LeaseLedger(RECLAIM_MS);
    ledger.take('a', 'requests_per_minute', 'h', 10, 10, NEXT_MINUTE - 1000);
    ledger.take('b', 'requests_per_minute', 'h', 10, 10, NEXT_MINUTE - 1000);
    ledger.take('b', 'requests_per_minute', 'h', 2, 10, NEXT_MINUTE + 1000); // b's minute rolls over
    expect(summary(ledger, NEXT_MINUTE + 5000)).toEqual([
      ['b', 'requests_per_minute', 10, MINUTE],
      ['a', 'requests_per_minute', 10, MINUTE],
      ['b', 'requests_per_minute', 2, NEXT_MINUTE],
    ]);
    expect(summary(ledger, NEXT_MINUTE + 6000)).toEqual([]);
  });

  it('counts usage carried over from before a restart as a rise', () => {
    const ledger = new LeaseLedger(RECLAIM_MS);
    ledger.carryOver('t', 'tokens_per_day', Date.parse('2026-03-14T00:00:00Z'), 500, T0);
    expect(summary(ledger, T0)).toEqual([['t', 'tokens_per_day', 500, Date.parse('2026-03-14T00:00:00Z')]]);
  });

  it('reports a concurrency burst that came and went between two drains', () => {
    const ledger = new LeaseLedger(RECLAIM_MS);
    ledger.acquire('t', 'h1', 2, 5, T0);
    ledger.acquire('t', 'h2', 3, 5, T0);
    ledger.free('t', 'h1', 2, T0 + 1);
    ledger.free('t', 'h2', 3, T0 + 1);
    expect(ledger.inUse('t', T0 + 2)).toBe(0);
    expect(summary(ledger, T0 + 2)).toEqual([['t', 'concurrent_requests', 5, null]]);
    expect(summary(ledger, T0 + 3)).toEqual([]);
  });
});
