import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApp } from '../../src/api/app.ts';
import { KeyService } from '../../src/auth/key-service.ts';
import { createQuotaAuthority, type LocalQuotaAuthority } from '../../src/quotas/authority.ts';
import type { QuotaLimits } from '../../src/quotas/config.ts';
import { checkAuthorityKey, createHttpQuotaAuthority } from '../../src/quotas/http-authority.ts';
import { QuotaGate } from '../../src/sidecar/quota-client.ts';
import type { Store } from '../../src/store/client.ts';
import { openTestStore } from '../support/store.ts';

/**
 * The HTTP transport between standalone sidecars and the authority: a real API server holding
 * an in-memory authority (the `/v1/quota/*` routes of the one app), QuotaGates leasing from it
 * over HTTP, and what a gate does when the authority cannot be reached (fail_mode open/closed).
 * chdb allows one data directory per process, so the API side here is the app alone, not a
 * second platform.
 */

const ADMIN = 'il_admin_quota-http-test-admin-key-0123456789';
const LIMITS: Record<string, QuotaLimits> = {
  fleet: { requests_per_minute: 100 },
  small: { requests_per_minute: 3, concurrent_requests: 1 },
  broke: { spend_per_month: '1.00' },
};
const NOW = Date.parse('2026-10-15T12:00:10Z');

let store: Store;
let keys: KeyService;
let authority: LocalQuotaAuthority;
let server: ServerType;
let baseUrl: string;
const clock = { now: NOW };

beforeAll(async () => {
  ({ store } = await openTestStore());
  keys = new KeyService(store, ADMIN);
  await keys.load();
  authority = createQuotaAuthority({
    limitsOf: (t) => LIMITS[t] ?? {},
    now: () => clock.now,
    leaseTtlS: 5,
    readMonthlyUsage: async () => new Map([['broke', { cpuUs: 0n, gpuUs: 0n, spend: 1_000_000n }]]),
  });
  await authority.refresh();
  const app = createHttpApp({
    store,
    keys,
    tenantExists: (t) => t in LIMITS,
    readiness: [],
    maxBodyBytes: 1 << 20,
    now: () => clock.now,
    quotas: authority,
  });
  const port = await new Promise<number>((resolve) => {
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => resolve(info.port));
  });
  baseUrl = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await store?.close();
});

function gate(opts: { url?: string; key?: string; failMode?: 'open' | 'closed'; holder?: string; timeoutMs?: number } = {}) {
  const errors: string[] = [];
  const transport = createHttpQuotaAuthority({ baseUrl: opts.url ?? baseUrl, key: opts.key ?? ADMIN, timeoutMs: opts.timeoutMs ?? 2000 });
  const g = new QuotaGate({
    authority: transport,
    holder: opts.holder ?? 'sidecar-http',
    maxChunk: 20,
    leaseTtlS: 5,
    failMode: opts.failMode ?? 'closed',
    now: () => clock.now,
    onError: (err) => errors.push((err as Error).message),
  });
  return { gate: g, transport, errors };
}

