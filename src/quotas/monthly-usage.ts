import { z } from 'zod';
import { parseMoney } from '../money/money.ts';
import { getStatement, type StatementContext } from '../statements/statement-service.ts';
import type { Store } from '../store/client.ts';
import type { TimeRange } from '../store/queries/time.ts';
import type { ReadMonthlyUsage } from './authority.ts';
import type { MonthToDate } from './monthly.ts';
import { periodOf } from './windows.ts';

/**
 * The adapter behind `ReadMonthlyUsage`: CPU and GPU microseconds per tenant from the hourly
 * rollup (FINAL: a recomputed hour counts once), and spend as the tenant's open statement total,
 * so the quota and the bill agree to the micro. All or nothing: if any read fails the whole
 * refresh fails and the authority keeps its last values, rather than mixing fresh and missing.
 * The rollup runs every 30 s, so monthly quotas lag usage by up to ~45 s: a tenant can overrun a
 * monthly limit by what it uses in that time.
 */

export const monthlyUsageRow = z.object({
  tenant_id: z.string(),
  cpu_us: z.coerce.bigint(),
  gpu_us: z.coerce.bigint(),
});

/** CPU and GPU microseconds per tenant in [from, to) of usage_hourly. */
export function monthlyUsageQuery(range: TimeRange) {
  return {
    query: `SELECT tenant_id, sum(cpu_us) AS cpu_us, sum(gpu_us) AS gpu_us
            FROM usage_hourly FINAL
            WHERE hour >= toDateTime(intDiv({from:Int64}, 1000), 'UTC') AND hour < toDateTime(intDiv({to:Int64}, 1000), 'UTC')
            GROUP BY tenant_id
            ORDER BY tenant_id`,
    params: { from: range.from, to: range.to },
  };
}

export interface MonthlyUsageReaderDeps {
  store: Store;
  statements: StatementContext;
  /** Configured tenants: their spend is read even before they have usage (a plan may bill a minimum). */
  knownTenants: () => Iterable<string>;
}

export function createMonthlyUsageReader(deps: MonthlyUsageReaderDeps): ReadMonthlyUsage {
  return async function readMonthlyUsage(month, wantsSpend) {
    const rows = await deps.store.query({ ...monthlyUsageQuery({ from: month.start, to: month.end }), schema: monthlyUsageRow });
    const usage = new Map<string, MonthToDate>(rows.map((r) => [r.tenant_id, { cpuUs: r.cpu_us, gpuUs: r.gpu_us }]));
    const tenants = new Set([...usage.keys(), ...deps.knownTenants()]);
    const period = periodOf(month.start);
    for (const tenantId of tenants) {
      if (!wantsSpend(tenantId)) continue;
      const { statement } = await getStatement(deps.statements, tenantId, period);
      const entry = usage.get(tenantId) ?? { cpuUs: 0n, gpuUs: 0n };
      entry.spend = parseMoney(statement.total);
      usage.set(tenantId, entry);
    }
    return usage;
  };
}
