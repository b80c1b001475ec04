import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AppEnv } from '../../api/env.ts';
import { handleError } from '../../api/errors.ts';
import type { KeyService } from '../../auth/key-service.ts';
import type { Principal } from '../../auth/keys.ts';
import { resolveTenant } from './tenant-auth.ts';

const ADMIN = 'il_admin_gateway-0123456789abcdef';
const TENANT = 'il_tenant_acme-0123456789abcdef';
const principals: Record<string, Principal> = {
  [ADMIN]: { role: 'admin', keyPrefix: 'il_admin_gatewa', keyId: 'a' },
  [TENANT]: { role: 'tenant', tenantId: 'acme', keyPrefix: 'il_tenant_acme-', keyId: 't' },
};
const keys = { authenticate: async (key: string) => principals[key] } as unknown as KeyService;

function app(trustTenantHeader: boolean) {
  const a = new Hono<AppEnv>();
  a.onError(handleError);
  a.post('/infer', resolveTenant(keys, trustTenantHeader), (c) => c.json({ tenant: c.get('tenantId') }));
  return a;
}
const infer = async (trust: boolean, key: string, headers: Record<string, string> = {}) => {
  const res = await app(trust).request('/infer', { method: 'POST', headers: { authorization: `Bearer ${key}`, ...headers } });
  return { status: res.status, body: (await res.json()) as { tenant?: string; error?: { code: string; message: string } } };
};

describe('resolveTenant', () => {
  it('a gateway key with X-Tenant-Id acts for that tenant when the header is trusted', async () => {
    expect(await infer(true, ADMIN, { 'x-tenant-id': 'globex' })).toEqual({ status: 200, body: { tenant: 'globex' } });
  });

  it('says the header is ignored when it is not trusted, instead of asking for it', async () => {
    const res = await infer(false, ADMIN, { 'x-tenant-id': 'globex' });
    expect(res.status).toBe(403);
    expect(res.body.error).toEqual({ code: 'wrong_role', message: 'X-Tenant-Id is ignored here: sidecar.trust_tenant_header is off, so inference needs a tenant key' });
    expect((await infer(false, ADMIN)).body.error?.message).toBe('inference needs a tenant key (or a trusted gateway key with X-Tenant-Id)');
  });

  it('a tenant key is its own tenant, header or not', async () => {
    expect(await infer(true, TENANT, { 'x-tenant-id': 'globex' })).toEqual({ status: 200, body: { tenant: 'acme' } });
  });
});
