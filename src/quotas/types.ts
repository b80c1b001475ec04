import type { QuotaKind } from './config.ts';

/**
 * Contracts between the quota authority (in the API process), the sidecars that lease budget from
 * it, admission, the quotas endpoint and quota alerts.
 */

/** One quota of one tenant right now. Amounts are numbers in the quota's unit; spend is a decimal string. */
export interface QuotaStatus {
  tenantId: string;
  kind: QuotaKind;
  /** requests, tokens, seconds, concurrent requests, or currency units for spend. */
  limit: number | string;
  used: number | string;
  /** used / limit (0 when limit is unset); what alert thresholds compare against. */
  ratio: number;
  /** Start and end of the current window, epoch ms (minute, UTC day, UTC month); concurrency has none. */
  windowStart?: number;
  resetAt?: number;
  /** Monthly quotas: when the usage was read from ClickHouse (absent: never read this month). */
  asOf?: number;
  /** Monthly quotas: the last refresh failed or is overdue; `used` is the last known value. */
  stale?: boolean;
}

/** Counter quotas are leased in chunks; monthly ones are checked against usage measured in ClickHouse. */
export type LeasedKind = Extract<QuotaKind, 'requests_per_minute' | 'tokens_per_day' | 'concurrent_requests'>;

export interface LeaseRequest {
  tenantId: string;
  kind: LeasedKind;
  /**
   * Units wanted; the grant may be smaller (down to 0 when the quota is spent). For concurrency a
   * lease of 0 renews the holder's slots (they are reclaimed when a holder stops renewing).
   */
  amount: number;
  /** Who holds the lease (a sidecar instance), for returning unused budget. */
  holder: string;
  /**
   * Counter kinds: the part of `amount` the holder needs right now (the rest is prefetch). The
   * authority may trim prefetch as the window runs out, never below `need`. Absent: all of it.
   */
  need?: number;
}

export interface LeaseGrant {
  granted: number;
  /** Window the grant belongs to (absent for concurrency); a lease is void after windowEnd. */
  windowStart?: number;
  windowEnd?: number;
  /** Present when nothing (or less than asked) was granted because the quota is spent. */
  retryAfterMs?: number;
  /** True when the tenant has no limit of this kind: the holder need not ask again this window. */
  unlimited?: boolean;
  /** The tenant's limit of this kind (absent when unlimited). */
  limit?: number;
  /** Units still unleased in this window after the grant: lets holders shrink their chunks. */
  remaining?: number;
}

export interface ReleaseRequest {
  tenantId: string;
  kind: LeasedKind;
  amount: number;
  holder: string;
  /** The window the units were leased in; units of a past window are simply dropped. */
  windowStart?: number;
  /**
   * These are all the units of the window the holder still has (an idle hand-back): whatever else
   * it was granted there was spent. Lets usage count the prefetch it spent (see LeaseLedger.spent).
   */
  rest?: boolean;
}

/** A monthly quota (cpu/gpu seconds, spend) that is already exhausted for a tenant. */
export interface MonthlyBlock {
  kind: MonthlyKind;
  resetAt: number;
  /** The limit and the usage that reached it (seconds as numbers, spend as a decimal string). */
  limit?: number | string;
  used?: number | string;
}

export type MonthlyKind = Extract<QuotaKind, 'cpu_seconds_per_month' | 'gpu_seconds_per_month' | 'spend_per_month'>;

export interface QuotaAuthority {
  lease(req: LeaseRequest): Promise<LeaseGrant>;
  release(req: ReleaseRequest): Promise<void>;
  /** Monthly quotas the tenant has exhausted (cached from ClickHouse, refreshed periodically). */
  monthlyBlocks(tenantId: string): Promise<MonthlyBlock[]>;
  /** Every configured quota of the tenant with its usage. */
  status(tenantId: string): Promise<QuotaStatus[]>;
}
