import type { QuotaKind } from '../quotas/config.ts';
import type { CounterKind } from '../quotas/ledger.ts';
import { absorb, isCurrent, leaseAmount, refund, takeIdle, trySpend, type LocalBudget } from '../quotas/local-budget.ts';
import type { MonthlyBlock, QuotaAuthority, ReleaseRequest } from '../quotas/types.ts';
import { QuotaAuthorityError } from '../quotas/http-authority.ts';
import { retryAfterSeconds } from '../quotas/windows.ts';

/**
 * The sidecar's side of quotas (SPEC §6): before inference, `admit` checks the tenant's monthly
 * blocks (cached briefly), spends one request and the request's tokens from budget leased from
 * the authority in chunks, and takes a concurrency slot from the authority for the request's
 * lifetime. Budget left unspent for `lease_ttl_s` goes back to the authority, so a replica that
 * stops receiving a tenant's traffic does not sit on its quota (see quotas/local-budget.ts for
 * the tolerance this buys). When the authority cannot be reached, `fail_mode` decides: `open`
 * admits, `closed` refuses with 503. An authority that answers but refuses this sidecar (401/403:
 * its key was revoked or rotated; 404: a tenant its ingest key is not for) is not an outage: the
 * request is refused (503 `quota_authority_refused`) whatever `fail_mode` says.
 */

export type QuotaRejection =
  | { ok: false; reason: 'quota_exceeded'; kind: QuotaKind; limit: number | string; retryAfterSeconds: number; resetAt?: number }
  | { ok: false; reason: 'quota_authority_unavailable'; retryAfterSeconds: number }
  | { ok: false; reason: 'quota_authority_refused'; retryAfterSeconds: number };

/**
 * An admitted request holds its concurrency slot until `release` (after it ran). `refund` is for a
 * request refused later in admission (the fair queue was full): it was never served, so its
 * counter units (the request of the minute, its tokens of the day) go back to the budget. Both
 * are idempotent.
 */
export interface QuotaAdmitted {
  ok: true;
  release: () => void;
  refund: () => void;
}

export type QuotaDecision = QuotaAdmitted | QuotaRejection;

/** What InferenceService needs from quotas. */
export interface QuotaAdmission {
  admit(tenantId: string, tokens: number): Promise<QuotaDecision>;
}

export interface QuotaGateOptions {
  authority: QuotaAuthority;
  /** This sidecar instance, as the authority knows its leases. */
  holder: string;
  /** Requests' worth of budget per lease, at most (1 = every request asks the authority: exact). */
  maxChunk: number;
  leaseTtlS: number;
  failMode: 'open' | 'closed';
  now?: () => number;
  /**
   * The authority failed: its first failure after answering (and, while it keeps failing, a
   * reminder every minute), not every call: an outage would otherwise log once a second.
   */
  onError?: (err: unknown) => void;
  /** The authority answers again after failing for `downMs` (`failures` calls failed meanwhile). */
  onRecovered?: (downMs: number, failures: number) => void;
  /** How long monthly blocks are trusted before asking again. */
  blocksCacheMs?: number;
}

interface BudgetEntry {
  tenantId: string;
  kind: CounterKind;
  budget: LocalBudget;
}

interface PendingRelease {
  req: ReleaseRequest;
  since: number;
}

const UNREACHABLE = Symbol('unreachable');
type Unreachable = typeof UNREACHABLE;
/**
 * The authority answered, and refused this sidecar. Found by dogfooding: mapped to "unreachable",
 * a revoked quotas.authority_key made fail_mode open admit 100 requests against a limit of 40.
 */
const REFUSED = Symbol('refused');
type Refused = typeof REFUSED;

/** After a failed call, calls fail fast this long: a down authority must not add a timeout to every request. */
const AUTHORITY_BACKOFF_MS = 1000;
const DEFAULT_BLOCKS_CACHE_MS = 5000;
/** The authority reclaims a silent holder's slots after 3 ttls; a release older than that is moot. */
const RELEASE_GIVE_UP_TTLS = 3;

const budgetKey = (tenantId: string, kind: CounterKind) => `${tenantId}\u0000${kind}`;

