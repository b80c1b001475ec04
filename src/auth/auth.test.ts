import { AppError } from '../errors.ts';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore } from '../../test/support/store.ts';
import type { Store } from '../store/client.ts';
import { resolveAdminKey } from './admin-key.ts';
import { KEY_REFRESH_MS, KeyService, requireTenantAccess, type RemoteKeys, type ResolvedKey } from './key-service.ts';
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

describe('KeyService with a remote store (a standalone sidecar asking the API, chdb)', () => {
  /** The API's answers by key hash, and how often it was asked. */
  function api() {
    const known = new Map<string, ResolvedKey>();
    const state = { calls: 0, down: false };
    const remote: RemoteKeys = async (hash) => {
      state.calls++;
      if (state.down) throw new Error('the API at http://api:8080/v1/keys/resolve is unreachable (ECONNREFUSED)');
      return known.get(hash);
    };
    const add = (key: string, tenantId: string) => known.set(hashKey(key), { tenantId, role: 'tenant', keyPrefix: key.slice(0, 12), createdAt: '2026-11-29T00:00:00.000Z' });
    return { known, state, remote, add };
  }
  const KEY = 'il_tenant_made-on-the-api-0123456789abcdef';

  it('a key only the API holds works, and the answer is kept for 30 s', async () => {
    let now = 1_000_000;
    const a = api();
    a.add(KEY, 'remote-acme');
    const keys = new KeyService(store, undefined, () => now, a.remote);
    await keys.load();
    expect(await keys.authenticate(KEY)).toMatchObject({ role: 'tenant', tenantId: 'remote-acme' });
    expect(await keys.authenticate(KEY)).toMatchObject({ tenantId: 'remote-acme' });
    expect(a.state.calls).toBe(1);
    // Revoked on the API: it stops working here once the kept answer is 30 s old.
    a.known.clear();
    now += KEY_REFRESH_MS - 1;
    expect(await keys.authenticate(KEY)).toMatchObject({ tenantId: 'remote-acme' });
    now += 1;
    expect(await keys.authenticate(KEY)).toBeUndefined();
  });

  it('an unknown key is asked about once per 5 s, and concurrent requests share one lookup', async () => {
    let now = 2_000_000;
    const a = api();
    const keys = new KeyService(store, undefined, () => now, a.remote);
    await keys.load();
    const answers = await Promise.all([1, 2, 3].map(() => keys.authenticate('il_tenant_nobody-knows-this-one-0123456789')));
    expect(answers).toEqual([undefined, undefined, undefined]);
    expect(a.state.calls).toBe(1);
    // Created on the API just now: it works here once the "unknown" answer has expired.
    a.add('il_tenant_nobody-knows-this-one-0123456789', 'late');
    expect(await keys.authenticate('il_tenant_nobody-knows-this-one-0123456789')).toBeUndefined();
    now += 5_000;
    expect(await keys.authenticate('il_tenant_nobody-knows-this-one-0123456789')).toMatchObject({ tenantId: 'late' });
  });

  it('random keys cannot flood the API: at most 20 lookups a second, the rest are a 503 (never checked, so not invalid)', async () => {
    const now = 3_000_000;
    const a = api();
    a.add(KEY, 'remote-acme');
    const keys = new KeyService(store, undefined, () => now, a.remote);
    await keys.load();
    const answers = [];
    for (let i = 0; i < 50; i++) answers.push(await keys.authenticate(`il_tenant_random-${i}-0123456789abcdefghij`).catch((e: unknown) => e));
    expect(a.state.calls).toBe(20);
    expect(answers.slice(0, 20)).toEqual(Array(20).fill(undefined)); // asked: unknown, a 401
    expect(answers.slice(20).every((e) => (e as AppError).code === 'key_check_unavailable')).toBe(true);
    // A valid key that arrives in the same second is not told it is invalid.
    await expect(keys.authenticate(KEY)).rejects.toMatchObject({ kind: 'unavailable', code: 'key_check_unavailable', details: { retryAfterSeconds: 1 } });
  });

  it('while the API cannot answer: a key it confirmed keeps working; another key is a 503, not a 401', async () => {
    let now = 4_000_000;
    const a = api();
    a.add(KEY, 'remote-acme');
    const keys = new KeyService(store, undefined, () => now, a.remote);
    await keys.load();
    await keys.authenticate(KEY);
    a.state.down = true;
    now += KEY_REFRESH_MS;
    expect(await keys.authenticate(KEY)).toMatchObject({ tenantId: 'remote-acme' });
    const err = await keys.authenticate('il_tenant_never-seen-here-0123456789abc').catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'unavailable', code: 'key_check_unavailable' });
    expect((err as Error).message).toContain('cannot check this API key now: the API at http://api:8080/v1/keys/resolve is unreachable');
  });

  it('keys of its own store never ask the API', async () => {
    const a = api();
    const writer = new KeyService(store, 'admin-key-for-tests-000');
    const { key } = await writer.create('local-tenant', 'tenant');
    const keys = new KeyService(store, undefined, Date.now, a.remote);
    await keys.load();
    expect(await keys.authenticate(key)).toMatchObject({ tenantId: 'local-tenant' });
    expect(a.state.calls).toBe(0);
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
    // Revoked many times at once: one revocation, the others not found, as one after another.
    const third = await keys.create('rev-a', 'tenant');
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => keys.revoke('rev-a', third.id)));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toMatchObject({ code: 'key_not_found' });
    expect(await keys.authenticate(third.key)).toBeUndefined();
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
    [{ role: 'admin', keyPrefix: 'k', keyId: 'k' }, 'acme', true],
    [{ role: 'admin', keyPrefix: 'k', keyId: 'k' }, 'nobody', false],
    [{ role: 'tenant', tenantId: 'acme', keyPrefix: 'k', keyId: 'k' }, 'acme', true],
    [{ role: 'tenant', tenantId: 'globex', keyPrefix: 'k', keyId: 'k' }, 'acme', false],
    [{ role: 'ingest', tenantId: 'acme', keyPrefix: 'k', keyId: 'k' }, 'acme', false],
  ] as const)('%j on %s -> allowed %s', (principal, tenant, allowed) => {
    const call = () => requireTenantAccess(principal, tenant, exists);
    if (allowed) expect(call).not.toThrow();
    else expect(call).toThrow(expect.objectContaining({ kind: 'not_found', code: 'tenant_not_found' }));
  });
});
