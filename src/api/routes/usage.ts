import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { requireTenantAccess, type KeyService } from '../../auth/key-service.ts';
import type { Store } from '../../store/client.ts';
import { readUsage } from '../../usage/usage-service.ts';
import { requireRole, type AuthEnv } from '../auth.ts';
import { bearerSecurity, errorResponses, TenantParams } from '../schemas.ts';
import { instantParam, resolveRange, stepParam } from '../time-params.ts';

export const RangeQuery = z.object({
  from: instantParam.optional().openapi({ type: 'string', description: 'RFC 3339 or epoch ms (default: to - 24h)' }),
  to: instantParam.optional().openapi({ type: 'string', description: 'RFC 3339 or epoch ms, exclusive (default: now)' }),
  step: stepParam.optional().openapi({ type: 'string', description: 'series step: seconds or 30s, 5m, 1h, 1d; points are counted from `from`, every one present (zeros included)' }),
});

export const UsageQuery = RangeQuery.extend({
  group_by: z.enum(['model', 'variant', 'instance']).optional(),
});

const Totals = z.object({
  requests: z.number(),
  errors: z.number(),
  rejected: z.number(),
  cpu_seconds: z.number(),
  gpu_seconds: z.number(),
  input_tokens: z.number(),
  output_tokens: z.number(),
});
const Latency = z.object({ p50_ms: z.number().nullable(), p95_ms: z.number().nullable(), p99_ms: z.number().nullable() });
const UsageSchema = z
  .object({
    tenant: z.string(),
    from: z.string(),
    to: z.string(),
    step_seconds: z.number(),
    totals: Totals,
    by_model: z.array(Totals.merge(Latency).extend({ model: z.string() })),
    groups: z.object({ by: z.string(), entries: z.array(Totals.merge(Latency).extend({ key: z.string() })) }).optional(),
    series: z.array(Totals.extend({ t: z.string() })),
  })
  .openapi('Usage');

export interface UsageRouteDeps {
  store: Store;
  keys: KeyService;
  /** Whether a tenant exists (configured or holding a key); unknown tenants are 404 for admins too. */
  tenantExists: (tenantId: string) => boolean;
  now: () => number;
}

export function registerUsageRoutes(app: OpenAPIHono<AuthEnv>, deps: UsageRouteDeps): void {
  const route = createRoute({
    method: 'get',
    path: '/v1/tenants/{tenant}/usage',
    summary: 'Requests, errors, latency percentiles and CPU/GPU seconds of a tenant, by model and over time',
    security: bearerSecurity,
    middleware: [requireRole(deps.keys, ['admin', 'tenant'])] as const,
    request: { params: TenantParams, query: UsageQuery },
    responses: { 200: { description: 'usage', content: { 'application/json': { schema: UsageSchema } } }, ...errorResponses },
  });
  app.openapi(route, async (c) => {
    const { tenant } = c.req.valid('param');
    requireTenantAccess(c.get('principal'), tenant, deps.tenantExists);
    const q = c.req.valid('query');
    const { range, stepSeconds } = resolveRange(q, deps.now());
    return c.json(await readUsage(deps.store, tenant, range, stepSeconds, q.group_by), 200);
  });
}
