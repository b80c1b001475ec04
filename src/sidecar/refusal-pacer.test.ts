import { describe, expect, it } from 'vitest';
import { RefusalPacer } from './refusal-pacer.ts';

const MINUTE_END = 1_800_000_060_000;

/** A pacer on a frozen clock whose sleeps are recorded, and resolved only when told. */
function pacer(opts: { delayMs?: number; maxHeld?: number; now?: number } = {}) {
  const sleeps: number[] = [];
  const wake: Array<() => void> = [];
  const p = new RefusalPacer({
    delayMs: opts.delayMs ?? 1000,
    maxHeld: opts.maxHeld ?? 10,
    now: () => opts.now ?? MINUTE_END - 30_000,
    sleep: (ms) => {
      sleeps.push(ms);
      return new Promise<void>((resolve) => wake.push(resolve));
    },
  });
  const wakeAll = () => wake.splice(0).forEach((w) => w());
  return { p, sleeps, wakeAll };
}

describe('RefusalPacer', () => {
  it('answers the first refusal of a window at once and holds every repeat for the delay', async () => {
    const { p, sleeps, wakeAll } = pacer();
    expect(await p.pace('a', 'requests_per_minute', MINUTE_END)).toBe(false);
    const second = p.pace('a', 'requests_per_minute', MINUTE_END);
    const third = p.pace('a', 'requests_per_minute', MINUTE_END);
    expect(p.holding).toBe(2);
    expect(sleeps).toEqual([1000, 1000]);
    wakeAll();
    expect(await Promise.all([second, third])).toEqual([true, true]);
    expect(p.holding).toBe(0);
  });

  it('a new window, another quota or another tenant starts with an immediate answer again', async () => {
    const { p, sleeps } = pacer();
    await p.pace('a', 'requests_per_minute', MINUTE_END);
    expect(await p.pace('a', 'requests_per_minute', MINUTE_END + 60_000)).toBe(false);
    expect(await p.pace('a', 'tokens_per_day', MINUTE_END + 60_000)).toBe(false);
    expect(await p.pace('b', 'tokens_per_day', MINUTE_END + 60_000)).toBe(false);
    expect(sleeps).toEqual([]);
  });

  it('never holds an answer past the reset', async () => {
    const { p, sleeps, wakeAll } = pacer({ now: MINUTE_END - 300 });
    await p.pace('a', 'requests_per_minute', MINUTE_END);
    const held = p.pace('a', 'requests_per_minute', MINUTE_END);
    expect(sleeps).toEqual([300]);
    wakeAll();
    expect(await held).toBe(true);
    const { p: late } = pacer({ now: MINUTE_END });
    await late.pace('a', 'requests_per_minute', MINUTE_END);
    expect(await late.pace('a', 'requests_per_minute', MINUTE_END)).toBe(false);
  });

  it('holds at most maxHeld refusals at once; beyond, they are answered at once', async () => {
    const { p, sleeps, wakeAll } = pacer({ maxHeld: 2 });
    await p.pace('a', 'requests_per_minute', MINUTE_END);
    const held = [p.pace('a', 'requests_per_minute', MINUTE_END), p.pace('a', 'requests_per_minute', MINUTE_END)];
    expect(await p.pace('a', 'requests_per_minute', MINUTE_END)).toBe(false);
    expect(sleeps).toHaveLength(2);
    wakeAll();
    await Promise.all(held);
    const again = p.pace('a', 'requests_per_minute', MINUTE_END);
    expect(p.holding).toBe(1);
    wakeAll();
    expect(await again).toBe(true);
  });

  it('delay 0 never holds', async () => {
    const { p, sleeps } = pacer({ delayMs: 0 });
    await p.pace('a', 'requests_per_minute', MINUTE_END);
    expect(await p.pace('a', 'requests_per_minute', MINUTE_END)).toBe(false);
    expect(sleeps).toEqual([]);
  });
});
