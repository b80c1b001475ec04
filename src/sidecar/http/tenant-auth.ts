import type { MiddlewareHandler } from 'hono';
import { tenantIdSchema } from '../../config/schema.ts';
import type { KeyService } from '../../auth/key-service.ts';
import { bearerToken } from '../../auth/keys.ts';
import { AppError } from '../../errors.ts';

export type { AppEnv as SidecarEnv } from '../../api/env.ts';
import type { AppEnv } from '../../api/env.ts';

/**
 * Who the inference is for. A tenant key names its tenant. When the operator trusts a gateway
 * (`sidecar.trust_tenant_header`), a gateway holding the admin key may name any tenant in
 * `X-Tenant-Id`; an ingest key may name only the tenant it was issued for (ingest keys are
 * per tenant, so honouring any header would let one tenant bill another); a tenant key never
 * acts for anyone else, header or not.
 */
export const resolveTenant = (keys: KeyService, trustTenantHeader: boolean): MiddlewareHandler<AppEnv> =>
  async function resolveTenantMiddleware(c, next) {
    const token = bearerToken(c.req.header('authorization'));
    if (!token) throw new AppError('unauthenticated', 'missing or malformed `Authorization: Bearer <key>` header', { code: 'missing_key' });
    const principal = await keys.authenticate(token);
    if (!principal) throw new AppError('unauthenticated', 'invalid API key', { code: 'invalid_key' });

    let tenantId = principal.role === 'tenant' ? principal.tenantId : undefined;
    const headerTenant = c.req.header('x-tenant-id');
    if (trustTenantHeader && headerTenant !== undefined && principal.role !== 'tenant') {
      const parsed = tenantIdSchema.safeParse(headerTenant);
      if (!parsed.success) throw new AppError('invalid', 'X-Tenant-Id is not a valid tenant id', { code: 'invalid_tenant_header' });
      if (principal.role === 'ingest' && parsed.data !== principal.tenantId) {
        throw new AppError('forbidden', 'this ingest key may only act for its own tenant', { code: 'tenant_header_forbidden' });
      }
      tenantId = parsed.data;
    }
    if (!tenantId) {
      // Found by dogfooding: a gateway that sent X-Tenant-Id was told to send X-Tenant-Id.
      const why =
        headerTenant !== undefined && !trustTenantHeader
          ? 'X-Tenant-Id is ignored here: sidecar.trust_tenant_header is off, so inference needs a tenant key'
          : 'inference needs a tenant key (or a trusted gateway key with X-Tenant-Id)';
      throw new AppError('forbidden', why, { code: 'wrong_role' });
    }
    c.set('tenantId', tenantId);
    await next();
  };
