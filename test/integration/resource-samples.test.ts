import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApp } from '../../src/api/app.ts';
import { KeyService } from '../../src/auth/key-service.ts';
import { loadConfig } from '../../src/config/load.ts';
import { createOtlpReceiver } from '../../src/ingest/otlp/receiver.ts';
import type { RowSink } from '../../src/ingest/row-sink.ts';
import { startPlatform, type Platform } from '../../src/main.ts';
import type { Store } from '../../src/store/client.ts';
import { createQuotaAuthority } from '../../src/quotas/authority.ts';
import { ADMIN_KEY, waitFor } from '../support/platform.ts';

/**
 * A standalone `inferledger sidecar` exporting its spans by OTLP, on its own embedded engine,
 * with `quotas.authority_url` naming the API: its resource samples (the capacity cost
 * attribution prices) go to that API's POST /v1/resource-samples, not to its own engine, which
 * no API reads. The API side is the real route over an in-memory authority and a recording sink
 * (one chdb per process: the sidecar's). The store writes behind the route are in isolation.test.ts.
 */

const INSTANCE = 'samples-sidecar-1';

let apiServer: ServerType;
let apiDown = false;
let platform: Platform;
let apiUrl: string;
const received: Array<{ table: string; rows: Array<Record<string, unknown>> }> = [];
const logs: string[] = [];

beforeAll(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'il-samples-sidecar-'));
  const configPath = join(dataDir, 'inferledger.yaml');
  // The API first, so the sidecar's start-up checks find it.
  let handler: (req: Request) => Response | Promise<Response> = () => new Response('starting', { status: 503 });
  const port = await new Promise<number>((resolve) => {
    apiServer = serve({ fetch: (req) => handler(req), hostname: '127.0.0.1', port: 0 }, (info) => resolve(info.port));
  });
  apiUrl = `http://127.0.0.1:${port}`;
  writeFileSync(configPath, toYaml({ server: { host: '127.0.0.1' }, sidecar: { sample_interval_s: 0.2, instance_id: INSTANCE }, quotas: { authority_url: apiUrl, authority_key: ADMIN_KEY } }));
  const env = { INFERLEDGER_DATA_DIR: dataDir, INFERLEDGER_CONFIG: configPath, INFERLEDGER_ADMIN_KEY: 'il_admin_samples-sidecar-own-key-0123456789' };
  const config = loadConfig(env, dataDir);

  const recording: RowSink = {
    async write(table, rows) {
      if (rows.length) received.push({ table, rows: rows as Array<Record<string, unknown>> });
    },
  };
  const otlpSink: RowSink = { write: async () => {} };
  // The API knows only its admin key (no tenant keys are involved), so its KeyService reads an
  // empty key table; the one chdb this process may open is the sidecar's.
  const keys = new KeyService({ query: async () => [] } as unknown as Store, ADMIN_KEY);
  await keys.load();
  const app = createHttpApp({
    store: {} as Store,
    keys,
    tenantExists: () => true,
    readiness: [],
    maxBodyBytes: 1 << 20,
    now: Date.now,
    quotas: createQuotaAuthority({ limitsOf: () => ({}), now: Date.now, leaseTtlS: 5, readMonthlyUsage: async () => new Map() }),
    otlp: createOtlpReceiver({ sink: otlpSink }),
    resourceSamples: { sink: recording, window: () => ({ notBeforeMs: Date.now() - 86_400_000, notAfterMs: Date.now() + 86_400_000 }) },
  });
  // The API's key lookup, as `api` serves it (its key routes need billing services this app
  // lacks): it knows no tenant key, and its answer tells the sidecar's start-up check that
  // quotas.authority_key is its admin key.
  const keyLookup = (req: Request) =>
    req.headers.get('authorization') === `Bearer ${ADMIN_KEY}`
      ? Response.json({ error: { code: 'key_not_found', message: 'no live key has this hash' } }, { status: 404 })
      : Response.json({ error: { code: 'invalid_key', message: 'invalid API key' } }, { status: 401 });
  handler = (req) =>
    apiDown ? new Response('down for the test', { status: 503 }) : new URL(req.url).pathname === '/v1/keys/resolve' ? keyLookup(req) : app.fetch(req);
  platform = await startPlatform(config, {
    kind: 'sidecar',
    port: 0,
    log: (line) => logs.push(line),
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: apiUrl, OTEL_EXPORTER_OTLP_HEADERS: `Authorization=Bearer ${ADMIN_KEY}` },
  });
});

afterAll(async () => {
  await platform?.close();
  await new Promise<void>((resolve) => apiServer?.close(() => resolve()));
});

describe('a standalone OTLP-exporting sidecar sends its resource samples to the API', () => {
  it('says so at start', () => {
    expect(logs).toContainEqual(expect.stringContaining(`resource samples (the capacity that cost attribution prices) are sent to the API at ${apiUrl}/v1/resource-samples`));
  });

  it('its windows arrive at POST /v1/resource-samples, as the sampler built them', async () => {
    const rows = await waitFor(async () => {
      const found = received.filter((r) => r.table === 'resource_samples').flatMap((r) => r.rows);
      return found.length >= 2 ? found : undefined;
    }, 'two resource sample windows at the API');
    expect(rows[0]).toMatchObject({ instance_id: INSTANCE, service_name: 'inferledger-sidecar' });
    expect(Number(rows[0]!.cpu_capacity_millicores)).toBeGreaterThan(0);
    // Consecutive windows tile time: each starts where the one before ended.
    expect(rows[1]!.window_start).toBe(rows[0]!.ts);
  });

  it('writes none of them to its own embedded engine', async () => {
    const local = await platform.store.query<{ n: string }>({ query: 'SELECT count() AS n FROM resource_samples' });
    expect(Number(local[0]!.n)).toBe(0);
  });

  it('windows sampled while the API is down wait in the spool and arrive once it is back', async () => {
    apiDown = true;
    const downFrom = Date.now();
    await waitFor(async () => (logs.some((l) => /resource samples: .* answered 503.*spooled, will retry/.test(l)) ? true : undefined), 'a spooled window');
    const downTo = Date.now();
    apiDown = false;
    // The spool-drain job (every 10 s) sends them; none is lost, none is refused.
    const late = await waitFor(async () => {
      const rows = received.filter((r) => r.table === 'resource_samples').flatMap((r) => r.rows);
      const during = rows.filter((r) => {
        const end = Date.parse(`${String(r.ts).replace(' ', 'T')}Z`);
        return end > downFrom && end < downTo;
      });
      return during.length > 0 ? during : undefined;
    }, 'a window sampled during the outage at the API', 40_000);
    expect(late[0]).toMatchObject({ instance_id: INSTANCE });
  }, 60_000);
});
