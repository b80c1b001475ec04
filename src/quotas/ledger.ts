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
 *
 * Peaks. Quota alerts are evaluated every few seconds, but a per-minute quota can be reached in
 * the last seconds of its minute and a concurrency burst can come and go between two
 * evaluations. So the book also keeps, per counter and per gauge, the highest value reached since
 * the last `drainPeaks()` (only when it rose above what that call saw), and for a counter whose
 * window ended before anyone drained it, that window's peak.
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

/** The highest value a counter (with its window) or a gauge (without) reached since the last drain. */
export interface LedgerPeak {
  tenantId: string;
  kind: LeasedKind;
  peak: number;
  /** Counters: the window of the peak (it may have ended). Absent for concurrency. */
  window?: QuotaWindow;
}

/** What the last drain saw, and the highest value since when it rose above that. */
interface PeakTrack {
  seen: number;
  peak?: number;
}

interface Counter extends PeakTrack {
  tenantId: string;
  kind: CounterKind;
  window: QuotaWindow;
  /** Units leased by this ledger in the window and not given back. */
  used: number;
  /** Units spent in the window before this ledger existed (see carryOver). */
  carried: number;
  byHolder: Map<string, number>;
  /**
   * Per holder: prefetch, units granted beyond what its request needed and not yet known to be
   * spent. A holder's next lease with a need shows its budget ran out (the prefetch was spent); a
   * give-back returns what was not.
   */
  prefetch: Map<string, number>;
  prefetchTotal: number;
}

interface Slots {
  held: number;
  seenAt: number;
}

const key = (tenantId: string, kind: string) => `${tenantId}\u0000${kind}`;

export class LeaseLedger {
  private readonly counters = new Map<string, Counter>();
  private readonly gauges = new Map<string, Map<string, Slots>>();
  private readonly gaugePeaks = new Map<string, PeakTrack>();
  /** Per counter key: the peak of a window that ended before a drain saw it (the highest, if several). */
  private readonly endedPeaks = new Map<string, LedgerPeak>();

  constructor(private readonly reclaimAfterMs: number) {}

  /**
   * `need`: the part of `amount` the holder's request lacks (the rest is prefetch); absent, all of
   * it is needed. A need also shows that the holder's earlier prefetch was spent.
   */
  take(tenantId: string, kind: CounterKind, holder: string, amount: number, limit: number, now: number, need = amount): Take {
    const c = this.counter(tenantId, kind, now);
    const granted = Math.max(0, Math.min(amount, limit - c.used - c.carried));
    if (need > 0) setPrefetch(c, holder, 0);
    if (granted > 0) {
      c.used += granted;
      c.byHolder.set(holder, (c.byHolder.get(holder) ?? 0) + granted);
      setPrefetch(c, holder, (c.prefetch.get(holder) ?? 0) + Math.max(0, granted - need));
    }
    rise(c, spent(c));
    return { granted, used: c.used + c.carried, window: c.window };
  }

  /**
   * Returns units to the window they were leased in; a past window's units are dropped. `rest`:
   * they are all the holder had left there (an idle hand-back), so the rest of its prefetch was
   * spent; otherwise (a refund) they come off its prefetch as far as it goes.
   */
  giveBack(tenantId: string, kind: CounterKind, holder: string, amount: number, windowStart: number | undefined, now: number, rest = false): void {
    const c = this.counter(tenantId, kind, now);
    if (windowStart !== undefined && windowStart !== c.window.start) return;
    const held = c.byHolder.get(holder) ?? 0;
    const back = Math.max(0, Math.min(amount, held));
    if (back === 0) return;
    c.used -= back;
    if (held === back) c.byHolder.delete(holder);
    else c.byHolder.set(holder, held - back);
    setPrefetch(c, holder, rest ? 0 : Math.max(0, (c.prefetch.get(holder) ?? 0) - back));
    rise(c, spent(c));
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
    rise(c, spent(c));
  }

  /** Units counted so far in the current window of `kind` (leased + carried over): what admission spends from. */
  used(tenantId: string, kind: CounterKind, now: number): Take {
    const c = this.counter(tenantId, kind, now);
    return { granted: 0, used: c.used + c.carried, window: c.window };
  }

