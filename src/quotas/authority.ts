import { AppError } from '../errors.ts';
import type { ReadCarriedUsage } from './carried-usage.ts';
import { QUOTA_KINDS, type QuotaKind, type QuotaLimits } from './config.ts';
import { LeaseLedger, type CounterKind } from './ledger.ts';
import { CHUNK_SPREAD } from './local-budget.ts';
import { evaluateMonthly, type MonthlyUsage, type MonthToDate } from './monthly.ts';
import type { LeaseGrant, LeaseRequest, MonthlyBlock, QuotaAuthority, QuotaStatus, ReleaseRequest } from './types.ts';
import { monthWindow, windowOf, type QuotaWindow } from './windows.ts';

/**
 * The quota authority (SPEC §6): the one place that knows how much of each tenant's counter quotas
 * is out, so that N sidecar replicas together admit L and not N x L. It lives in memory in the API
 * process, which means exactly ONE API instance may serve as authority: every sidecar's
 * `quotas.authority_url` must name that instance, not a load balancer over several (each instance
 * would count on its own). A restart loses the leases out, not the usage: what was spent in the
 * current minute and day before the start is read back from the recorded requests on each
 * refresh of the first ten minutes (`readCarriedUsage`, CARRY_SETTLE_MS) and counted on top of
 * the new leases. What is lost is budget that
 * sidecars still hold from the old authority (at most N x lease_max_chunk per window) and
 * requests not yet recorded when a refresh reads.
 *
 * Monthly quotas come from ClickHouse, not from leases: `refresh()` (a job every ~15 s, and at
 * start) reads each tenant's month-to-date usage; blocks are evaluated against that cache. A failed
 * refresh keeps the last known values and marks them stale, never zero.
 */

/** Month-to-date usage of every tenant with usage; `wantsSpend` says whose statement total to read. */
export type ReadMonthlyUsage = (month: QuotaWindow, wantsSpend: (tenantId: string) => boolean) => Promise<Map<string, MonthToDate>>;

export interface QuotaAuthorityDeps {
  limitsOf: (tenantId: string) => QuotaLimits;
  now: () => number;
  readMonthlyUsage: ReadMonthlyUsage;
  /** Usage of the minute and day in progress that was admitted before this authority started. */
  readCarriedUsage?: ReadCarriedUsage;
  /** quotas.lease_ttl_s: concurrency slots of a holder that stops renewing for 3x this are reclaimed. */
  leaseTtlS: number;
  /** Monthly usage older than this is reported stale (default: four missed 15 s refreshes). */
  staleAfterMs?: number;
}

export interface LocalQuotaAuthority extends QuotaAuthority {
  /**
   * Re-reads month-to-date usage, and the minute's and day's usage from before this authority
   * started, from ClickHouse; on failure keeps the last values and rethrows.
   */
  refresh(): Promise<void>;
  /**
   * The highest usage each leased quota reached since the last call, as statuses at that peak:
   * quota alerts read these so that a limit reached between two evaluations (in a minute's last
   * seconds, or in a concurrency burst) still alerts. A status whose `resetAt` has passed is the
   * peak of a window that ended since. Only what rose since the last call is reported, so there
   * must be one reader per authority (the alert evaluation).
   */
  takePeaks(): Promise<QuotaStatus[]>;
}

/** Holders renew every ttl/2; three whole ttls of silence means the holder is gone. */
export const RECLAIM_TTLS = 3;
const CONCURRENCY_RETRY_MS = 1000;
const DEFAULT_STALE_AFTER_MS = 60_000;
/**
 * Requests admitted before a restart reach ClickHouse within seconds (span export batches); a read
 * this long after the start is final, and later refreshes stop scanning the day's requests.
 */
export const CARRY_SETTLE_MS = 10 * 60_000;

interface MonthlyCache {
  month: QuotaWindow;
  usage: Map<string, MonthToDate>;
  asOf: number;
}

export function createQuotaAuthority(deps: QuotaAuthorityDeps): LocalQuotaAuthority {
  return new MemoryQuotaAuthority(deps);
}

