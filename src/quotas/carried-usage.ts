import { z } from 'zod';
import type { Store } from '../store/client.ts';
import type { QuotaWindow } from './windows.ts';

/**
 * What a restarted authority forgot: per tenant, the input tokens of the day and the requests of
 * the minute that were admitted before it started, read back from the recorded requests
 * (`requests FINAL`, so a span delivered twice counts once; rejected requests never spent quota).
 * The authority adds this to its own leases (LeaseLedger.carryOver), so a restart no longer hands
 * every tenant a fresh daily token budget. It is re-read on every refresh of the first ten
 * minutes (CARRY_SETTLE_MS), because requests of the last seconds before the restart arrive late
 * (span export batches); it can only grow.
 *
 * Every recorded request counts, also spans other services sent through OTLP (those did not pass
 * this authority's admission): after a restart the day's count is then what was served, not only
 * what was leased.
 */

export interface CarriedUsage {
  tokensToday: number;
  requestsThisMinute: number;
}

/** Usage per tenant recorded in [day.start, before) and [minute.start, before). */
export type ReadCarriedUsage = (day: QuotaWindow, minute: QuotaWindow, before: number) => Promise<Map<string, CarriedUsage>>;

const carriedUsageRow = z.object({
  tenant_id: z.string(),
  tokens: z.coerce.number().int().nonnegative(),
  requests: z.coerce.number().int().nonnegative(),
});

export function carriedUsageQuery(day: QuotaWindow, minute: QuotaWindow, before: number) {
  return {
    query: `SELECT tenant_id, sum(input_tokens) AS tokens, countIf(ts >= fromUnixTimestamp64Milli({minute:Int64})) AS requests
            FROM requests FINAL
            WHERE ts >= fromUnixTimestamp64Milli({from:Int64}) AND ts < fromUnixTimestamp64Milli({to:Int64})
              AND status != 'rejected'
            GROUP BY tenant_id
            ORDER BY tenant_id`,
    params: { from: day.start, to: Math.min(day.end, before), minute: minute.start },
  };
}

export function createCarriedUsageReader(store: Store): ReadCarriedUsage {
  return async function readCarriedUsage(day, minute, before) {
    if (before <= day.start) return new Map();
    const rows = await store.query({ ...carriedUsageQuery(day, minute, before), schema: carriedUsageRow });
    return new Map(rows.map((r) => [r.tenant_id, { tokensToday: r.tokens, requestsThisMinute: r.requests }]));
  };
}
