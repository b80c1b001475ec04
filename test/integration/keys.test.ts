import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, call, expectErrorShape, startHarness, usage, type Harness } from '../support/platform.ts';

/**
 * A key's life over HTTP on a real platform: created (shown once, with its id), listed without
 * the secret, revoked by id, refused from then on. Who may do what per role is in
 * isolation.test.ts (GET and DELETE /v1/tenants/{tenant}/keys rows).
 */

const TENANT = 'keys-life';
let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h?.close();
});

type Created = { key: string; id: string; role: string; tenant: string };
type Listed = { tenant: string; keys: Array<{ id: string; prefix: string; role: string; created_at: string }> };

const create = async (role: 'tenant' | 'ingest') => {
  const res = await call<Created>(h.baseUrl, 'POST', `/v1/tenants/${TENANT}/keys`, { key: ADMIN_KEY, body: { role } });
  expect(res.status, res.text).toBe(201);
  return res.body;
};

describe('API keys: create, list, revoke', () => {
  it('lists live keys without their secret, and a revoked key is refused at once while the others work', async () => {
    const leaked = await create('tenant');
    const kept = await create('tenant');
    const ingest = await create('ingest');
    expect(leaked.id).toMatch(/^[0-9a-f]{16}$/);

    const listed = await call<Listed>(h.baseUrl, 'GET', `/v1/tenants/${TENANT}/keys`, { key: kept.key });
    expect(listed.status, listed.text).toBe(200);
    // Oldest first; keys made within one millisecond may come in either order.
    const byId = (rows: string[][]) => [...rows].sort(([a], [b]) => (a! < b! ? -1 : 1));
    expect(byId(listed.body.keys.map((k) => [k.id, k.role, k.prefix]))).toEqual(
      byId([
        [leaked.id, 'tenant', leaked.key.slice(0, 16)],
        [kept.id, 'tenant', kept.key.slice(0, 16)],
        [ingest.id, 'ingest', ingest.key.slice(0, 16)],
      ]),
    );
    for (const secret of [leaked.key, kept.key, ingest.key]) expect(listed.text).not.toContain(secret);

    expect((await usage(h.baseUrl, leaked.key, TENANT)).tenant).toBe(TENANT);
    const revoked = await call(h.baseUrl, 'DELETE', `/v1/tenants/${TENANT}/keys/${leaked.id}`, { key: ADMIN_KEY });
    expect(revoked.status, revoked.text).toBe(204);

    const refused = await call(h.baseUrl, 'GET', `/v1/tenants/${TENANT}/usage`, { key: leaked.key });
    expect(refused.status).toBe(401);
    expect(expectErrorShape(refused).code).toBe('invalid_key');
    expect((await usage(h.baseUrl, kept.key, TENANT)).tenant).toBe(TENANT);
    const after = await call<Listed>(h.baseUrl, 'GET', `/v1/tenants/${TENANT}/keys`, { key: ADMIN_KEY });
    expect(after.body.keys.map((k) => k.id).sort()).toEqual([kept.id, ingest.id].sort());

    const again = await call(h.baseUrl, 'DELETE', `/v1/tenants/${TENANT}/keys/${leaked.id}`, { key: ADMIN_KEY });
    expect(again.status).toBe(404);
    expect(expectErrorShape(again).code).toBe('key_not_found');
  });

  it('refuses a malformed key id with a clear 400', async () => {
    const res = await call(h.baseUrl, 'DELETE', `/v1/tenants/${TENANT}/keys/il_tenant_abc`, { key: ADMIN_KEY });
    expect(res.status).toBe(400);
    expect(expectErrorShape(res)).toMatchObject({ code: 'invalid_request', message: expect.stringContaining('a key id is 16 hex digits') });
  });
});
