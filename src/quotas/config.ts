import { z } from 'zod';
import { BEARER_TOKEN_PATTERN, BEARER_TOKEN_RULE } from '../auth/keys.ts';

/**
 * Quota configuration (SPEC §6). Limits per tenant; a tenant without its own uses
 * `quotas.defaults`; an absent limit means unlimited. Spend is a decimal amount in the pricing
 * currency, kept exact.
 */

export const QUOTA_KINDS = [
  'requests_per_minute',
  'concurrent_requests',
  'tokens_per_day',
  'cpu_seconds_per_month',
  'gpu_seconds_per_month',
  'spend_per_month',
] as const;
export type QuotaKind = (typeof QUOTA_KINDS)[number];

const positiveInt = z.number().int().positive();
const positive = z.number().positive();

export const quotaLimitsSchema = z.strictObject({
  requests_per_minute: positiveInt.optional(),
  concurrent_requests: positiveInt.optional(),
  tokens_per_day: positiveInt.optional(),
  cpu_seconds_per_month: positive.optional(),
  gpu_seconds_per_month: positive.optional(),
  spend_per_month: z
    .union([z.string(), z.number()])
    .transform(String)
    .refine((v) => /^\d{1,15}(\.\d{1,6})?$/.test(v) && Number(v) > 0, 'a positive amount with at most 6 decimals, e.g. "250.00"')
    .optional(),
});
export type QuotaLimits = z.infer<typeof quotaLimitsSchema>;

export const quotasConfigSchema = z
  .strictObject({
    /** Limits for tenants that set none of their own. */
    defaults: quotaLimitsSchema.prefault({}),
    /**
     * What a standalone sidecar does when it cannot reach the quota authority (the API):
     * `open` admits (availability first), `closed` refuses with 503 (limits first).
     */
    fail_mode: z.enum(['open', 'closed']).default('open'),
    /**
     * The API instance that is the quota authority. A standalone sidecar leases budget from it; an
     * `api` replica forwards its quota routes to it (set it on every API replica but the authority
     * itself). `up` always uses its own in-process authority.
     */
    authority_url: z.string().url().optional(),
    /**
     * API instances to lease from, in order, while `authority_url` cannot be reached (one of them
     * runs with `standby: true`). Set on sidecars and forwarding API replicas.
     */
    standby_authority_urls: z.array(z.string().url()).default([]),
    /**
     * On an `api` with `authority_url`: this instance takes over as the quota authority while the
     * primary cannot be reached, with counters read back from the recorded requests (as a
     * restarted authority does), and hands back as soon as the primary answers again.
     */
    standby: z.boolean().default(false),
    /**
     * Bearer key presented to `authority_url`: the admin key (any tenant), or, for a sidecar, an
     * ingest key, which may lease only for the tenant it was issued to.
     */
    authority_key: z.string().regex(BEARER_TOKEN_PATTERN, `quotas.authority_key must be ${BEARER_TOKEN_RULE}`).optional(),
    /** Budget a sidecar takes per lease, at most; smaller leases mean tighter global accuracy. */
    lease_max_chunk: positiveInt.default(20),
    /** A lease unused this long is returned to the authority. */
    lease_ttl_s: positive.default(5),
    /** Fair-queueing weight by plan name when the sidecar is saturated; plans not listed weigh 1. */
    plan_weights: z.record(z.string().min(1), positive).default({}),
    /** Requests one tenant may have waiting when the sidecar is saturated. */
    max_queue_per_tenant: positiveInt.default(64),
    /**
     * A request a tenant sends after its first refusal of a quota window (which told it the reset),
     * in that window, is answered only after this long, closing its connection: a client ignoring
     * Retry-After is paced to one refusal per connection per delay (refusal-pacer.ts). 0: never.
     */
    repeat_refusal_delay_ms: z.number().int().min(0).max(60_000).default(1000),
  })
  .superRefine((q, ctx) => {
    if (q.authority_url !== undefined) return;
    if (q.standby) ctx.addIssue({ code: 'custom', path: ['standby'], message: 'a standby needs quotas.authority_url: the primary it stands in for' });
    if (q.standby_authority_urls.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['standby_authority_urls'], message: 'standby authorities need quotas.authority_url: the primary they stand in for' });
    }
  })
  .prefault({});
export type QuotasConfig = z.infer<typeof quotasConfigSchema>;