  /**
   * Units known to be spent in the current window: `used` less the prefetch sidecars hold and may
   * not spend. What usage reports and quota alerts read: counting prefetch, a tenant at 31 of 40
   * requests showed 33 and was paged at 80 % (found by dogfooding). It trails the true figure by
   * at most the prefetch holders spent without asking again (a few units near the limit).
   */
  spent(tenantId: string, kind: CounterKind, now: number): Take {
    const c = this.counter(tenantId, kind, now);
    return { granted: 0, used: spent(c), window: c.window };
  }

  acquire(tenantId: string, holder: string, amount: number, limit: number, now: number): Acquire {
    const holders = this.holders(tenantId, now);
    const mine = holders.get(holder) ?? { held: 0, seenAt: now };
    const granted = Math.max(0, Math.min(amount, limit - sumHeld(holders)));
    mine.held += granted;
    mine.seenAt = now;
    holders.set(holder, mine);
    const inUse = sumHeld(holders);
    if (granted > 0) rise(this.gaugePeak(tenantId), inUse);
    return { granted, inUse };
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

  /**
   * Every peak since the last drain: counters and gauges that rose above what the last drain saw
   * (with their current window), and the peaks of windows that ended in between. What each one
   * holds now becomes what this drain saw, so a value is reported once, until it rises again.
   */
  drainPeaks(now: number): LedgerPeak[] {
    const out: LedgerPeak[] = [...this.endedPeaks.values()];
    this.endedPeaks.clear();
    for (const [k, c] of this.counters) {
      if (now >= c.window.end) {
        // Ended and not yet replaced by a new window's counter: its last rise is final.
        if (c.peak !== undefined) out.push({ tenantId: c.tenantId, kind: c.kind, peak: c.peak, window: c.window });
        this.counters.delete(k);
        continue;
      }
      if (c.peak !== undefined) out.push({ tenantId: c.tenantId, kind: c.kind, peak: c.peak, window: c.window });
      c.seen = spent(c);
      c.peak = undefined;
    }
    for (const [tenantId, track] of this.gaugePeaks) {
      if (track.peak !== undefined) out.push({ tenantId, kind: 'concurrent_requests', peak: track.peak });
      track.seen = this.inUse(tenantId, now);
      track.peak = undefined;
    }
    return out;
  }

  /** The tenant's counter for the window holding `now`, started afresh when the window moved on. */
  private counter(tenantId: string, kind: CounterKind, now: number): Counter {
    const k = key(tenantId, kind);
    const current = this.counters.get(k);
    if (current && now >= current.window.start && now < current.window.end) return current;
    if (current?.peak !== undefined) {
      const kept = this.endedPeaks.get(k);
      if (!kept || current.peak >= kept.peak) this.endedPeaks.set(k, { tenantId, kind, peak: current.peak, window: current.window });
    }
    const fresh: Counter = { tenantId, kind, window: windowOf(kind, now)!, used: 0, carried: 0, byHolder: new Map(), prefetch: new Map(), prefetchTotal: 0, seen: 0 };
    this.counters.set(k, fresh);
    return fresh;
  }

  private gaugePeak(tenantId: string): PeakTrack {
    let track = this.gaugePeaks.get(tenantId);
    if (!track) {
      track = { seen: 0 };
      this.gaugePeaks.set(tenantId, track);
    }
    return track;
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

/** Records `value` as the peak when it is above both what the last drain saw and the peak so far. */
function rise(track: PeakTrack, value: number): void {
  if (value > track.seen && (track.peak === undefined || value > track.peak)) track.peak = value;
}

function sumHeld(holders: Map<string, Slots>): number {
  let n = 0;
  for (const s of holders.values()) n += s.held;
  return n;
}

/** Leased and carried over, less prefetch not known to be spent. */
function spent(c: Counter): number {
  return c.used - c.prefetchTotal + c.carried;
}

function setPrefetch(c: Counter, holder: string, units: number): void {
  c.prefetchTotal += units - (c.prefetch.get(holder) ?? 0);
  if (units > 0) c.prefetch.set(holder, units);
  else c.prefetch.delete(holder);
}
