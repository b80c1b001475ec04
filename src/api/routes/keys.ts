import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { AppError } from '../../errors.ts';
import { requireTenantAccess, type KeyService } from '../../auth/key-service.ts';
import { requireRole, type AuthEnv } from '../auth.ts';
import { bearerSecurity, errorResponses, TenantParams } from '../schemas.ts';

const CreateKeyBody = z.object({ role: z.enum(['tenant', 'ingest']).default('tenant') }).strict();
const KEY_ID = z
  .string()
  .regex(/^[0-9a-f]{16}$/, 'a key id is 16 hex digits (as listed by GET /v1/tenants/{tenant}/keys)')
  .openapi({ param: { name: 'id', in: 'path' }, example: '3f2a9c0d1e4b5a67' });
const KeyParams = TenantParams.extend({ id: KEY_ID });
const CreatedKey = z
  .object({ key: z.string(), id: z.string(), role: z.enum(['tenant', 'ingest']), tenant: z.string() })
  .openapi('CreatedKey');
const KeyList = z
  .object({
    tenant: z.string(),
    keys: z.array(z.object({ id: z.string(), prefix: z.string(), role: z.enum(['tenant', 'ingest']), created_at: z.string() })),
  })
  .openapi('KeyList');

const ResolveBody = z
  .object({ key_hash: z.string().regex(/^[0-9a-f]{64}$/, 'key_hash is the SHA-256 of the key, 64 lowercase hex digits') })
  .strict();
const ResolvedKey = z
  .object({ tenant: z.string(), role: z.enum(['tenant', 'ingest']), prefix: z.string(), created_at: z.string() })
  .openapi('ResolvedKey');

export interface KeyRouteDeps {
  keys: KeyService;
  tenantExists: (tenantId: string) => boolean;
}

export function registerKeyRoutes(app: OpenAPIHono<AuthEnv>, { keys, tenantExists }: KeyRouteDeps): void {
  const create = createRoute({
    method: 'post',
    path: '/v1/tenants/{tenant}/keys',
    summary: 'Create an API key for a tenant (admin). The key is shown once; its id is what revoking takes.',
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
  app.openapi(create, async (c) => {
    const { tenant } = c.req.valid('param');
    // The body is optional: without one (or without a JSON content type) no default was applied.
    const role = c.req.valid('json')?.role ?? 'tenant';
    const created = await keys.create(tenant, role);
    return c.json({ key: created.key, id: created.id, role, tenant }, 201);
  });

  const list = createRoute({
    method: 'get',
    path: '/v1/tenants/{tenant}/keys',
    summary: "A tenant's live keys (admin, or that tenant): id, prefix, role and creation time, never the key.",
    security: bearerSecurity,
    middleware: [requireRole(keys, ['admin', 'tenant'])] as const,
    request: { params: TenantParams },
    responses: { 200: { description: 'keys', content: { 'application/json': { schema: KeyList } } }, ...errorResponses },
  });
  app.openapi(list, async (c) => {
    const { tenant } = c.req.valid('param');
    requireTenantAccess(c.get('principal'), tenant, tenantExists);
    return c.json({ tenant, keys: await keys.list(tenant) }, 200);
  });

  const revoke = createRoute({
    method: 'delete',
    path: '/v1/tenants/{tenant}/keys/{id}',
    summary: 'Revoke a key (admin): at once on this instance, within 30 s on other API replicas and sidecars.',
    security: bearerSecurity,
    middleware: [requireRole(keys, ['admin'])] as const,
    request: { params: KeyParams },
    responses: { 204: { description: 'revoked' }, ...errorResponses },
  });
  // For standalone sidecars on their own embedded engine, which hold none of the keys made here:
  // they send the key's hash (never the key) and cache the answer (src/auth/key-service.ts).
  const resolve = createRoute({
    method: 'post',
    path: '/v1/keys/resolve',
    summary: "Look a live tenant or ingest key up by its SHA-256 (admin): how a standalone sidecar learns the API's keys.",
    security: bearerSecurity,
    middleware: [requireRole(keys, ['admin'])] as const,
    request: { body: { required: true, content: { 'application/json': { schema: ResolveBody } } } },
    responses: { 200: { description: 'the key', content: { 'application/json': { schema: ResolvedKey } } }, ...errorResponses },
  });
  app.openapi(resolve, async (c) => {
    const found = await keys.resolve(c.req.valid('json').key_hash);
    if (!found) throw new AppError('not_found', 'no live key has this hash', { code: 'key_not_found' });
    return c.json({ tenant: found.tenantId, role: found.role, prefix: found.keyPrefix, created_at: found.createdAt }, 200);
  });

  app.openapi(revoke, async (c) => {
    const { tenant, id } = c.req.valid('param');
    await keys.revoke(tenant, id);
    return c.body(null, 204);
  });
}