export class QuotaGate implements QuotaAdmission {
  private readonly budgets = new Map<string, BudgetEntry>();
  private readonly refills = new Map<string, Promise<LocalBudget | Unreachable | Refused>>();
  private readonly blocks = new Map<string, { blocks: MonthlyBlock[]; fetchedAt: number }>();
  private readonly blockFetches = new Map<string, Promise<MonthlyBlock[] | Unreachable | Refused>>();
  private readonly slots = new Map<string, number>();
  private readonly unlimitedSlotsUntil = new Map<string, number>();
  private pending: PendingRelease[] = [];
  private downUntil = 0;
  /** Until then every call is answered "refused" without asking (the authority refused our key). */
  private refusedUntil = 0;
  /** Since when the authority has been failing (unset while it answers). */
  private outage: { since: number; failures: number; reportedAt: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly ttlMs: number;

  constructor(private readonly opts: QuotaGateOptions) {
    this.now = opts.now ?? Date.now;
    this.ttlMs = opts.leaseTtlS * 1000;
  }

  async admit(tenantId: string, tokens: number): Promise<QuotaDecision> {
    const blocked = await this.checkBlocks(tenantId);
    if (blocked) return blocked;
    const needs: Array<[CounterKind, number]> = [['requests_per_minute', 1]];
    if (tokens > 0) needs.push(['tokens_per_day', tokens]);
    const spent: Array<[CounterKind, number]> = [];
    for (const [kind, units] of needs) {
      const outcome = await this.spend(tenantId, kind, units);
      if (outcome !== true) {
        this.refundAll(tenantId, spent);
        return outcome;
      }
      spent.push([kind, units]);
    }
    const slot = await this.acquireSlot(tenantId);
    const refundOnce = once(() => this.refundAll(tenantId, spent));
    if (slot === 'held') return { ok: true, release: once(() => this.releaseSlot(tenantId)), refund: refundOnce };
    if (slot === 'none') return { ok: true, release: () => {}, refund: refundOnce };
    // Refused by concurrency: the request is not served, so it must not use up the counters either.
    this.refundAll(tenantId, spent);
    return slot;
  }

  /** Hands idle budget back, renews held slots, retries failed releases (every ttl/2 once started). */
  async sweep(): Promise<void> {
    const now = this.now();
    const sends: ReleaseRequest[] = [];
    for (const [k, { tenantId, kind, budget }] of this.budgets) {
      if (!isCurrent(budget, now)) {
        this.budgets.delete(k); // a past window's units are void at the authority too
        continue;
      }
      const idle = takeIdle(budget, now, this.ttlMs);
      // All it holds: the authority then knows the rest of what it leased here was spent.
      if (idle > 0) sends.push({ tenantId, kind, amount: idle, holder: this.opts.holder, windowStart: budget.window.start, rest: true });
    }
    const retry = this.pending.filter((p) => now - p.since < RELEASE_GIVE_UP_TTLS * this.ttlMs);
    this.pending = [];
    const renewals = [...this.slots].filter(([, held]) => held > 0).map(([tenantId]) => tenantId);
    await Promise.all([
      ...sends.map((req) => this.sendRelease(req, now)),
      ...retry.map((p) => this.sendRelease(p.req, p.since)),
      ...renewals.map((tenantId) => this.ask(() => this.opts.authority.lease({ tenantId, kind: 'concurrent_requests', amount: 0, holder: this.opts.holder }))),
    ]);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.sweep().catch((err: unknown) => this.opts.onError?.(err)), Math.max(50, this.ttlMs / 2));
    this.timer.unref();
  }

  /** Stops the timer and hands every unspent unit back (best effort: the authority also forgets at window end). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const entry of this.budgets.values()) entry.budget.usedAt = -Infinity;
    await this.sweep();
  }

  /**
   * Spends from the local budget, refilling from the authority until it covers the request or the
   * authority says the window is spent. Under a burst, requests waiting on the same refill may
   * find its units taken by others and go round again; every round leases at least one unit or
   * ends in "spent", so the loop ends within the window's budget.
   */
  private async spend(tenantId: string, kind: CounterKind, units: number): Promise<true | QuotaRejection> {
    const k = budgetKey(tenantId, kind);
    for (;;) {
      const now = this.now();
      const current = this.budgets.get(k)?.budget;
      const budget = isCurrent(current, now) ? current : undefined;
      if (budget && trySpend(budget, units, now)) return true;
      if (budget?.spentUntil !== undefined && now < budget.spentUntil) return exceeded(kind, budget, now);
      const refilled = await this.refill(tenantId, kind, units, budget);
      if (refilled === REFUSED) return refused();
      if (refilled === UNREACHABLE) return this.opts.failMode === 'open' ? true : unavailable();
      // Spent from the grant's own window even if this clock is a little off the authority's.
      if (trySpend(refilled, units, this.now())) return true;
      if (refilled.spentUntil !== undefined) {
        const rejection = exceeded(kind, refilled, this.now());
        this.afterShortGrant(tenantId, kind, refilled);
        return rejection;
      }
    }
  }

