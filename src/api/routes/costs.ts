import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { attributionReport, tenantCostReport } from '../../attribution/cost-reports.ts';
import { attributeRange, type CostContext } from '../../attribution/cost-service.ts';
import { requireTenantAccess, type KeyService } from '../../auth/key-service.ts';
import { requireRole } from '../auth.ts';
import type { AppEnv } from '../env.ts';
import { bearerSecurity, errorResponses, TenantParams } from '../schemas.ts';
import { resolveRange } from '../time-params.ts';
import { RangeQuery, UsageQuery } from './usage.ts';

/**
 * The longest range one cost request prices: a year with a margin. A cost range is priced a UTC
 * day at a time (each past day kept), so a range of decades was tens of thousands of pieces and
 * ran the process out of memory; ranges add up exactly, so longer spans are consecutive requests.
 */
export const MAX_PRICED_RANGE_MS = 400 * 86_400_000;

/** The same parameters as usage, `group_by` included (SPEC §7). */
const CostsQuery = UsageQuery.extend({
  step: RangeQuery.shape.step.openapi({ type: 'string', description: 'series step in whole hours: 1h, 6h, 1d (costs are priced per hour); points are counted from `from` widened to its hour' }),
});

const Money = z.string().openapi({ example: '12.345678', description: 'decimal amount in the currency' });
const Resources = z.object({ cpu: Money, memory: Money, gpu: Money });

const CostsSchema = z
  .object({
    tenant: z.string(),
    from: z.string(),
    to: z.string(),
    step_seconds: z.number(),
    currency: z.string(),
    idle_policy: z.string(),
    total: Money,
    usage_cost: Money,
    by_resource: Resources.extend({ idle_share: Money, overhead_share: Money }),
    by_model: z.array(z.object({ model: z.string(), cost: Money })),
    groups: z
      .object({
        by: z.enum(['model', 'variant', 'instance']),
        entries: z.array(z.object({ key: z.string(), cost: Money, usage_cost: Money, shared_cost: Money })),
      })
      .optional()
      .openapi({ description: 'with group_by: the range per group; idle and overhead shares spread by usage, so the groups add up to total' }),
    series: z.array(z.object({ t: z.string(), total: Money, usage_cost: Money, idle_share: Money, overhead_share: Money })),
  })
  .openapi('Costs');

const Margin = z.object({ revenue: Money, cost: Money, margin: Money });
const AttributionSchema = z
  .object({
    from: z.string(),
    to: z.string(),
    currency: z.string(),
    idle_policy: z.string(),
    capacity_cost: Money,
    overhead_cost: Money,
    idle_cost: Money,
    unallocated_idle: Money,
    capacity_by_resource: Resources,
    idle_by_resource: Resources,
    tenants: z.array(
      z.object({
        tenant: z.string(),
        plan: z.string(),
        usage_cost: Money,
        usage_by_resource: Resources,
        idle_share: Money,
        overhead_share: Money,
        total_cost: Money,
        revenue: Money,
        margin: Money,
      }),
    ),
    margin: z.object({
      by_model: z.array(Margin.extend({ tenant: z.string(), model: z.string() })),
      by_plan: z.array(Margin.extend({ plan: z.string() })),
    }),
    unpriced_usage: z.object({ cpu_seconds: z.number(), gpu_seconds: z.number(), hours: z.number() }),
    conservation: z.object({ holds: z.boolean(), difference: Money, rule: z.string() }),
  })
  .openapi('Attribution');

export interface CostRouteDeps {
  costs: CostContext;
  keys: KeyService;
  tenantExists: (tenantId: string) => boolean;
}

const HOUR_S = 3600;

export function registerCostRoutes(app: OpenAPIHono<AppEnv>, deps: CostRouteDeps): void {
  const tenantCosts = createRoute({
    method: 'get',
    path: '/v1/tenants/{tenant}/costs',
    summary: "A tenant's attributed cost (usage + idle and overhead shares), by resource, model and time. Whole hours.",
    security: bearerSecurity,
    middleware: [requireRole(deps.keys, ['admin', 'tenant'])] as const,
    request: { params: TenantParams, query: CostsQuery },
    responses: { 200: { description: 'costs', content: { 'application/json': { schema: CostsSchema } } }, ...errorResponses },
  });
  app.openapi(tenantCosts, async (c) => {
    const { tenant } = c.req.valid('param');
    requireTenantAccess(c.get('principal'), tenant, deps.tenantExists);
    const q = c.req.valid('query');
    const { range, stepSeconds } = resolveRange(q, deps.costs.now(), { maxRangeMs: MAX_PRICED_RANGE_MS, stepMultipleS: HOUR_S });
    return c.json(tenantCostReport(deps.costs, await attributeRange(deps.costs, range), tenant, stepSeconds, q.group_by), 200);
  });

  const attribution = createRoute({
    method: 'get',
    path: '/v1/attribution',
    summary: 'Capacity cost attributed to tenants, idle and overhead by policy, margin, and the conservation check (admin). Whole hours.',
    security: bearerSecurity,
    middleware: [requireRole(deps.keys, ['admin'])] as const,
    request: { query: RangeQuery.omit({ step: true }) },
    responses: { 200: { description: 'attribution', content: { 'application/json': { schema: AttributionSchema } } }, ...errorResponses },
  });
  app.openapi(attribution, async (c) => {
    const { range } = resolveRange(c.req.valid('query'), deps.costs.now(), { maxRangeMs: MAX_PRICED_RANGE_MS, series: false });
    return c.json(attributionReport(deps.costs, await attributeRange(deps.costs, range)), 200);
  });
}
