import type { LeasedKind } from './types.ts';
import { windowOf, type QuotaWindow } from './windows.ts';

/**
 * The authority's counter book (pure, in memory, `now` passed in).
 *
 * Counters (requests/minute, tokens/day), one per (tenant, kind), holding the current window only:
 * a lease grants min(amount, limit - used) and counts the granted units as used at once, so the
 * sum of grants in a window never exceeds the limit. Units a holder gives back return to the same
 * window only, and never more than that holder was granted in it. Units a holder never returns
 * (it crashed, or its window ended first) stay counted: the tenant may get less than its limit,
 * never more.
 *
 * Concurrency is a gauge of slots per holder. A holder renews its slots with every lease (a lease
 * of 0 is a pure renewal); slots of a holder silent for `reclaimAfterMs` are reclaimed, so a
 * crashed sidecar cannot pin a tenant's concurrency forever.
 */

export type CounterKind = Exclude<LeasedKind, 'concurrent_requests'>;

export interface Take {
  granted: number;
  /** Units leased in the window after this take. */
  used: number;
  window: QuotaWindow;
}

export interface Acquire {
  granted: number;
  /** Slots held by all holders after this acquire. */
  inUse: number;
}

interface Counter {
  window: QuotaWindow;
  /** Units leased by this ledger in the window and not given back. */
  used: number;
  /** Units spent in the window before this ledger existed (see carryOver). */
  carried: number;
  byHolder: Map<string, number>;
}

interface Slots {
  held: number;
  seenAt: number;
}

const key = (tenantId: string, kind: string) => `${tenantId}\u0000${kind}`;

export class LeaseLedger {
  private readonly counters = new Map<string, Counter>();
  private readonly gauges = new Map<string, Map<string, Slots>>();

  constructor(private readonly reclaimAfterMs: number) {}

  take(tenantId: string, kind: CounterKind, holder: string, amount: number, limit: number, now: number): Take {
    const c = this.counter(tenantId, kind, now);
    const granted = Math.max(0, Math.min(amount, limit - c.used - c.carried));
    if (granted > 0) {
      c.used += granted;
      c.byHolder.set(holder, (c.byHolder.get(holder) ?? 0) + granted);
    }
    return { granted, used: c.used + c.carried, window: c.window };
  }

  /** Returns units to the window they were leased in; a past window's units are dropped. */
  giveBack(tenantId: string, kind: CounterKind, holder: string, amount: number, windowStart: number | undefined, now: number): void {
    const c = this.counter(tenantId, kind, now);
    if (windowStart !== undefined && windowStart !== c.window.start) return;
    const held = c.byHolder.get(holder) ?? 0;
    const back = Math.max(0, Math.min(amount, held));
    if (back === 0) return;
    c.used -= back;
    if (held === back) c.byHolder.delete(holder);
    else c.byHolder.set(holder, held - back);
  }

  /**
   * Units of the current window that were spent before this ledger existed (read back from the
   * recorded requests after a restart of the authority), counted on top of this ledger's own
   * leases. Raise-only, since late-recorded requests only add to it; held by no holder, so no
   * give-back returns it. Ignored unless `windowStart` is still the current window (a read from
   * before midnight must not count toward the new day).
   */
  carryOver(tenantId: string, kind: CounterKind, windowStart: number, units: number, now: number): void {
    const c = this.counter(tenantId, kind, now);
    if (c.window.start !== windowStart || !(units > c.carried)) return;
    c.carried = units;
  }

  /** Units counted so far in the current window of `kind` (leased + carried over). */
  used(tenantId: string, kind: CounterKind, now: number): Take {
    const c = this.counter(tenantId, kind, now);
    return { granted: 0, used: c.used + c.carried, window: c.window };
  }

  acquire(tenantId: string, holder: string, amount: number, limit: number, now: number): Acquire {
    const holders = this.holders(tenantId, now);
    const mine = holders.get(holder) ?? { held: 0, seenAt: now };
    const granted = Math.max(0, Math.min(amount, limit - sumHeld(holders)));
    mine.held += granted;
    mine.seenAt = now;
    holders.set(holder, mine);
    return { granted, inUse: sumHeld(holders) };
  }

  free(tenantId: string, holder: string, amount: number, now: number): void {
    const holders = this.holders(tenantId, now);
    const mine = holders.get(holder);
    if (!mine) return;
    mine.held = Math.max(0, mine.held - amount);
    mine.seenAt = now;
  }

  inUse(tenantId: string, now: number): number {
    return sumHeld(this.holders(tenantId, now));
  }

  /** The tenant's counter for the window holding `now`, started afresh when the window moved on. */
  private counter(tenantId: string, kind: CounterKind, now: number): Counter {
    const k = key(tenantId, kind);
    const current = this.counters.get(k);
    if (current && now >= current.window.start && now < current.window.end) return current;
    const fresh: Counter = { window: windowOf(kind, now)!, used: 0, carried: 0, byHolder: new Map() };
    this.counters.set(k, fresh);
    return fresh;
  }

  /** The tenant's slot holders, with silent ones reclaimed. */
  private holders(tenantId: string, now: number): Map<string, Slots> {
    let holders = this.gauges.get(tenantId);
    if (!holders) {
      holders = new Map();
      this.gauges.set(tenantId, holders);
    }
    for (const [holder, slots] of holders) {
      if (now - slots.seenAt > this.reclaimAfterMs || slots.held === 0) holders.delete(holder);
    }
    return holders;
  }
}

function sumHeld(holders: Map<string, Slots>): number {
  let n = 0;
  for (const s of holders.values()) n += s.held;
  return n;
}
