import { describe, expect, it } from 'vitest';
import { checkAdminAccess, httpRemoteKeys } from './remote-keys.ts';

/** A fetch that answers every request with `status` and `body` (or fails to connect), recording the calls. */
function fakeFetch(status: number | 'down', body: unknown = {}) {
  const calls: Array<{ url: string; init: RequestInit }> = [];
  const fn = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    if (status === 'down') throw new TypeError('fetch failed');
    return new Response(JSON.stringify(body), { status });
  }) as unknown as typeof fetch;
  return { fn, calls };
}

const KEY_NOT_FOUND = { error: { code: 'key_not_found', message: 'no live key has this hash' } };
const HASH = 'ab'.repeat(32);

describe('key lookups at the API (a standalone sidecar)', () => {
  it('sends the hash, never the key, with the admin key; reads the answer', async () => {
    const f = fakeFetch(200, { tenant: 'acme', role: 'tenant', prefix: 'il_tenant_Ab', created_at: '2026-11-29T00:00:00.000Z' });
    const resolved = await httpRemoteKeys({ baseUrl: 'http://api:8080/', adminKey: 'il_admin_k', fetch: f.fn })(HASH);
    expect(resolved).toEqual({ tenantId: 'acme', role: 'tenant', keyPrefix: 'il_tenant_Ab', createdAt: '2026-11-29T00:00:00.000Z' });
    expect(f.calls[0]!.url).toBe('http://api:8080/v1/keys/resolve');
    expect(JSON.parse(String(f.calls[0]!.init.body))).toEqual({ key_hash: HASH });
    expect((f.calls[0]!.init.headers as Record<string, string>).authorization).toBe('Bearer il_admin_k');
  });

  it('404 key_not_found is "no such key"; a 404 without it, a 5xx or no answer is an error', async () => {
    expect(await httpRemoteKeys({ baseUrl: 'http://api', adminKey: 'k', fetch: fakeFetch(404, KEY_NOT_FOUND).fn })(HASH)).toBeUndefined();
    for (const status of [404, 503, 'down'] as const) {
      await expect(httpRemoteKeys({ baseUrl: 'http://api', adminKey: 'k', fetch: fakeFetch(status, { error: { code: 'not_found' } }).fn })(HASH)).rejects.toThrow(/http:\/\/api\/v1\/keys\/resolve/);
    }
  });

  // One check at start decides both the key lookups and where resource samples go.
  it.each<[number | 'down', unknown, RegExp | null | 'unreachable']>([
    [404, KEY_NOT_FOUND, null],
    [401, { error: { code: 'invalid_key' } }, /does not take quotas.authority_key as its admin key \(401\)/],
    [403, { error: { code: 'wrong_role' } }, /does not take quotas.authority_key as its admin key \(403\)/],
    [404, { error: { code: 'not_found' } }, /must be an inferledger API/],
    [503, {}, 'unreachable'],
    ['down', {}, 'unreachable'],
  ])('admin check: the API answering %s %j means %s', async (status, body, expected) => {
    const result = await checkAdminAccess({ baseUrl: 'http://api', adminKey: 'k', fetch: fakeFetch(status, body).fn });
    if (expected instanceof RegExp) expect(result).toMatch(expected);
    else expect(result).toBe(expected);
  });
});
