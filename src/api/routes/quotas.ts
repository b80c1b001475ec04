import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { requireTenantAccess, type KeyService } from '../../auth/key-service.ts';
import type { Principal } from '../../auth/keys.ts';
import { AppError } from '../../errors.ts';
import type { QuotaAuthority } from '../../quotas/types.ts';
import {
  blocksToJson,
  leaseGrantToJson,
  LeaseGrantBody,
  leaseRequestFromJson,
  LeaseRequestBody,
  MonthlyBlocksBody,
  QuotasBody,
  releaseRequestFromJson,
  ReleaseRequestBody,
  statusToJson,
} from '../../quotas/wire.ts';
import { requireRole } from '../auth.ts';
import type { AppEnv } from '../env.ts';
import { bearerSecurity, errorResponses, TenantParams } from '../schemas.ts';

/**
 * Quotas over HTTP: the tenant-facing status (`GET /v1/tenants/{tenant}/quotas`) and the internal
 * endpoints through which standalone sidecars lease from this process's quota authority
 * (`/v1/quota/*`). Only the one API instance named as authority should receive the latter.
 */

export interface QuotaRouteDeps {
  quotas: QuotaAuthority;
  keys: KeyService;
  tenantExists: (tenantId: string) => boolean;
}

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

export function registerQuotaRoutes(app: OpenAPIHono<AppEnv>, deps: QuotaRouteDeps): void {
  registerStatusRoute(app, deps);
  registerAuthorityRoutes(app, deps);
}

function registerStatusRoute(app: OpenAPIHono<AppEnv>, deps: QuotaRouteDeps): void {
  const route = createRoute({
    method: 'get',
    path: '/v1/tenants/{tenant}/quotas',
    summary: "A tenant's configured quotas: limit, usage in the current window, remaining, ratio and reset time",
    security: bearerSecurity,
    middleware: [requireRole(deps.keys, ['admin', 'tenant'])] as const,
    request: { params: TenantParams },
    responses: { 200: json(QuotasBody.openapi('Quotas'), 'quotas'), ...errorResponses },
  });
  app.openapi(route, async (c) => {
    const { tenant } = c.req.valid('param');
    requireTenantAccess(c.get('principal'), tenant, deps.tenantExists);
    const statuses = await deps.quotas.status(tenant);
    return c.json({ tenant, quotas: statuses.map(statusToJson) }, 200);
  });
}

/**
 * Sidecar <-> authority. The admin key may act for any tenant (a multi-tenant sidecar); an ingest
 * key only for the tenant it was issued to, so one tenant's key can neither spend nor free
 * another tenant's budget. Others' tenants are 404, as everywhere.
 */
function requireAuthorityAccess(principal: Principal, tenantId: string): void {
  if (principal.role === 'admin' || (principal.role === 'ingest' && principal.tenantId === tenantId)) return;
  throw new AppError('not_found', `tenant "${tenantId}" not found`, { code: 'tenant_not_found' });
}

/**
 * The holder a lease or release is booked under. An ingest key's holders are its own: prefixed
 * with the key's id, so a tenant's key cannot hand back (and so re-spend) budget that the
 * operator's sidecars hold for that tenant, whose holder names show in the tenant's own usage by
 * instance. The admin key (the operator's sidecars) names holders as it likes.
 */
function holderOf(principal: Principal, holder: string): string {
  return principal.role === 'admin' ? holder : `key:${principal.keyId}/${holder}`;
}

function registerAuthorityRoutes(app: OpenAPIHono<AppEnv>, deps: QuotaRouteDeps): void {
  const sidecarKey = requireRole(deps.keys, ['admin', 'ingest']);
  const body = <T extends z.ZodType>(schema: T) => ({ body: { required: true, content: { 'application/json': { schema } } } });

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/quota/leases',
      summary: 'Internal (sidecars): lease units of a counter quota, or concurrency slots (amount 0 renews slots)',
      security: bearerSecurity,
      middleware: [sidecarKey] as const,
      request: body(LeaseRequestBody),
      responses: { 200: json(LeaseGrantBody, 'grant (granted may be less than asked, down to 0)'), ...errorResponses },
    }),
    async (c) => {
      const principal = c.get('principal');
      const req = leaseRequestFromJson(c.req.valid('json'));
      requireAuthorityAccess(principal, req.tenantId);
      return c.json(leaseGrantToJson(await deps.quotas.lease({ ...req, holder: holderOf(principal, req.holder) })), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/quota/releases',
      summary: 'Internal (sidecars): hand back unspent units of a window, or free concurrency slots',
      security: bearerSecurity,
      middleware: [sidecarKey] as const,
      request: body(ReleaseRequestBody),
      responses: { 204: { description: 'released' }, ...errorResponses },
    }),
    async (c) => {
      const principal = c.get('principal');
      const req = releaseRequestFromJson(c.req.valid('json'));
      requireAuthorityAccess(principal, req.tenantId);
      await deps.quotas.release({ ...req, holder: holderOf(principal, req.holder) });
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/quota/blocks/{tenant}',
      summary: "Internal (sidecars): the tenant's exhausted monthly quotas (CPU/GPU seconds, spend)",
      security: bearerSecurity,
      middleware: [sidecarKey] as const,
      request: { params: TenantParams },
      responses: { 200: json(MonthlyBlocksBody, 'blocks'), ...errorResponses },
    }),
    async (c) => {
      const { tenant } = c.req.valid('param');
      requireAuthorityAccess(c.get('principal'), tenant);
      return c.json(blocksToJson(tenant, await deps.quotas.monthlyBlocks(tenant)), 200);
    },
  );
}