  /** One lease in flight per (tenant, kind): concurrent requests wait for it instead of each asking. */
  private refill(tenantId: string, kind: CounterKind, units: number, budget: LocalBudget | undefined): Promise<LocalBudget | Unreachable | Refused> {
    const k = budgetKey(tenantId, kind);
    const flying = this.refills.get(k);
    if (flying) return flying;
    const need = units - (budget?.units ?? 0);
    const asked = leaseAmount({ missing: need, perRequest: units, maxChunk: this.opts.maxChunk, lastRemaining: budget?.lastRemaining });
    const run = (async () => {
      const grant = await this.ask(() => this.opts.authority.lease({ tenantId, kind, amount: asked, holder: this.opts.holder, need }));
      if (grant === UNREACHABLE || grant === REFUSED) return grant;
      const next = absorb(budget, grant, this.now());
      this.budgets.set(k, { tenantId, kind, budget: next });
      return next;
    })().finally(() => this.refills.delete(k));
    this.refills.set(k, run);
    return run;
  }

  /**
   * Units of a request refused after they were spent go back to the local budget. With
   * max_chunk 1 (exact mode, `up`) they go straight on to the authority: there every unit it
   * counts must be a request served, or GET /quotas and quota alerts show a tenant at its limit
   * (and page) for the lease ttl after a concurrency refusal. With chunks they stay here for the
   * next request, inside the chunk tolerance.
   */
  private refundAll(tenantId: string, spent: ReadonlyArray<[CounterKind, number]>): void {
    const now = this.now();
    for (const [kind, units] of spent) {
      const budget = this.budgets.get(budgetKey(tenantId, kind))?.budget;
      refund(budget, units, now);
      if (this.opts.maxChunk !== 1 || !isCurrent(budget, now) || budget.unlimited) continue;
      const back = Math.min(units, budget.units);
      budget.units -= back;
      if (back > 0) void this.sendRelease({ tenantId, kind, amount: back, holder: this.opts.holder, windowStart: budget.window.start }, now);
    }
  }

  /**
   * After a request the window could not cover: the authority grants nothing for such a need
   * (see authority.ts), so nothing counts as usage that no request used. The window is not spent
   * for smaller requests while it has units left: the next request asks again instead of being
   * refused for SPENT_RECHECK_MS. In exact mode (max_chunk 1) units still held here go straight
   * back too, so the authority counts only what requests were served with.
   */
  private afterShortGrant(tenantId: string, kind: CounterKind, budget: LocalBudget): void {
    if ((budget.lastRemaining ?? 0) > 0) budget.spentUntil = undefined;
    if (this.opts.maxChunk !== 1 || budget.unlimited || budget.units === 0) return;
    const back = budget.units;
    budget.units = 0;
    void this.sendRelease({ tenantId, kind, amount: back, holder: this.opts.holder, windowStart: budget.window.start }, this.now());
  }

  /** 'held': a slot to release; 'none': nothing to release (no limit, or admitted open). */
  private async acquireSlot(tenantId: string): Promise<'held' | 'none' | QuotaRejection> {
    const now = this.now();
    const unlimitedUntil = this.unlimitedSlotsUntil.get(tenantId);
    if (unlimitedUntil !== undefined && unlimitedUntil > now) return 'none';
    const grant = await this.ask(() => this.opts.authority.lease({ tenantId, kind: 'concurrent_requests', amount: 1, holder: this.opts.holder }));
    if (grant === REFUSED) return refused();
    // Known to be unlimited a moment ago beats not knowing: the fail mode is for the unknown.
    if (grant === UNREACHABLE) return this.opts.failMode === 'open' || unlimitedUntil !== undefined ? 'none' : unavailable();
    if (!grant.unlimited) this.unlimitedSlotsUntil.delete(tenantId);
    if (grant.unlimited) {
      // No limit: ask again only now and then, in case the authority's config changed.
      this.unlimitedSlotsUntil.set(tenantId, now + this.ttlMs);
      return 'none';
    }
    if (grant.granted >= 1) {
      this.slots.set(tenantId, (this.slots.get(tenantId) ?? 0) + 1);
      return 'held';
    }
    const retryMs = grant.retryAfterMs ?? 1000;
    return { ok: false, reason: 'quota_exceeded', kind: 'concurrent_requests', limit: grant.limit ?? 0, retryAfterSeconds: retryAfterSeconds(now + retryMs, now) };
  }

  private releaseSlot(tenantId: string): void {
    const held = (this.slots.get(tenantId) ?? 1) - 1;
    if (held > 0) this.slots.set(tenantId, held);
    else this.slots.delete(tenantId);
    const now = this.now();
    void this.sendRelease({ tenantId, kind: 'concurrent_requests', amount: 1, holder: this.opts.holder }, now);
  }

