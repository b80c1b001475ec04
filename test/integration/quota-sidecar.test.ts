import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { stringify as toYaml } from 'yaml';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApp } from '../../src/api/app.ts';
import { KeyService } from '../../src/auth/key-service.ts';
import { loadConfig } from '../../src/config/load.ts';
import { startPlatform, type Platform } from '../../src/main.ts';
import { createQuotaAuthority } from '../../src/quotas/authority.ts';
import { call, expectErrorShape, infer } from '../support/platform.ts';

/**
 * A standalone `inferledger sidecar` configured with quotas.authority_url, as the composition
 * root wires it: it leases over HTTP from the authority (here an API app holding an in-memory
 * authority on this process's one chdb store), and with fail_mode closed answers 503
 * quota_authority_unavailable, recorded as a rejected request, once the authority is gone.
 */

const AUTHORITY_KEY = 'il_admin_quota-sidecar-authority-key-0123456789';
const TENANT = 'sidecar-tenant';

let authorityServer: ServerType;
let handler: (req: Request) => Response | Promise<Response> = () => new Response('not yet', { status: 503 });
let platform: Platform;
let baseUrl: string;
let tenantKey: string;

beforeAll(async () => {
  const port = await new Promise<number>((resolve) => {
    authorityServer = serve({ fetch: (req) => handler(req), hostname: '127.0.0.1', port: 0 }, (info) => resolve(info.port));
  });
  const dataDir = mkdtempSync(join(tmpdir(), 'il-quota-sidecar-'));
  const configPath = join(dataDir, 'inferledger.yaml');
  writeFileSync(
    configPath,
    toYaml({
      server: { host: '127.0.0.1' },
      quotas: { authority_url: `http://127.0.0.1:${port}`, authority_key: AUTHORITY_KEY, fail_mode: 'closed', lease_ttl_s: 5 },
      tenants: { [TENANT]: { quotas: { requests_per_minute: 5 } } },
    }),
  );
  const config = loadConfig({ INFERLEDGER_DATA_DIR: dataDir, INFERLEDGER_CONFIG: configPath, INFERLEDGER_ADMIN_KEY: 'il_admin_sidecar-own-admin-key-0123456789' }, dataDir);
  platform = await startPlatform(config, { kind: 'sidecar', port: 0, log: () => {}, env: {} });
  baseUrl = `http://127.0.0.1:${platform.port}`;
  tenantKey = (await platform.keys.create(TENANT, 'tenant')).key;

  // The API side: the same routes as `inferledger api`, over an in-memory authority.
  const authority = createQuotaAuthority({
    limitsOf: (t) => config.tenants[t]?.quotas ?? config.quotas.defaults,
    now: Date.now,
    leaseTtlS: 5,
    readMonthlyUsage: async () => new Map(),
  });
  const keys = new KeyService(platform.store, AUTHORITY_KEY);
  await keys.load();
  const app = createHttpApp({ store: platform.store, keys, tenantExists: () => true, readiness: [], maxBodyBytes: 1 << 20, now: Date.now, quotas: authority });
  handler = (req) => app.fetch(req);
});

afterAll(async () => {
  await platform?.close();
  await new Promise<void>((resolve) => authorityServer?.close(() => resolve()));
});

describe('standalone sidecar leasing from the API over HTTP', () => {
  it('has no quota routes of its own (the API is the authority)', async () => {
    expect((await call(baseUrl, 'GET', `/v1/tenants/${TENANT}/quotas`, { key: tenantKey })).status).toBe(404);
    expect(platform.quotas).toBeUndefined();
  });

  it('enforces the global limit leased from the authority: the 6th request in a minute is 429', async () => {
    const intoMinute = Date.now() % 60_000;
    if (intoMinute > 50_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 50));
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await infer(baseUrl, tenantKey, 'classifier-small')).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
  });

  it('fails closed with 503 quota_authority_unavailable once the authority is gone, and records the refusal', async () => {
    handler = () => {
      throw new Error('authority down');
    };
    // The minute's budget is known to be spent (429 without asking) for about a second; then the
    // sidecar must ask the authority again, and cannot.
    const res = await (async () => {
      for (let i = 0; i < 50; i++) {
        const r = await infer(baseUrl, tenantKey, 'classifier-small');
        if (r.status === 503) return r;
        expect(r.status).toBe(429);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error('never got a 503');
    })();
    expect(expectErrorShape(res).code).toBe('quota_authority_unavailable');

    await platform.flushTelemetry();
    const rows = await platform.store.query({
      query: `SELECT status, http_status, count() AS n FROM requests FINAL WHERE tenant_id = {t:String} GROUP BY status, http_status ORDER BY status, http_status`,
      params: { t: TENANT },
      schema: z.object({ status: z.string(), http_status: z.coerce.number(), n: z.coerce.number() }),
    });
    expect(rows.find((r) => r.status === 'rejected' && r.http_status === 503)?.n).toBeGreaterThanOrEqual(1);
    expect(rows.find((r) => r.status === 'rejected' && r.http_status === 429)?.n).toBeGreaterThanOrEqual(1);
    expect(rows.find((r) => r.status === 'ok')?.n).toBe(5);
  });
});
