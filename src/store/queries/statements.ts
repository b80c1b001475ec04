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
