import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore } from '../../test/support/store.ts';
import type { Store } from '../store/client.ts';
import { resolveAdminKey } from './admin-key.ts';
import { KEY_REFRESH_MS, KeyService, requireTenantAccess } from './key-service.ts';
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

/** One embedded ClickHouse per process (and so per file): every KeyService test shares it. */
let store: Store;
beforeAll(async () => {
  ({ store } = await openTestStore());
});
afterAll(() => store?.close());

describe('KeyService (chdb)', () => {
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

describe('KeyService revocation (chdb)', () => {
  it("lists a tenant's live keys without the keys, and revokes one by id: at once here", async () => {
    let now = Date.UTC(2026, 10, 1);
    const keys = new KeyService(store, 'admin-key-for-tests-000', () => now);
    await keys.load();
    const first = await keys.create('rev-a', 'tenant');
    now += 1_000;
    const second = await keys.create('rev-a', 'ingest');
    await keys.create('rev-b', 'tenant');

    const listed = await keys.list('rev-a');
    expect(listed).toEqual([
      { id: hashKey(first.key).slice(0, 16), prefix: first.key.slice(0, 16), role: 'tenant', created_at: '2026-11-01T00:00:00.000Z' },
      { id: hashKey(second.key).slice(0, 16), prefix: second.key.slice(0, 16), role: 'ingest', created_at: '2026-11-01T00:00:01.000Z' },
    ]);
    expect(JSON.stringify(listed)).not.toContain(first.key);
    expect(first.id).toBe(listed[0]!.id);

    await keys.revoke('rev-a', first.id);
    expect(await keys.authenticate(first.key)).toBeUndefined();
    expect(await keys.authenticate(second.key)).toMatchObject({ tenantId: 'rev-a', role: 'ingest' });
    expect((await keys.list('rev-a')).map((k) => k.id)).toEqual([second.id]);
    // Once revoked, or another tenant's: not found, the same way.
    await expect(keys.revoke('rev-a', first.id)).rejects.toMatchObject({ kind: 'not_found', code: 'key_not_found' });
    await expect(keys.revoke('rev-b', second.id)).rejects.toMatchObject({ kind: 'not_found', code: 'key_not_found' });
    // A new process reads the revocation from the table.
    const restarted = new KeyService(store, undefined);
    await restarted.load();
    expect(await restarted.authenticate(first.key)).toBeUndefined();
    expect(await restarted.authenticate(second.key)).toMatchObject({ tenantId: 'rev-a' });
  });

  it('reaches another replica at its next refresh, never before it is due', async () => {
    let now = Date.UTC(2026, 10, 2);
    const revoker = new KeyService(store, undefined, () => now);
    const replica = new KeyService(store, undefined, () => now);
    await revoker.load();
    const { key, id } = await revoker.create('rev-c', 'tenant');
    await replica.load();
    expect(await replica.authenticate(key)).toMatchObject({ tenantId: 'rev-c' });

    await revoker.revoke('rev-c', id);
    now += KEY_REFRESH_MS - 1;
    await replica.refreshIfStale();
    expect(await replica.authenticate(key)).toMatchObject({ tenantId: 'rev-c' });
    now += 1;
    await replica.refreshIfStale();
    expect(await replica.authenticate(key)).toBeUndefined();
  });

  it('a reload whose query ran before a revocation does not bring the key back', async () => {
    let now = Date.UTC(2026, 10, 3);
    let release: () => void = () => {};
    let holdReads = false;
    const slow: Store = {
      ...store,
      query: (async (spec: Parameters<Store['query']>[0]) => {
        const hold = holdReads; // decided when the read is sent
        const rows = await store.query(spec);
        if (hold) await new Promise<void>((r) => (release = r));
        return rows;
      }) as Store['query'],
    };
    const keys = new KeyService(slow, undefined, () => now);
    await keys.load();
    const { key, id } = await keys.create('rev-d', 'tenant');
    await keys.load();
    now += KEY_REFRESH_MS;
    holdReads = true;
    const stale = keys.refreshIfStale(); // reads the table (key live), then waits
    holdReads = false;
    await keys.revoke('rev-d', id);
    release();
    await stale;
    expect(await keys.authenticate(key)).toBeUndefined();
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
