import { z } from 'zod';
import { getStatement, shiftPeriod, type StatementContext } from '../statements/statement-service.ts';
import { periodBounds } from '../statements/units.ts';

const tenantRow = z.object({ tenant_id: z.string() });

/** 'YYYY-MM' of an instant, UTC. */
export function periodOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}

/**
 * Issues (freezes) last month's statement for every tenant with usage in it, once the month is
 * past its close grace, so finance gets frozen numbers at month end rather than on whoever asks
 * first. Safe to re-run: an issued statement is served, never issued again.
 */
export async function issueClosedStatements(ctx: StatementContext): Promise<{ period: string; issued: number }> {
  const period = shiftPeriod(periodOf(ctx.now()), -1);
  const { start, end } = periodBounds(period);
  if (end + ctx.closeGraceHours * 3_600_000 > ctx.now()) return { period, issued: 0 };
  const tenants = await ctx.store.query({
    query: `SELECT DISTINCT tenant_id FROM usage_hourly
            WHERE hour >= toDateTime(intDiv({from:Int64}, 1000), 'UTC') AND hour < toDateTime(intDiv({to:Int64}, 1000), 'UTC')
            ORDER BY tenant_id`,
    params: { from: start, to: end },
    schema: tenantRow,
  });
  for (const { tenant_id } of tenants) await getStatement(ctx, tenant_id, period);
  return { period, issued: tenants.length };
}
