import type { OpenAPIHono } from '@hono/zod-openapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore } from '../../../test/support/store.ts';
import type { AlertJson } from '../../alerts/alert-json.ts';
import { evaluateQuotaAlerts } from '../../alerts/quota-rules.ts';
import { createAlertStore } from '../../alerts/store/alert-store.ts';
import { KeyService } from '../../auth/key-service.ts';
import type { Store } from '../../store/client.ts';
import { createMetrics } from '../../telemetry/metrics.ts';
import { createHttpApp } from '../app.ts';
import type { AppEnv } from '../env.ts';
import { registerAlertRoutes } from './alerts.ts';
import { registerMetricsRoutes } from './metrics.ts';

/** GET /v1/alerts and GET /metrics on the real app, over chdb. */

const ADMIN = 'il_admin_alerts-route-test-key-0123456789';
const NOW = Date.now();
const TENANTS = ['ra', 'rb'];

let store: Store;
let app: OpenAPIHono<AppEnv>;
const keys = { ra: '', rb: '', ingest: '' };

beforeAll(async () => {
  ({ store } = await openTestStore());
  const keyService = new KeyService(store, ADMIN);
  await keyService.load();
  keys.ra = (await keyService.create('ra', 'tenant')).key;
  keys.rb = (await keyService.create('rb', 'tenant')).key;
  keys.ingest = (await keyService.create('ra', 'ingest')).key;
  const deps = { store, keys: keyService, tenantExists: (t: string) => TENANTS.includes(t), readiness: [], maxBodyBytes: 1 << 20, now: () => NOW };
  app = createHttpApp(deps);
  registerAlertRoutes(app, deps);
  const alerts = createAlertStore(store);
  const statuses = TENANTS.map((tenantId, i) => ({ tenantId, kind: 'tokens_per_day' as const, limit: 10, used: 9 + i, ratio: 0.9 + i / 10, windowStart: NOW - 3_600_000 }));
  const fired = evaluateQuotaAlerts([], statuses, { thresholds: [0.8, 1], hysteresis: 0.05, now: NOW - 60_000 });
  await alerts.save(fired.alerts, fired.transitions);
  registerMetricsRoutes(app, { keys: keyService, registry: createMetrics({ firingAlerts: () => fired.alerts, processMetrics: false }).registry });
});
afterAll(() => store.close());

async function get(path: string, key?: string) {
  const res = await app.request(path, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  const text = await res.text();
  const json = (res.headers.get('content-type') ?? '').includes('json') ? (JSON.parse(text) as { alerts: AlertJson[]; error?: { code: string } }) : undefined;
  return { status: res.status, json, text, type: res.headers.get('content-type') };
}
const summary = (alerts: AlertJson[] | undefined) => (alerts ?? []).map((a) => `${a.tenant}:${a.labels.threshold}:${a.state}`).sort();

describe('GET /v1/alerts', () => {
  it('admin sees every tenant, in the documented shape', async () => {
    const res = await get('/v1/alerts', ADMIN);
    expect(res.status).toBe(200);
    expect(summary(res.json?.alerts)).toEqual(['ra:0.8:firing', 'rb:0.8:firing', 'rb:1:firing']);
    expect(Object.keys(res.json!.alerts[0]!).sort()).toEqual(
      ['annotations', 'ends_at', 'key', 'kind', 'labels', 'name', 'severity', 'starts_at', 'state', 'tenant', 'updated_at', 'value'].sort(),
    );
    expect(res.json!.alerts.find((a) => a.labels.threshold === '1')).toMatchObject({
      kind: 'quota',
      name: 'InferledgerQuotaThreshold',
      severity: 'critical',
      ends_at: null,
      starts_at: new Date(NOW - 60_000).toISOString(),
    });
  });

  it('a tenant key sees only its own tenant; naming another is a 404', async () => {
    expect(summary((await get('/v1/alerts', keys.ra)).json?.alerts)).toEqual(['ra:0.8:firing']);
    expect(summary((await get('/v1/alerts?tenant=ra', keys.ra)).json?.alerts)).toEqual(['ra:0.8:firing']);
    const other = await get('/v1/alerts?tenant=rb', keys.ra);
    expect([other.status, other.json?.error?.code]).toEqual([404, 'tenant_not_found']);
    expect(other.text).not.toContain('InferledgerQuotaThreshold');
  });

  it.each([
    ['no key', undefined, '/v1/alerts', 401],
    ['an ingest key', 'ingest', '/v1/alerts', 403],
    ['an unknown tenant (admin)', 'admin', '/v1/alerts?tenant=nobody', 404],
    ['an unknown state', 'admin', '/v1/alerts?state=open', 400],
    ['from after to', 'admin', `/v1/alerts?from=${NOW}&to=${NOW - 1}`, 400],
    ['a limit above the maximum', 'admin', '/v1/alerts?limit=5000', 400],
  ])('%s (key: %s) GET %s → %i', async (_name, who, path, status) => {
    const key = who === 'admin' ? ADMIN : who === 'ingest' ? keys.ingest : undefined;
    const res = await get(path, key);
    expect(res.status).toBe(status);
    expect(res.json?.error?.code).toEqual(expect.any(String));
  });

  it('filters by state and time range', async () => {
    expect((await get('/v1/alerts?state=resolved', ADMIN)).json?.alerts).toEqual([]);
    expect(summary((await get('/v1/alerts?state=firing&tenant=rb', ADMIN)).json?.alerts)).toEqual(['rb:0.8:firing', 'rb:1:firing']);
    const past = await get(`/v1/alerts?from=${NOW - 86_400_000}&to=${NOW - 3_600_000}`, ADMIN);
    expect(past.json?.alerts).toEqual([]);
    expect((await get('/v1/alerts?limit=1', ADMIN)).json?.alerts).toHaveLength(1);
  });
});

describe('GET /metrics', () => {
  it('serves Prometheus text to admin keys', async () => {
    const res = await get('/metrics', ADMIN);
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.text).toContain('inferledger_alerts_firing{tenant="rb",alertname="InferledgerQuotaThreshold",severity="critical"} 1');
  });

  it.each([
    [undefined, 401],
    ['tenant', 403],
    ['ingest', 403],
  ])('key %s → %i', async (who, status) => {
    const res = await get('/metrics', who === 'tenant' ? keys.ra : who === 'ingest' ? keys.ingest : undefined);
    expect(res.status).toBe(status);
  });
});
