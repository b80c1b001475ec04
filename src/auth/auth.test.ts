import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore } from '../../test/support/store.ts';
import type { Store } from '../store/client.ts';
import { resolveAdminKey } from './admin-key.ts';
import { KeyService, requireTenantAccess } from './key-service.ts';
import { bearerToken, hashKey } from './keys.ts';

describe('bearerToken', () => {
  it.each([
    ['Bearer il_tenant_abcdefghijklmnop', 'il_tenant_abcdefghijklmnop'],
    ['bearer   il_tenant_abcdefghijklmnop  ', 'il_tenant_abcdefghijklmnop'],
    ['Basic il_tenant_abcdefghijklmnop', undefined],
    ['Bearer short', undefined],
    ['Bearer has spaces inside it ok?', undefined],
    [undefined, undefined],
  ])('%j -> %j', (header, token) => expect(bearerToken(header)).toBe(token));
});

describe('resolveAdminKey', () => {
  it('prefers the configured key', () => {
    expect(resolveAdminKey('configured-admin-key-123', '/nonexistent')).toEqual({ key: 'configured-admin-key-123', generated: false });
  });

  it('generates once, writes it 0600, then reuses it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'il-admin-'));
    const first = resolveAdminKey(undefined, dir);
    expect(first.generated).toBe(true);
    expect(first.key).toMatch(/^il_admin_[A-Za-z0-9_-]{43}$/);
    expect(statSync(join(dir, 'admin.key')).mode & 0o777).toBe(0o600);
    expect(resolveAdminKey(undefined, dir)).toEqual({ key: first.key, generated: false, path: join(dir, 'admin.key') });
  });
});

describe('KeyService (chdb)', () => {
  let store: Store;
  beforeAll(async () => {
    ({ store } = await openTestStore());
  });
  afterAll(() => store.close());

  it('stores only the hash and authenticates the shown key', async () => {
    let now = 0;
    const keys = new KeyService(store, 'admin-key-for-tests-000', () => now);
    await keys.load();
    const created = await keys.create('acme', 'tenant');
    expect(created).toMatchObject({ role: 'tenant', tenant: 'acme' });

    const rows = await store.query<{ key_hash: string }>({ query: "SELECT key_hash FROM api_keys WHERE tenant_id = 'acme'" });
    expect(rows).toEqual([{ key_hash: hashKey(created.key) }]);
    const stored = JSON.stringify(await store.query({ query: 'SELECT * FROM api_keys' }));
    expect(stored).not.toContain(created.key);

    expect(await keys.authenticate(created.key)).toMatchObject({ role: 'tenant', tenantId: 'acme' });
    expect(await keys.authenticate('admin-key-for-tests-000')).toMatchObject({ role: 'admin' });
    now += 10_000;
    expect(await keys.authenticate(created.key + 'x')).toBeUndefined();
  });

  it('knows tenants by their keys and treats no key as admin', async () => {
    const writer = new KeyService(store, 'admin-key-for-tests-000');
    const { key } = await writer.create('reader-tenant', 'tenant');
    const reader = new KeyService(store, undefined);
    await reader.load();
    expect(reader.tenantsWithKeys().has('reader-tenant')).toBe(true);
    expect(await reader.authenticate('admin-key-for-tests-000')).toBeUndefined();
    expect(await reader.authenticate(key)).toMatchObject({ role: 'tenant', tenantId: 'reader-tenant' });
  });

  it('sees keys created by another replica after a reload', async () => {
    let now = 0;
    const replicaA = new KeyService(store, 'admin-key-for-tests-000', () => now);
    const replicaB = new KeyService(store, 'admin-key-for-tests-000', () => now);
    await replicaA.load();
    await replicaB.load();
    const { key } = await replicaA.create('globex', 'ingest');
    now += 5_000; // past the reload rate limit
    expect(await replicaB.authenticate(key)).toMatchObject({ role: 'ingest', tenantId: 'globex' });
    expect(replicaB.tenantsWithKeys().has('globex')).toBe(true);
  });
});

describe('requireTenantAccess', () => {
  const exists = (t: string) => t === 'acme' || t === 'globex';
  it.each([
    [{ role: 'admin', keyPrefix: 'k' }, 'acme', true],
    [{ role: 'admin', keyPrefix: 'k' }, 'nobody', false],
    [{ role: 'tenant', tenantId: 'acme', keyPrefix: 'k' }, 'acme', true],
    [{ role: 'tenant', tenantId: 'globex', keyPrefix: 'k' }, 'acme', false],
    [{ role: 'ingest', tenantId: 'acme', keyPrefix: 'k' }, 'acme', false],
  ] as const)('%j on %s -> allowed %s', (principal, tenant, allowed) => {
    const call = () => requireTenantAccess(principal, tenant, exists);
    if (allowed) expect(call).not.toThrow();
    else expect(call).toThrow(expect.objectContaining({ kind: 'not_found', code: 'tenant_not_found' }));
  });
});