class MemoryQuotaAuthority implements LocalQuotaAuthority {
  private readonly ledger: LeaseLedger;
  private readonly staleAfterMs: number;
  private cache: MonthlyCache | undefined;
  private failedAt: number | undefined;
  private readonly startedAt: number;
  private carrySettled = false;

  constructor(private readonly deps: QuotaAuthorityDeps) {
    this.ledger = new LeaseLedger(deps.leaseTtlS * RECLAIM_TTLS * 1000);
    this.startedAt = deps.now();
    this.staleAfterMs = deps.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  }

  async lease(req: LeaseRequest): Promise<LeaseGrant> {
    checkUnits(req.amount);
    const now = this.deps.now();
    const limit = this.deps.limitsOf(req.tenantId)[req.kind];
    if (req.kind === 'concurrent_requests') return this.leaseSlots(req, limit, now);
    if (limit === undefined) {
      const w = windowOf(req.kind, now)!;
      return { granted: req.amount, unlimited: true, windowStart: w.start, windowEnd: w.end };
    }
    const left = limit - this.ledger.used(req.tenantId, req.kind, now).used;
    const need = req.need;
    // A need the window cannot cover is granted nothing, not a part: units no request can use
    // would count as usage (GET /quotas, the peaks quota alerts read: a false page at 100 %).
    // Found by dogfooding: a 64-token request refused with 40 tokens left showed the tenant at its limit.
    // Prefetch shrinks with what the window has left, so replicas share the tail evenly.
    const amount = need === undefined ? req.amount : need > left ? 0 : Math.min(req.amount, Math.max(need, Math.ceil(left / CHUNK_SPREAD)));
    const t = this.ledger.take(req.tenantId, req.kind, req.holder, amount, limit, now, need);
    // Usage read back after a restart or a fail-open outage can exceed the limit: nothing is left, not less than nothing.
    const grant: LeaseGrant = { granted: t.granted, windowStart: t.window.start, windowEnd: t.window.end, limit, remaining: Math.max(0, limit - t.used) };
    if (t.granted < amount || (need !== undefined && t.granted < need)) grant.retryAfterMs = t.window.end - now;
    return grant;
  }

  async release(req: ReleaseRequest): Promise<void> {
    checkUnits(req.amount);
    const now = this.deps.now();
    if (req.kind === 'concurrent_requests') this.ledger.free(req.tenantId, req.holder, req.amount, now);
    else this.ledger.giveBack(req.tenantId, req.kind, req.holder, req.amount, req.windowStart, now, req.rest === true);
  }

  async monthlyBlocks(tenantId: string): Promise<MonthlyBlock[]> {
    const { month, current } = this.monthly(this.deps.now());
    // Never read this month yet: nothing is known to be exhausted, and unknown is not zero,
    // so status() reports it stale rather than blocking or clearing on a guess.
    if (!current) return [];
    return evaluateMonthly(this.deps.limitsOf(tenantId), current.usage.get(tenantId))
      .filter((m) => m.exhausted)
      .map((m) => ({ kind: m.kind, resetAt: month.end, limit: m.limit, used: m.used }));
  }

  async status(tenantId: string): Promise<QuotaStatus[]> {
    const now = this.deps.now();
    const limits = this.deps.limitsOf(tenantId);
    const { month, current, stale } = this.monthly(now);
    const monthlyByKind = new Map<QuotaKind, MonthlyUsage>(evaluateMonthly(limits, current?.usage.get(tenantId)).map((m) => [m.kind, m]));
    const out: QuotaStatus[] = [];
    for (const kind of QUOTA_KINDS) {
      const m = monthlyByKind.get(kind);
      if (m) {
        out.push({ tenantId, kind, limit: m.limit, used: m.used, ratio: m.ratio, windowStart: month.start, resetAt: month.end, stale, asOf: current?.asOf });
        continue;
      }
      const limit = limits[kind];
      if (typeof limit === 'number') out.push(counterStatus(this.ledger, tenantId, kind, limit, now));
    }
    return out;
  }