  /** A failed release is retried by sweep(); the authority would otherwise count the units as out. */
  private async sendRelease(req: ReleaseRequest, since: number): Promise<void> {
    const done = await this.ask(() => this.opts.authority.release(req));
    // A refused release cannot succeed later: the authority reclaims idle units and slots itself.
    if (done === UNREACHABLE) this.pending.push({ req, since });
  }

  /** The first exhausted monthly quota; the last known blocks when the authority is unreachable. */
  private async checkBlocks(tenantId: string): Promise<QuotaRejection | undefined> {
    const now = this.now();
    let cached = this.blocks.get(tenantId);
    if (!cached || now - cached.fetchedAt >= (this.opts.blocksCacheMs ?? DEFAULT_BLOCKS_CACHE_MS)) {
      const fresh = await this.fetchBlocks(tenantId);
      if (fresh === REFUSED) return refused();
      if (fresh !== UNREACHABLE) {
        cached = { blocks: fresh, fetchedAt: now };
        this.blocks.set(tenantId, cached);
      } else if (!cached && this.opts.failMode === 'closed') {
        return unavailable();
      }
    }
    const block = cached?.blocks.find((b) => b.resetAt > now);
    if (!block) return undefined;
    return { ok: false, reason: 'quota_exceeded', kind: block.kind, limit: block.limit ?? 0, retryAfterSeconds: retryAfterSeconds(block.resetAt, now), resetAt: block.resetAt };
  }

  private fetchBlocks(tenantId: string): Promise<MonthlyBlock[] | Unreachable | Refused> {
    const flying = this.blockFetches.get(tenantId);
    if (flying) return flying;
    const run = this.ask(() => this.opts.authority.monthlyBlocks(tenantId)).finally(() => this.blockFetches.delete(tenantId));
    this.blockFetches.set(tenantId, run);
    return run;
  }

  private async ask<T>(call: () => Promise<T>): Promise<T | Unreachable | Refused> {
    if (this.now() < this.refusedUntil) return REFUSED;
    if (this.now() < this.downUntil) return UNREACHABLE;
    try {
      const answer = await call();
      this.answered();
      return answer;
    } catch (err) {
      const status = err instanceof QuotaAuthorityError ? err.status : undefined;
      if (status === 401 || status === 403) {
        // This sidecar's key: every call would be refused alike, so fail fast meanwhile.
        this.refusedUntil = this.now() + AUTHORITY_BACKOFF_MS;
        this.failed(err);
        return REFUSED;
      }
      if (status === 404) return REFUSED; // this tenant only (an ingest key's other tenants)
      this.downUntil = this.now() + AUTHORITY_BACKOFF_MS;
      this.failed(err);
      return UNREACHABLE;
    }
  }

  /** Reports an outage when it starts and once a minute while it lasts; found by dogfooding (a line a second). */
  private failed(err: unknown): void {
    const now = this.now();
    if (!this.outage) {
      this.outage = { since: now, failures: 1, reportedAt: now };
      this.opts.onError?.(err);
      return;
    }
    this.outage.failures++;
    if (now - this.outage.reportedAt >= OUTAGE_REMINDER_MS) {
      this.outage.reportedAt = now;
      this.opts.onError?.(new Error(`${(err as Error).message}; failing for ${Math.round((now - this.outage.since) / 1000)} s, ${this.outage.failures} calls failed`));
    }
  }

  private answered(): void {
    if (!this.outage) return;
    const { since, failures } = this.outage;
    this.outage = undefined;
    this.opts.onRecovered?.(this.now() - since, failures);
  }
}

function exceeded(kind: CounterKind, budget: LocalBudget | undefined, now: number): QuotaRejection {
  const resetAt = budget?.window.end ?? now + 1000;
  return { ok: false, reason: 'quota_exceeded', kind, limit: budget?.limit ?? 0, retryAfterSeconds: retryAfterSeconds(resetAt, now), resetAt };
}

/** While the authority keeps failing, how often that is said again. */
const OUTAGE_REMINDER_MS = 60_000;

const unavailable = (): QuotaRejection => ({ ok: false, reason: 'quota_authority_unavailable', retryAfterSeconds: Math.ceil(AUTHORITY_BACKOFF_MS / 1000) });
const refused = (): QuotaRejection => ({ ok: false, reason: 'quota_authority_refused', retryAfterSeconds: Math.ceil(AUTHORITY_BACKOFF_MS / 1000) });

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return; // a double release must not free a slot twice
    done = true;
    fn();
  };
}
