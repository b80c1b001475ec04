import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { alertToJson } from '../../alerts/alert-json.ts';
import { createAlertStore } from '../../alerts/store/alert-store.ts';
import type { Principal } from '../../auth/keys.ts';
import { requireTenantAccess, type KeyService } from '../../auth/key-service.ts';
import { AppError } from '../../errors.ts';
import type { Store } from '../../store/client.ts';
import { requireRole, type AuthEnv } from '../auth.ts';
import { bearerSecurity, errorResponses, TENANT_PARAM } from '../schemas.ts';
import { DEFAULT_RANGE_MS, instantParam } from '../time-params.ts';

const MAX_ALERTS = 1000;

const AlertsQuery = z.object({
  state: z.enum(['pending', 'firing', 'resolved']).optional(),
  from: instantParam.optional().openapi({ type: 'string', description: 'RFC 3339 or epoch ms (default: to - 24h); alerts active at any time in [from, to)' }),
  to: instantParam.optional().openapi({ type: 'string', description: 'RFC 3339 or epoch ms, exclusive (default: now)' }),
  tenant: TENANT_PARAM.optional().openapi({ param: { name: 'tenant', in: 'query' }, description: 'admin: one tenant only; a tenant key always sees its own' }),
  limit: z.coerce.number().int().min(1).max(MAX_ALERTS).optional().openapi({ type: 'integer', description: `open (pending, firing) first, then newest first; default and maximum ${MAX_ALERTS}` }),
});

const AlertSchema = z
  .object({
    key: z.string(),
    kind: z.enum(['quota', 'anomaly']),
    name: z.string(),
    tenant: z.string(),
    severity: z.enum(['info', 'warning', 'critical']),
    state: z.enum(['pending', 'firing', 'resolved']),
    labels: z.record(z.string(), z.string()),
    annotations: z.record(z.string(), z.string()),
    value: z.number(),
    starts_at: z.string(),
    ends_at: z.string().nullable(),
    updated_at: z.string(),
  })
  .openapi('Alert');
const AlertList = z.object({ alerts: z.array(AlertSchema) }).openapi('AlertList');

export interface AlertRouteDeps {
  store: Store;
  keys: KeyService;
  tenantExists: (tenantId: string) => boolean;
  now: () => number;
}

/**
 * Which tenant's alerts a caller may list: a tenant key only its own (naming another is the same
 * 404 as a tenant that does not exist); an admin every tenant, or the one it names.
 */
export function alertScope(principal: Principal, tenant: string | undefined, tenantExists: (t: string) => boolean): string | undefined {
  if (tenant !== undefined) {
    requireTenantAccess(principal, tenant, tenantExists);
    return tenant;
  }
  if (principal.role === 'admin') return undefined;
  if (!principal.tenantId) throw new AppError('forbidden', 'this key belongs to no tenant', { code: 'wrong_role' });
  return principal.tenantId;
}

export function registerAlertRoutes(app: OpenAPIHono<AuthEnv>, deps: AlertRouteDeps): void {
  const alerts = createAlertStore(deps.store);
  const route = createRoute({
    method: 'get',
    path: '/v1/alerts',
    summary: 'Quota and anomaly alerts active in a time range (admin: every tenant; tenant key: its own)',
    security: bearerSecurity,
    middleware: [requireRole(deps.keys, ['admin', 'tenant'])] as const,
    request: { query: AlertsQuery },
    responses: { 200: { description: 'alerts: open ones first, then newest first', content: { 'application/json': { schema: AlertList } } }, ...errorResponses },
  });
  app.openapi(route, async (c) => {
    const q = c.req.valid('query');
    const tenantId = alertScope(c.get('principal'), q.tenant, deps.tenantExists);
    const to = q.to ?? deps.now();
    const from = q.from ?? to - DEFAULT_RANGE_MS;
    if (from >= to) throw new AppError('invalid', '`from` must be before `to`', { code: 'invalid_range' });
    const found = await alerts.list({ tenantId, state: q.state, from, to, limit: q.limit ?? MAX_ALERTS });
    return c.json({ alerts: found.map(alertToJson) }, 200);
  });
}
