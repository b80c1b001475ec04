import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { startPlatform, type Platform } from '../../src/main.ts';
import { startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { call, expectErrorShape, infer, usage, waitFor } from '../support/platform.ts';

/**
 * The split deployment as production runs it: an `inferledger api` process with its own data
 * directory (spawned), and a standalone sidecar on its own embedded engine (this process) that
 * leases from the API, exports its spans to it by OTLP and sends it its resource samples. Tenant
 * keys are made on the API only: the sidecar looks them up there (POST /v1/keys/resolve).
 */

const ROOT = resolve(import.meta.dirname, '../..');
const API_ADMIN_KEY = 'il_admin_split-deployment-api-key-0123456789';
const TENANT = 'split-tenant';

let api: RunningDaemon;

async function createKey(baseUrl: string, tenant: string, role: 'tenant' | 'ingest' = 'tenant'): Promise<string> {
  const res = await call<{ key: string }>(baseUrl, 'POST', `/v1/tenants/${tenant}/keys`, { key: API_ADMIN_KEY, body: { role } });
  expect(res.status, res.text).toBe(201);
  return res.body.key;
}
let sidecar: Platform;
let sidecarUrl: string;
const logs: string[] = [];

beforeAll(async () => {
  const apiDir = mkdtempSync(join(tmpdir(), 'il-split-api-'));
  const apiConfig = join(apiDir, 'inferledger.yaml');
  writeFileSync(apiConfig, toYaml({ server: { host: '127.0.0.1' }, tenants: { [TENANT]: {} } }));
  api = await startDaemon('inferledger api', process.execPath, 'node is there', () => [join(ROOT, 'bin/inferledger.js'), 'api'], {
    envFor: (port) => ({ INFERLEDGER_PORT: String(port), INFERLEDGER_DATA_DIR: apiDir, INFERLEDGER_ADMIN_KEY: API_ADMIN_KEY, INFERLEDGER_CONFIG: apiConfig }),
    readyPath: '/readyz',
  });

  const sidecarDir = mkdtempSync(join(tmpdir(), 'il-split-sidecar-'));
  const sidecarConfig = join(sidecarDir, 'inferledger.yaml');
  writeFileSync(
    sidecarConfig,
    toYaml({ server: { host: '127.0.0.1' }, tenants: { [TENANT]: {} }, quotas: { authority_url: api.url, authority_key: API_ADMIN_KEY } }),
  );
  const config = loadConfig({ INFERLEDGER_DATA_DIR: sidecarDir, INFERLEDGER_CONFIG: sidecarConfig, INFERLEDGER_ADMIN_KEY: 'il_admin_split-sidecar-own-key-0123456789' }, sidecarDir);
  // The OTLP exporter reads the standard variables from the process environment, as in production.
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = api.url;
  process.env.OTEL_EXPORTER_OTLP_HEADERS = `Authorization=Bearer ${API_ADMIN_KEY}`;
  sidecar = await startPlatform(config, { kind: 'sidecar', port: 0, log: (line) => logs.push(line), env: process.env });
  sidecarUrl = `http://127.0.0.1:${sidecar.port}`;
}, 120_000);

afterAll(async () => {
  await sidecar?.close();
  api?.stop();
  delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  delete process.env.OTEL_EXPORTER_OTLP_HEADERS;
});

describe('an api and a standalone sidecar, each on its own embedded engine', () => {
  it('says at start where the sidecar finds keys and sends samples', () => {
    expect(logs).toContainEqual(expect.stringContaining(`API keys this sidecar's embedded ClickHouse does not hold are looked up at ${api.url}`));
    expect(logs).toContainEqual(expect.stringContaining(`resource samples (the capacity that cost attribution prices) are sent to the API at ${api.url}/v1/resource-samples`));
  });

  it('a tenant key made on the API serves inference on the sidecar, and the API bills it', async () => {
    const key = await createKey(api.url, TENANT);
    const res = await infer(sidecarUrl, key, 'classifier-small');
    expect(res.status, res.text).toBe(200);
    await sidecar.flushTelemetry();
    // The span went to the API by OTLP; its rollup (every 30 s) makes it usage there.
    const totals = await waitFor(async () => {
      const u = await usage(api.url, API_ADMIN_KEY, TENANT);
      return u.totals.requests >= 1 ? u.totals : undefined;
    }, 'the request in the API usage', 90_000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\nsidecar log:\n${logs.join('\n')}\napi output:\n${api.output.join('')}`);
    });
    expect(totals.requests).toBe(1);
  }, 120_000);

  it('a key the API does not know is 401 on the sidecar; an ingest key may not infer', async () => {
    const unknown = await infer(sidecarUrl, 'il_tenant_made-nowhere-0123456789abcdef0123', 'classifier-small');
    expect(unknown.status).toBe(401);
    expect(expectErrorShape(unknown).code).toBe('invalid_key');
    const ingest = await createKey(api.url, TENANT, 'ingest');
    const res = await call(sidecarUrl, 'GET', '/v2/models', { key: ingest });
    expect(res.status).toBe(403);
  });
});
