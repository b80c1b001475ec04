import { z } from 'zod';
import { tenantIdSchema } from '../config/schema.ts';
import { formatMoney, parseMoney } from '../money/money.ts';
import { QUOTA_KINDS } from './config.ts';
import type { LeaseGrant, LeaseRequest, MonthlyBlock, QuotaStatus, ReleaseRequest } from './types.ts';

/**
 * The JSON of the internal sidecar <-> authority endpoints (`/v1/quota/*`), shared by the API
 * routes and the sidecar's HTTP transport so both sides validate the same shapes. Field names are
 * snake_case like the rest of the API; times are epoch ms (machines, not people, read these).
 */

const units = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const epochMs = z.number().int().nonnegative();
const leasedKind = z.enum(['requests_per_minute', 'tokens_per_day', 'concurrent_requests']);
const holder = z.string().min(1).max(200);

export const LeaseRequestBody = z.object({ tenant: tenantIdSchema, kind: leasedKind, amount: units, holder, need: units.optional() });
export const ReleaseRequestBody = z.object({ tenant: tenantIdSchema, kind: leasedKind, amount: units, holder, window_start: epochMs.optional(), rest: z.boolean().optional() });
export const LeaseGrantBody = z.object({
  granted: units,
  window_start: epochMs.optional(),
  window_end: epochMs.optional(),
  retry_after_ms: epochMs.optional(),
  unlimited: z.boolean().optional(),
  limit: units.optional(),
  // An authority before the clamp answered a negative remaining once usage read back exceeded the
  // limit; refusing that as "an unexpected answer" put the sidecar in fail mode for the window.
  remaining: z.number().int().transform((v) => Math.max(0, v)).optional(),
});
export const MonthlyBlocksBody = z.object({
  tenant: z.string(),
  blocks: z.array(
    z.object({
      kind: z.enum(['cpu_seconds_per_month', 'gpu_seconds_per_month', 'spend_per_month']),
      reset_at: epochMs,
      limit: z.union([z.number(), z.string()]).optional(),
      used: z.union([z.number(), z.string()]).optional(),
    }),
  ),
});

export type LeaseRequestJson = z.infer<typeof LeaseRequestBody>;
export type ReleaseRequestJson = z.infer<typeof ReleaseRequestBody>;
export type LeaseGrantJson = z.infer<typeof LeaseGrantBody>;
export type MonthlyBlocksJson = z.infer<typeof MonthlyBlocksBody>;

export const leaseRequestToJson = (r: LeaseRequest): LeaseRequestJson => ({ tenant: r.tenantId, kind: r.kind, amount: r.amount, holder: r.holder, need: r.need });
export const leaseRequestFromJson = (j: LeaseRequestJson): LeaseRequest => ({ tenantId: j.tenant, kind: j.kind, amount: j.amount, holder: j.holder, need: j.need });

export const releaseRequestToJson = (r: ReleaseRequest): ReleaseRequestJson => ({ tenant: r.tenantId, kind: r.kind, amount: r.amount, holder: r.holder, window_start: r.windowStart, rest: r.rest });
export const releaseRequestFromJson = (j: ReleaseRequestJson): ReleaseRequest => ({ tenantId: j.tenant, kind: j.kind, amount: j.amount, holder: j.holder, windowStart: j.window_start, rest: j.rest });

export const leaseGrantToJson = (g: LeaseGrant): LeaseGrantJson => ({
  granted: g.granted,
  window_start: g.windowStart,
  window_end: g.windowEnd,
  retry_after_ms: g.retryAfterMs,
  unlimited: g.unlimited,
  limit: g.limit,
  remaining: g.remaining,
});
export const leaseGrantFromJson = (j: LeaseGrantJson): LeaseGrant => ({
  granted: j.granted,
  windowStart: j.window_start,
  windowEnd: j.window_end,
  retryAfterMs: j.retry_after_ms,
  unlimited: j.unlimited,
  limit: j.limit,
  remaining: j.remaining,
});

export const blocksToJson = (tenant: string, blocks: readonly MonthlyBlock[]): MonthlyBlocksJson => ({
  tenant,
  blocks: blocks.map((b) => ({ kind: b.kind, reset_at: b.resetAt, limit: b.limit, used: b.used })),
});
export const blocksFromJson = (j: MonthlyBlocksJson): MonthlyBlock[] =>
  j.blocks.map((b) => ({ kind: b.kind, resetAt: b.reset_at, limit: b.limit, used: b.used }));

/**
 * `GET /v1/tenants/{tenant}/quotas`, for people and dashboards: RFC 3339 times, spend as decimal
 * strings. A monthly quota never read this month shows `used: null` (unknown is not zero).
 */
export const QuotaStatusItem = z.object({
  quota: z.enum(QUOTA_KINDS),
  limit: z.union([z.number(), z.string()]),
  used: z.union([z.number(), z.string()]).nullable(),
  remaining: z.union([z.number(), z.string()]).nullable(),
  ratio: z.number().nullable(),
  window_start: z.string().nullable(),
  reset_at: z.string().nullable(),
  as_of: z.string().nullable().optional(),
  stale: z.boolean().optional(),
});
export const QuotasBody = z.object({ tenant: z.string(), quotas: z.array(QuotaStatusItem) });
export type QuotaStatusJson = z.infer<typeof QuotaStatusItem>;

const isoOrNull = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
const msOrUndefined = (iso: string | null | undefined) => (iso === null || iso === undefined ? undefined : Date.parse(iso));

export function statusToJson(s: QuotaStatus): QuotaStatusJson {
  const monthly = s.stale !== undefined;
  const unknown = monthly && s.asOf === undefined;
  const item: QuotaStatusJson = {
    quota: s.kind,
    limit: s.limit,
    used: unknown ? null : s.used,
    remaining: unknown ? null : remainingOf(s.limit, s.used),
    ratio: unknown ? null : s.ratio,
    window_start: isoOrNull(s.windowStart),
    reset_at: isoOrNull(s.resetAt),
  };
  if (monthly) Object.assign(item, { as_of: isoOrNull(s.asOf), stale: s.stale });
  return item;
}

export function statusFromJson(tenantId: string, j: QuotaStatusJson): QuotaStatus {
  return {
    tenantId,
    kind: j.quota,
    limit: j.limit,
    used: j.used ?? 0,
    ratio: j.ratio ?? 0,
    windowStart: msOrUndefined(j.window_start),
    resetAt: msOrUndefined(j.reset_at),
    asOf: msOrUndefined(j.as_of),
    stale: j.stale,
  };
}

/** limit - used, never negative; spend stays an exact decimal string. */
function remainingOf(limit: number | string, used: number | string): number | string {
  if (typeof limit === 'string' || typeof used === 'string') {
    const left = parseMoney(String(limit)) - parseMoney(String(used));
    return formatMoney(left > 0n ? left : 0n);
  }
  return Math.max(0, Math.round((limit - used) * 1e6) / 1e6);
}
