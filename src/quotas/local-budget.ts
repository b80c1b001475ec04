import type { LeaseGrant } from './types.ts';
import type { QuotaWindow } from './windows.ts';

/**
 * A sidecar's local share of one counter quota (pure, `now` passed in): units leased from the
 * authority for one window and not yet spent. Requests spend from it without a round trip; it is
 * refilled in chunks and handed back when idle.
 *
 * Tolerance. The authority never grants more than the limit per window, so N replicas together
 * never admit more than L. What they can lose is budget sitting unspent in replicas that stopped
 * receiving requests: at most the sum of outstanding local budgets, i.e. N x one chunk, until
 * those replicas hand it back (after `lease_ttl_s` idle) or the window ends. Chunks shrink as the
 * window's remaining budget shrinks, so near the limit far less than N x max_chunk is out.
 */

export interface LocalBudget {
  window: QuotaWindow;
  /** Leased and not yet spent. */
  units: number;
  unlimited: boolean;
  limit?: number;
  /** The window's unleased budget as of the last grant: sizes the next chunk. */
  lastRemaining?: number;
  /** The authority said the quota is spent: do not ask again before this instant. */
  spentUntil?: number;
  /** Last spend or grant, for handing idle budget back. */
  usedAt: number;
}

/** One lease takes at most 1/SPREAD of what the window has left, so N holders share the tail. */
export const CHUNK_SPREAD = 8;

/**
 * After "spent", ask again at most this often (not only at the window end): budget that other
 * replicas hand back must still be usable, yet a flood of refused requests must not become a
 * flood of leases.
 */
export const SPENT_RECHECK_MS = 1000;

export interface ChunkInput {
  /** Units this request still lacks locally. */
  missing: number;
  /** Units one request spends (1 for requests; its tokens for tokens). */
  perRequest: number;
  /** lease_max_chunk: requests' worth of budget per lease, at most. */
  maxChunk: number;
  lastRemaining?: number;
}

/** Units to ask the authority for: what is missing, plus prefetch sized by what is left globally. */
export function leaseAmount({ missing, perRequest, maxChunk, lastRemaining }: ChunkInput): number {
  const target = maxChunk * perRequest;
  const adaptive = lastRemaining === undefined ? target : Math.min(target, Math.ceil(lastRemaining / CHUNK_SPREAD));
  return Math.max(missing, adaptive);
}

export function isCurrent(b: LocalBudget | undefined, now: number): b is LocalBudget {
  return b !== undefined && now >= b.window.start && now < b.window.end;
}

/** Spends `units` when the budget covers them (an unlimited one always does). */
export function trySpend(b: LocalBudget, units: number, now: number): boolean {
  if (b.unlimited) return true;
  if (b.units < units) return false;
  b.units -= units;
  b.usedAt = now;
  return true;
}

/** Puts back units of a request that was refused later in admission (same window only). */
export function refund(b: LocalBudget | undefined, units: number, now: number): void {
  if (isCurrent(b, now) && !b.unlimited) b.units += units;
}

/** The budget after a grant: added to the current one, or a fresh one when the window moved on. */
export function absorb(b: LocalBudget | undefined, grant: LeaseGrant, now: number): LocalBudget {
  const window = grant.windowStart !== undefined && grant.windowEnd !== undefined ? { start: grant.windowStart, end: grant.windowEnd } : undefined;
  const base: LocalBudget =
    b && window && b.window.start === window.start ? b : { window: window ?? { start: now, end: now }, units: 0, unlimited: false, usedAt: now };
  base.units += grant.unlimited ? 0 : grant.granted;
  base.unlimited = grant.unlimited === true;
  base.limit = grant.limit ?? base.limit;
  base.lastRemaining = grant.remaining;
  base.usedAt = now;
  // A retry time (or an empty grant) means the window has nothing left to lease; what was
  // granted may still serve this request.
  const spent = !grant.unlimited && (grant.retryAfterMs !== undefined || grant.granted === 0);
  base.spentUntil = spent ? now + Math.min(grant.retryAfterMs ?? SPENT_RECHECK_MS, SPENT_RECHECK_MS) : undefined;
  return base;
}

/** Units to hand back because nothing was spent for `idleMs`; the budget keeps none of them. */
export function takeIdle(b: LocalBudget, now: number, idleMs: number): number {
  if (b.unlimited || b.units === 0 || now - b.usedAt < idleMs) return 0;
  const units = b.units;
  b.units = 0;
  return units;
}