describe('QuotaGate over HTTP', () => {
  it('4 replicas leasing over HTTP admit at most L (and here exactly L) of 1000 concurrent requests', async () => {
    const gates = Array.from({ length: 4 }, (_, i) => gate({ holder: `replica-${i}` }).gate);
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => gates[i % 4]!.admit('fleet', 0)));
    const admitted = results.filter((d) => d.ok).length;
    console.info(`[quota accuracy over HTTP] 4 replicas, L = 100, max_chunk 20: admitted ${admitted} of 1000`);
    expect(admitted).toBeLessThanOrEqual(100);
    expect(admitted).toBeGreaterThanOrEqual(100 - 4 * 20);
    expect(admitted).toBe(100);
    expect((await authority.status('fleet'))[0]).toMatchObject({ used: 100, limit: 100 });
    expect(results.find((d) => !d.ok)).toMatchObject({ reason: 'quota_exceeded', kind: 'requests_per_minute', limit: 100, retryAfterSeconds: 50 });
  });

  it('concurrency slots are taken and freed through the authority', async () => {
    const { gate: g } = gate();
    const first = await g.admit('small', 0);
    expect(first.ok).toBe(true);
    expect(await g.admit('small', 0)).toMatchObject({ ok: false, kind: 'concurrent_requests', limit: 1 });
    if (first.ok) first.release();
    await expect.poll(async () => (await authority.status('small')).find((s) => s.kind === 'concurrent_requests')?.used).toBe(0);
    expect((await g.admit('small', 0)).ok).toBe(true);
  });

  it('monthly blocks and status travel intact', async () => {
    const { gate: g, transport } = gate();
    expect(await g.admit('broke', 0)).toMatchObject({ ok: false, kind: 'spend_per_month', limit: '1.000000', resetAt: Date.parse('2026-11-01T00:00:00Z') });
    const [status] = await transport.status('broke');
    expect(status).toEqual({
      tenantId: 'broke',
      kind: 'spend_per_month',
      limit: '1.000000',
      used: '1.000000',
      ratio: 1,
      windowStart: Date.parse('2026-10-01T00:00:00Z'),
      resetAt: Date.parse('2026-11-01T00:00:00Z'),
      asOf: NOW,
      stale: false,
    });
  });

  it('an ingest key leases for its own tenant only; another tenant is refused, whatever the fail mode (an answer, not an outage)', async () => {
    const ingest = await keys.create('small', 'ingest');
    const own = gate({ key: ingest.key, failMode: 'closed' });
    clock.now += 60_000; // a fresh minute for `small`
    expect((await own.transport.lease({ tenantId: 'small', kind: 'requests_per_minute', amount: 1, holder: 'x' })).granted).toBe(1);
    for (const failMode of ['closed', 'open'] as const) {
      const other = gate({ key: ingest.key, failMode });
      expect(await other.gate.admit('fleet', 0)).toEqual({ ok: false, reason: 'quota_authority_refused', retryAfterSeconds: 1 });
    }
  });

  it('a revoked key is refused at once, not admitted by fail_mode open (found by dogfooding: 100 admitted for 40)', async () => {
    const ingest = await keys.create('small', 'ingest');
    const g = gate({ key: ingest.key, failMode: 'open' });
    clock.now += 60_000;
    const admitted = await g.gate.admit('small', 0);
    expect(admitted.ok).toBe(true);
    if (admitted.ok) admitted.release(); // `small` has one concurrency slot
    await keys.revoke('small', ingest.id);
    clock.now += 60_000; // the next minute needs a new lease
    expect(await g.gate.admit('small', 0)).toEqual({ ok: false, reason: 'quota_authority_refused', retryAfterSeconds: 1 });
    expect(g.errors.join('\n')).toContain('401');
  });
});

// Found by dogfooding: a wrong authority_key looked like an unreachable authority, and under
// fail_mode open a sidecar then admitted without any global limit, saying little.
describe('checkAuthorityKey (asked once at a sidecar\'s start)', () => {
  it('passes the admin key and an ingest key; names a refused key and a URL that is no inferledger API', async () => {
    expect(await checkAuthorityKey(baseUrl, ADMIN)).toBeUndefined();
    expect(await checkAuthorityKey(`${baseUrl}/`, (await keys.create('fleet', 'ingest')).key)).toBeUndefined();
    expect(await checkAuthorityKey(baseUrl, 'il_admin_not-a-real-key-0123456789abcdef')).toMatch(/refused this process's key \(401 invalid_key\): set quotas\.authority_key/);
    expect(await checkAuthorityKey(baseUrl, (await keys.create('fleet', 'tenant')).key)).toMatch(/refused this process's key \(403 wrong_role\)/);
    expect(await checkAuthorityKey(`${baseUrl}/v1/quota`, ADMIN)).toMatch(/does not answer as an inferledger API \(404 not_found/);
  });
});

describe('when the authority is unreachable', () => {
  let closedUrl: string;
  let hanging: Server;
  let hangingUrl: string;

  beforeAll(async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    closedUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
    await new Promise<void>((r) => probe.close(() => r()));
    hanging = createServer(() => {}); // accepts and never answers
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    hangingUrl = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    hanging.closeAllConnections();
    await new Promise<void>((r) => hanging.close(() => r()));
  });

  it.each([
    ['refused connection', 'open', true],
    ['refused connection', 'closed', false],
    ['no answer (timeout)', 'open', true],
    ['no answer (timeout)', 'closed', false],
  ] as const)('%s, fail_mode %s: admitted %s', async (what, failMode, admitted) => {
    const url = what === 'refused connection' ? closedUrl : hangingUrl;
    const { gate: g, errors } = gate({ url, failMode, timeoutMs: 200 });
    const d = await g.admit('fleet', 0);
    expect(d.ok).toBe(admitted);
    if (!d.ok) expect(d).toEqual({ ok: false, reason: 'quota_authority_unavailable', retryAfterSeconds: 1 });
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toContain('unreachable');
  });
});