  async refresh(): Promise<void> {
    const now = this.deps.now();
    // Both reads run; one failing does not hold back the other's fresh values.
    const [monthly, carried] = await Promise.allSettled([this.refreshMonthly(now), this.refreshCarried(now)]);
    if (monthly.status === 'rejected') throw monthly.reason;
    if (carried.status === 'rejected') throw carried.reason;
  }

  async takePeaks(): Promise<QuotaStatus[]> {
    const out: QuotaStatus[] = [];
    for (const p of this.ledger.drainPeaks(this.deps.now())) {
      const limit = this.deps.limitsOf(p.tenantId)[p.kind];
      // A quota removed from the config since: nothing to compare the peak with.
      if (limit === undefined) continue;
      const status: QuotaStatus = { tenantId: p.tenantId, kind: p.kind, limit, used: p.peak, ratio: p.peak / limit };
      if (p.window) Object.assign(status, { windowStart: p.window.start, resetAt: p.window.end });
      out.push(status);
    }
    return out;
  }

  private async refreshMonthly(now: number): Promise<void> {
    const month = monthWindow(now);
    try {
      const usage = await this.deps.readMonthlyUsage(month, (t) => this.deps.limitsOf(t).spend_per_month !== undefined);
      this.cache = { month, usage, asOf: now };
      this.failedAt = undefined;
    } catch (err) {
      this.failedAt = now;
      throw err;
    }
  }

  private async refreshCarried(now: number): Promise<void> {
    const read = this.deps.readCarriedUsage;
    const day = windowOf('tokens_per_day', now)!;
    // Once the day that was in progress at the start has ended, nothing is left to carry over;
    // once the requests from before the start have all been recorded, the read cannot change.
    if (!read || this.startedAt <= day.start || this.carrySettled) return;
    const minute = windowOf('requests_per_minute', now)!;
    const carried = await read(day, minute, this.startedAt);
    if (now - this.startedAt >= CARRY_SETTLE_MS) this.carrySettled = true;
    for (const [tenantId, usage] of carried) {
      const limits = this.deps.limitsOf(tenantId);
      if (limits.tokens_per_day !== undefined) this.ledger.carryOver(tenantId, 'tokens_per_day', day.start, usage.tokensToday, now);
      if (limits.requests_per_minute !== undefined) this.ledger.carryOver(tenantId, 'requests_per_minute', minute.start, usage.requestsThisMinute, now);
    }
  }

  private leaseSlots(req: LeaseRequest, limit: number | undefined, now: number): LeaseGrant {
    if (limit === undefined) return { granted: req.amount, unlimited: true };
    const a = this.ledger.acquire(req.tenantId, req.holder, req.amount, limit, now);
    const grant: LeaseGrant = { granted: a.granted, limit, remaining: Math.max(0, limit - a.inUse) };
    if (a.granted < req.amount) grant.retryAfterMs = CONCURRENCY_RETRY_MS;
    return grant;
  }

  /** The cache when it covers the current month; last month's usage says nothing about this one. */
  private monthly(now: number) {
    const month = monthWindow(now);
    const current = this.cache && this.cache.month.start === month.start ? this.cache : undefined;
    const stale = !current || this.failedAt !== undefined || now - current.asOf > this.staleAfterMs;
    return { month, current, stale };
  }
}

function counterStatus(ledger: LeaseLedger, tenantId: string, kind: QuotaKind, limit: number, now: number): QuotaStatus {
  if (kind === 'concurrent_requests') {
    const used = ledger.inUse(tenantId, now);
    return { tenantId, kind, limit, used, ratio: used / limit };
  }
  // Spent, not leased: prefetch a sidecar holds is not usage (see LeaseLedger.spent).
  const t = ledger.spent(tenantId, kind as CounterKind, now);
  return { tenantId, kind, limit, used: t.used, ratio: t.used / limit, windowStart: t.window.start, resetAt: t.window.end };
}

function checkUnits(amount: number): void {
  if (!Number.isSafeInteger(amount) || amount < 0) {
    throw new AppError('invalid', `lease amounts are whole non-negative numbers, got ${amount}`, { code: 'invalid_amount' });
  }
}
