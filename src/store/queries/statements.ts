import { z } from 'zod';

/** Issued statements: read by tenant and period; written once per (tenant, period). */

export const issuedStatementRow = z.object({
  period: z.string(),
  body: z.string(),
  issued_ms: z.coerce.number(),
});

export function issuedStatementQuery(tenantId: string, period: string) {
  return {
    query: `SELECT period, body, toUnixTimestamp64Milli(issued_at) AS issued_ms
            FROM statements FINAL
            WHERE tenant_id = {tenant:String} AND period = {period:String}`,
    params: { tenant: tenantId, period },
  };
}

/** Issued statements of the periods in [fromPeriod, toPeriod), oldest first (for adjustments). */
export function issuedStatementsBetweenQuery(tenantId: string, fromPeriod: string, toPeriod: string) {
  return {
    query: `SELECT period, body, toUnixTimestamp64Milli(issued_at) AS issued_ms
            FROM statements FINAL
            WHERE tenant_id = {tenant:String} AND period >= {from:String} AND period < {to:String}
            ORDER BY period`,
    params: { tenant: tenantId, from: fromPeriod, to: toPeriod },
  };
}

export const issuedTermsRow = z.object({
  plan: z.string(),
  currency: z.string(),
  tenants: z.array(z.string()),
  periods: z.array(z.string()),
});

/**
 * The plans and currencies issued statements of periods from `fromPeriod` on were rated with,
 * with (a few of) the tenants and periods that name each: what re-rating them for late usage needs
 * the price book to still have.
 */
export function issuedTermsQuery(fromPeriod: string) {
  return {
    query: `SELECT plan, currency, groupUniqArray(5)(tenant_id) AS tenants, arraySort(groupUniqArray(5)(period)) AS periods
            FROM statements FINAL
            WHERE period >= {from:String}
            GROUP BY plan, currency
            ORDER BY plan, currency`,
    params: { from: fromPeriod },
  };
}
