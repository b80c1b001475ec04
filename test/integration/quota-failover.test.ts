import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';
import { startPlatform, type Platform } from '../../src/main.ts';
import { QuotaGate } from '../../src/sidecar/quota-client.ts';
import { quotaSourceOf } from '../../src/wiring/billing.ts';
import { ADMIN_KEY, call, createKey, infer, startHarness, type Harness } from '../support/platform.ts';

/**
 * A standby quota authority (SPEC §6, N API replicas): a real `up` platform is the primary; a real
 * `api` platform with quotas.standby is the standby; a sidecar's quota gate is wired from a config
 * with quotas.standby_authority_urls, as `inferledger sidecar` wires it. The primary admits and
 * records 30 requests, then stops; the standby takes over with the minute's 30 read back from the
 * recorded requests, so the tenant gets the remaining 70 of its 100, not a fresh 100.
 * (chdb allows one data directory per process, so both platforms share this file's one.)
 */

const LIMIT = 100;
const TENANTS = { fleet: { quotas: { requests_per_minute: LIMIT } } };

let primary: Harness | undefined;
let standby: Platform;
let restarted: Platform | undefined;
let standbyUrl: string;
let primaryUrl: string;
let dataDir: string;
const logs: string[] = [];

function configFile(name: string, body: Record<string, unknown>): string {
  const path = join(dataDir, name);
  writeFileSync(path, toYaml({ server: { host: '127.0.0.1' }, tenants: TENANTS, ...body }));
  return path;
}

const loadAt = (path: string) => loadConfig({ INFERLEDGER_DATA_DIR: dataDir, INFERLEDGER_ADMIN_KEY: ADMIN_KEY, INFERLEDGER_CONFIG: path }, dataDir);

beforeAll(async () => {
  primary = await startHarness({ config: { tenants: TENANTS } });
  primaryUrl = primary.baseUrl;
  dataDir = primary.dataDir;
  const config = loadAt(configFile('standby.yaml', { quotas: { authority_url: primaryUrl, standby: true } }));
  standby = await startPlatform(config, { kind: 'api', port: 0, log: (line) => logs.push(line) });
  standbyUrl = `http://127.0.0.1:${standby.port}`;
});

it('a standby on the embedded engine warns that it cannot read back what the primary admitted elsewhere', () => {
  // (Here both share this process's engine, as two processes cannot: the warning is about those.)
  const warning = logs.find((l) => l.startsWith('warning: quotas.standby on the embedded ClickHouse'));
  expect(warning).toContain('Set CLICKHOUSE_URL');
  // Found by dogfooding: keys and alerts are apart too, not only the counters.
  expect(warning).toMatch(/tenant keys made on the primary.*the primary fires them again/);
});

afterAll(async () => {
  await restarted?.close();
  await standby?.close();
  await primary?.close();
});

type AlertItem = { name: string; state: string; labels: Record<string, string> };
async function alertsOf(baseUrl: string): Promise<AlertItem[]> {
  const res = await call<{ alerts: AlertItem[] }>(baseUrl, 'GET', '/v1/alerts?tenant=fleet', { key: ADMIN_KEY });
  expect(res.status).toBe(200);
  return res.body.alerts.filter((a) => a.name === 'InferledgerQuotaThreshold');
}

/** The minute must not end between the primary's 30 and the standby's 70. */
async function awayFromMinuteEnd(): Promise<void> {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 30_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 100));
}

describe('a standby quota authority', () => {
  it('keeps no counters and forwards while the primary answers, and evaluates no alerts', async () => {
    expect(standby.quotas).toBeUndefined();
    const viaStandby = await call<{ quotas: Array<{ quota: string; limit: number }> }>(standbyUrl, 'GET', '/v1/tenants/fleet/quotas', { key: ADMIN_KEY });
    expect(viaStandby.status).toBe(200);
    expect(viaStandby.body.quotas.map((q) => q.quota)).toEqual(['requests_per_minute']);
    // Not in charge: no evaluation (which would also start counters too early, missing the
    // requests the primary admits from now on).
    await standby.evaluateAlerts();
    expect(await alertsOf(standbyUrl)).toEqual([]);
  });

  it('takes over when the primary stops, counting what the primary admitted this minute: 30 + 70 = L', async () => {
    await awayFromMinuteEnd();
    const key = await createKey(primaryUrl, 'fleet');
    for (let i = 0; i < 30; i++) expect((await infer(primaryUrl, key, 'classifier-small')).status).toBe(200);
    await primary!.platform.flushTelemetry(); // the 30 are recorded requests now
    await primary!.close();
    primary = undefined;

    const sidecarConfig = loadAt(configFile('sidecar.yaml', { quotas: { authority_url: primaryUrl, standby_authority_urls: [standbyUrl], fail_mode: 'closed' } }));
    const source = quotaSourceOf(sidecarConfig, undefined, ADMIN_KEY);
    const gate = new QuotaGate({ authority: source.authority, holder: 'sidecar-x', maxChunk: 10, leaseTtlS: 5, failMode: 'closed' });
    const decisions = [];
    for (let i = 0; i < 150; i++) decisions.push(await gate.admit('fleet', 0));
    expect(decisions.filter((d) => d.ok)).toHaveLength(LIMIT - 30);
    expect(decisions.find((d) => !d.ok)).toMatchObject({ reason: 'quota_exceeded', kind: 'requests_per_minute', limit: LIMIT });
    expect(logs).toContain(`quota authority: now this instance (standby) (was ${primaryUrl})`);

    // The standby answers the tenant's quota page from its own counters now.
    const status = await call<{ quotas: Array<{ quota: string; used: number }> }>(standbyUrl, 'GET', '/v1/tenants/fleet/quotas', { key: ADMIN_KEY });
    expect(status.body.quotas.find((q) => q.quota === 'requests_per_minute')?.used).toBe(LIMIT);
    // Quota alerts do not pause: the standby in charge opens one per threshold (80 %, 100 %).
    await standby.evaluateAlerts();
    expect((await alertsOf(standbyUrl)).map((a) => `${a.labels.threshold} ${a.state}`).sort()).toEqual(['0.8 firing', '1 firing']);

    // On-call sees it: the standby says a standby (itself) is in charge.
    const metrics = await standby.app.fetch(new Request('http://x/metrics', { headers: { authorization: `Bearer ${ADMIN_KEY}` } }));
    expect(await metrics.text()).toMatch(/^inferledger_quota_standby_in_use 1$/m);

    // The primary comes back at its address: the sidecar's 15-second check hands back to it.
    expect(source.standbyInUse?.()).toBe(true);
    const port = Number(new URL(primaryUrl).port);
    restarted = await startPlatform(loadAt(configFile('primary.yaml', {})), { kind: 'up', port, log: () => {} });
    await source.recheckPrimary?.();
    expect(source.standbyInUse?.()).toBe(false);
  });
});
