import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';
import { startPlatform, type Platform } from '../../src/main.ts';
import { createHttpQuotaAuthority } from '../../src/quotas/http-authority.ts';
import { QuotaGate } from '../../src/sidecar/quota-client.ts';
import { ADMIN_KEY, call, createKey, startHarness, type Harness } from '../support/platform.ts';

/**
 * N API replicas behind a load balancer (SPEC §8) with one quota authority (§6): a real `up`
 * platform is the authority; a real `api` platform with quotas.authority_url is a replica that
 * forwards its quota routes there. Sidecars leasing through either count against the same
 * budget. (chdb allows one data directory per process, so both share this file's one.)
 */

const LIMIT = 100;
const TENANTS = { fleet: { quotas: { requests_per_minute: LIMIT } }, other: {} };

let authority: Harness;
let replica: Platform;
let replicaUrl: string;

beforeAll(async () => {
  authority = await startHarness({ config: { tenants: TENANTS } });
  const configPath = join(authority.dataDir, 'replica.yaml');
  writeFileSync(configPath, toYaml({ server: { host: '127.0.0.1' }, tenants: TENANTS, quotas: { authority_url: authority.baseUrl } }));
  const config = loadConfig({ INFERLEDGER_DATA_DIR: authority.dataDir, INFERLEDGER_ADMIN_KEY: ADMIN_KEY, INFERLEDGER_CONFIG: configPath }, authority.dataDir);
  replica = await startPlatform(config, { kind: 'api', port: 0, log: () => {} });
  replicaUrl = `http://127.0.0.1:${replica.port}`;
});

afterAll(async () => {
  await replica?.close();
  await authority?.close();
});

/** A minute's budget must not straddle two minutes: start the burst early in a minute. */
async function awayFromMinuteEnd(): Promise<void> {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 45_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 100));
}

describe('API replicas and one quota authority', () => {
  it('the replica holds no counters of its own', () => {
    expect(authority.platform.quotas).toBeDefined();
    expect(replica.quotas).toBeUndefined();
  });

  it('4 sidecars, 2 leasing through the replica and 2 through the authority, admit L of 400 in all', async () => {
    await awayFromMinuteEnd();
    const gates = [replicaUrl, replicaUrl, authority.baseUrl, authority.baseUrl].map(
      (baseUrl, i) => new QuotaGate({ authority: createHttpQuotaAuthority({ baseUrl, key: ADMIN_KEY }), holder: `sidecar-${i}`, maxChunk: 20, leaseTtlS: 5, failMode: 'closed' }),
    );
    const results = await Promise.all(Array.from({ length: 400 }, (_, i) => gates[i % 4]!.admit('fleet', 0)));
    expect(results.filter((d) => d.ok)).toHaveLength(LIMIT);
    expect(results.find((d) => !d.ok)).toMatchObject({ reason: 'quota_exceeded', kind: 'requests_per_minute', limit: LIMIT });

    // Both answer GET /quotas from the one set of counters.
    const viaReplica = await call<{ quotas: Array<{ quota: string; used: number; limit: number }> }>(replicaUrl, 'GET', '/v1/tenants/fleet/quotas', { key: ADMIN_KEY });
    const viaAuthority = await call<{ quotas: unknown[] }>(authority.baseUrl, 'GET', '/v1/tenants/fleet/quotas', { key: ADMIN_KEY });
    expect(viaReplica.status).toBe(200);
    expect(viaReplica.body.quotas.find((q) => q.quota === 'requests_per_minute')).toMatchObject({ used: LIMIT, limit: LIMIT });
    expect(viaReplica.body).toEqual(viaAuthority.body);
  });

  it("keeps tenants apart: through the replica, a tenant's key reads its own quotas and gets 404 for another's", async () => {
    // The key is made on the authority; the replica finds it in ClickHouse within seconds.
    const otherKey = await createKey(authority.baseUrl, 'other');
    await expect.poll(async () => (await call(replicaUrl, 'GET', '/v1/tenants/other/quotas', { key: otherKey })).status, { timeout: 10_000, interval: 500 }).toBe(200);
    const own = await call(replicaUrl, 'GET', '/v1/tenants/other/quotas', { key: otherKey });
    expect(own.body).toEqual({ tenant: 'other', quotas: [] });
    const foreign = await call<{ error: { code: string } }>(replicaUrl, 'GET', '/v1/tenants/fleet/quotas', { key: otherKey });
    expect(foreign.status).toBe(404);
    // An ingest key of `other` may lease for `other` through the replica, never for `fleet`.
    const ingestKey = await createKey(authority.baseUrl, 'other', 'ingest');
    const lease = (tenant: string) =>
      call(replicaUrl, 'POST', '/v1/quota/leases', { key: ingestKey, body: { tenant, kind: 'requests_per_minute', amount: 1, holder: 'x' } });
    await expect.poll(async () => (await lease('other')).status, { timeout: 10_000, interval: 500 }).toBe(200);
    expect((await lease('fleet')).status).toBe(404);
  });
});

describe('priced days shared by the replicas through ClickHouse (attribution_days)', () => {
  const DAY = Date.UTC(2026, 0, 5); // a past UTC day no other test writes
  const H = 3_600_000;
  const at = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
  const keptRows = async () =>
    (await authority.platform.store.query<{ n: string }>({ query: `SELECT toString(count()) AS n FROM attribution_days WHERE kind = 'attribution' AND day = '2026-01-05'` }))[0]!.n;

  it('a day one replica priced is read back by the other, not priced again, with the same report', async () => {
    const store = authority.platform.store;
    await store.insert('capacity_hourly', [0, 1, 2].map((h) => ({
      instance_id: 'i-1', hour: at(DAY + h * H), window_ms: H, cpu_millicore_ms: String(4000 * H), memory_byte_ms: String(8 * 2 ** 30 * H),
      memory_used_byte_ms: String(2 ** 30 * H), gpu_model: '', gpu_ms: '0', cpu_used_us: 0, inference_cpu_us: 0, computed_at: '2026-01-06 00:00:00.000',
    })));
    await store.insert('usage_hourly', [0, 1, 2].flatMap((h) => ['fleet', 'other'].map((tenant, i) => ({
      tenant_id: tenant, hour: at(DAY + h * H), model: 'classifier-small', model_variant: 'classifier-small', instance_id: 'i-1', requests: 100 + i, errors: 0, rejected: 0,
      cpu_us: 1_000_000 * (i + 1), gpu_us: 0, input_tokens: 0, output_tokens: 0, input_elements: 0, output_elements: 0, duration_ns_sum: 0, computed_at: '2026-01-06 00:00:00.000',
    }))));
    const path = `/v1/attribution?from=${DAY}&to=${DAY + 24 * H}`;
    expect(await keptRows()).toBe('0');
    const first = await call<{ tenants: unknown[] }>(replicaUrl, 'GET', path, { key: ADMIN_KEY });
    expect(first.status).toBe(200);
    expect(first.body.tenants).toHaveLength(2);
    expect(await keptRows()).toBe('1');
    // The authority has never priced the day: it reads the replica's and writes nothing.
    const second = await call(authority.baseUrl, 'GET', path, { key: ADMIN_KEY });
    expect(second.body).toEqual(first.body);
    expect(await keptRows()).toBe('1');
  });
});
