import { describe, expect, it } from 'vitest';
import { RefusalPacer, type Refusal } from './refusal-pacer.ts';

const MINUTE_END = 1_800_000_060_000;
const NOW = MINUTE_END - 30_000;

/** A pacer on a settable clock whose sleeps are recorded, and resolved only when told. */
function pacer(opts: { delayMs?: number; maxHeld?: number } = {}) {
  const clock = { now: NOW };
  const sleeps: number[] = [];
  const wake: Array<() => void> = [];
  const p = new RefusalPacer({
    delayMs: opts.delayMs ?? 1000,
    maxHeld: opts.maxHeld ?? 10,
    now: () => clock.now,
    sleep: (ms) => {
      sleeps.push(ms);
      return new Promise<void>((resolve) => wake.push(resolve));
    },
  });
  const wakeAll = () => wake.splice(0).forEach((w) => w());
  return { p, sleeps, wakeAll, clock };
}

/** A refusal of tenant a's requests_per_minute, received `afterMs` after NOW. */
const refusal = (over: Partial<Refusal> & { afterMs?: number } = {}): Refusal => ({
  tenantId: 'a',
  kind: 'requests_per_minute',
  resetAt: MINUTE_END,
  receivedAt: NOW + (over.afterMs ?? 1),
  ...over,
});

describe('RefusalPacer', () => {
  it('answers the first refusal of a window at once and holds requests sent after it', async () => {
    const { p, sleeps, wakeAll } = pacer();
    expect(await p.pace(refusal({ afterMs: 0 }))).toBe(false);
    const second = p.pace(refusal());
    const third = p.pace(refusal());
    expect(p.holding).toBe(2);
    expect(sleeps).toEqual([1000, 1000]);
    wakeAll();
    expect(await Promise.all([second, third])).toEqual([true, true]);
    expect(p.holding).toBe(0);
  });

  it('never holds a request sent before the first refusal was answered: it could not have seen Retry-After', async () => {
    const { p, sleeps } = pacer();
    await p.pace(refusal({ afterMs: 0 }));
    // A second worker's request, in flight while the first refusal was being decided.
    expect(await p.pace(refusal({ afterMs: -5 }))).toBe(false);
    expect(await p.pace(refusal({ afterMs: 0 }))).toBe(false);
    expect(sleeps).toEqual([]);
  });

  it('a new window, another quota or another tenant starts with an immediate answer again', async () => {
    const { p, sleeps } = pacer();
    await p.pace(refusal({ afterMs: 0 }));
    expect(await p.pace(refusal({ resetAt: MINUTE_END + 60_000 }))).toBe(false);
    expect(await p.pace(refusal({ kind: 'tokens_per_day', resetAt: MINUTE_END + 60_000 }))).toBe(false);
    expect(await p.pace(refusal({ tenantId: 'b', kind: 'tokens_per_day', resetAt: MINUTE_END + 60_000 }))).toBe(false);
    expect(sleeps).toEqual([]);
  });

  it('never holds an answer into the last second before the reset', async () => {
    const { p, sleeps, wakeAll, clock } = pacer();
    await p.pace(refusal({ afterMs: 0 }));
    clock.now = MINUTE_END - 1300;
    const held = p.pace(refusal({ afterMs: 28_000 }));
    expect(sleeps).toEqual([300]);
    wakeAll();
    expect(await held).toBe(true);
    clock.now = MINUTE_END - 900;
    expect(await p.pace(refusal({ afterMs: 29_000 }))).toBe(false);
  });

  it('holds at most one refusal per connection: requests pipelined behind it are answered (in order) after it', async () => {
    const { p, sleeps, wakeAll } = pacer();
    const socket = {};
    await p.pace(refusal({ afterMs: 0, connection: socket }));
    const held = p.pace(refusal({ connection: socket }));
    expect(await p.pace(refusal({ connection: socket }))).toBe(false);
    const otherConnection = p.pace(refusal({ connection: {} }));
    expect(sleeps).toHaveLength(2);
    wakeAll();
    expect(await Promise.all([held, otherConnection])).toEqual([true, true]);
    // Released: the connection's next repeat is held again.
    const again = p.pace(refusal({ connection: socket }));
    expect(p.holding).toBe(1);
    wakeAll();
    expect(await again).toBe(true);
  });

  it('holds at most maxHeld refusals at once; beyond, they are answered at once', async () => {
    const { p, sleeps, wakeAll } = pacer({ maxHeld: 2 });
    await p.pace(refusal({ afterMs: 0 }));
    const held = [p.pace(refusal()), p.pace(refusal())];
    expect(await p.pace(refusal())).toBe(false);
    expect(sleeps).toHaveLength(2);
    wakeAll();
    await Promise.all(held);
    const again = p.pace(refusal());
    expect(p.holding).toBe(1);
    wakeAll();
    expect(await again).toBe(true);
  });

  it('delay 0 never holds', async () => {
    const { p, sleeps } = pacer({ delayMs: 0 });
    await p.pace(refusal({ afterMs: 0 }));
    expect(await p.pace(refusal())).toBe(false);
    expect(sleeps).toEqual([]);
  });

  describe('a tenant whose own queue is full (queue_full)', () => {
    const full = (afterMs: number, connection?: object) => ({ tenantId: 'a', receivedAt: NOW + afterMs, retryAfterMs: 1000, connection });

    it('answers the first at once and holds a request sent after it until the Retry-After has passed', async () => {
      const { p, sleeps, wakeAll, clock } = pacer({ delayMs: 5000 });
      expect(await p.paceFullQueue(full(0))).toBe(false);
      clock.now += 200;
      const held = p.paceFullQueue(full(200));
      expect(sleeps).toEqual([800]); // the rest of the spell, not the whole delay
      wakeAll();
      expect(await held).toBe(true);
    });

    it('never holds what was sent before the first answer, what is sent once the spell is over, or a second refusal on one connection', async () => {
      const { p, sleeps } = pacer();
      const connection = {};
      await p.paceFullQueue(full(0));
      expect(await p.paceFullQueue(full(-3))).toBe(false);
      const first = p.paceFullQueue(full(10, connection));
      expect(await p.paceFullQueue(full(11, connection))).toBe(false);
      expect(sleeps).toHaveLength(1);
      void first;
    });

    it('a client that honours Retry-After is never held, and the spells do not touch the quota windows', async () => {
      const { p, sleeps, clock } = pacer();
      await p.pace(refusal({ afterMs: 0 }));
      expect(await p.paceFullQueue(full(0))).toBe(false);
      clock.now += 1000;
      expect(await p.paceFullQueue(full(1000))).toBe(false);
      expect(sleeps).toEqual([]);
      const quota = p.pace(refusal({ afterMs: 1001 }));
      expect(sleeps).toEqual([1000]);
      void quota;
    });
  });
});
