import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { KeyService } from '../../auth/key-service.ts';
import { requireRole, type AuthEnv } from '../auth.ts';
import { bearerSecurity, errorResponses, TenantParams } from '../schemas.ts';

const CreateKeyBody = z.object({ role: z.enum(['tenant', 'ingest']).default('tenant') }).strict();
const CreatedKey = z
  .object({ key: z.string(), role: z.enum(['tenant', 'ingest']), tenant: z.string() })
  .openapi('CreatedKey');

export function registerKeyRoutes(app: OpenAPIHono<AuthEnv>, keys: KeyService): void {
  const route = createRoute({
    method: 'post',
    path: '/v1/tenants/{tenant}/keys',
    summary: 'Create an API key for a tenant (admin). The key is shown once.',
    security: bearerSecurity,
    middleware: [requireRole(keys, ['admin'])] as const,
    request: {
      params: TenantParams,
      body: { required: false, content: { 'application/json': { schema: CreateKeyBody } } },
    },
    responses: {
      201: { description: 'created', content: { 'application/json': { schema: CreatedKey } } },
      ...errorResponses,
    },
  });
  app.openapi(route, async (c) => {
    const { tenant } = c.req.valid('param');
    // The body is optional: without one (or without a JSON content type) no default was applied.
    const role = c.req.valid('json')?.role ?? 'tenant';
    const created = await keys.create(tenant, role);
    return c.json({ key: created.key, role, tenant }, 201);
  });
}
