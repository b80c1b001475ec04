import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertToJson, type AlertJson } from '../../src/alerts/alert-json.ts';
import type { Alerting } from '../../src/alerts/alerting.ts';
import { alertsConfigSchema } from '../../src/alerts/config.ts';
import { createAlerting } from '../../src/alerts/create-alerting.ts';
import { isNotificationFile } from '../../src/alerts/delivery/outbox.ts';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../../src/alerts/delivery/signature.ts';
import { createAlertStore } from '../../src/alerts/store/alert-store.ts';
import type { AlertRepository } from '../../src/alerts/types.ts';
import type { QuotaStatus } from '../../src/quotas/types.ts';
import type { Store } from '../../src/store/client.ts';
import { alertmanagerActive, startAlertmanager, type RunningAlertmanager } from '../support/alertmanager.ts';
import { freePort } from '../support/daemon.ts';
import { hasValidSignature } from '../support/webhook-signature.ts';
import { startReceiver, type ReceivedRequest, type Receiver } from '../support/http-receiver.ts';
import { waitFor } from '../support/platform.ts';
import { openTestStore } from '../support/store.ts';

/**
 * Quota alerts end to end against a REAL Alertmanager (the Debian `prometheus-alertmanager`
 * binary; .ci/run installs it, ALERTMANAGER_BIN overrides the path) and a local webhook receiver
 * that checks signatures as a customer's would. The quota authority is a fake whose usage the
 * test drives: 50 % → 85 % → 100 % → window reset.
 */

const SECRET = 'whsec_integration-0123456789abcdef';
const TENANT = 'am-acme';
const DAY = 86_400_000;

let store: Store;
let repo: AlertRepository;
let hook: Receiver;
let am: RunningAlertmanager;
let alerting: Alerting;
const logs: string[] = [];
const usage = { ratio: 0.5, windowStart: Date.UTC(2025, 0, 1) };

/** The webhook receiver: 401 unless the signature over the raw body is valid and fresh. */
const checkSignature = (r: ReceivedRequest): boolean => hasValidSignature(SECRET, r);
const accepted = () => hook.received.filter(checkSignature).flatMap((r) => (JSON.parse(r.body) as { alerts: AlertJson[] }).alerts);

/** Our tenant's alerts active in Alertmanager, as `threshold:severity`. */
async function amActive(): Promise<string[]> {
  const alerts = await alertmanagerActive(am, `tenant="${TENANT}"`);
  return alerts.map((a) => `${a.labels.threshold}:${a.labels.severity}`).sort();
}

/** The alerts the API would list for the tenant (same store call as GET /v1/alerts). */
async function listed(): Promise<string[]> {
  const now = Date.now();
  const alerts = await repo.list({ tenantId: TENANT, from: now - DAY, to: now + DAY, limit: 1000 });
  return alerts.map((a) => `${a.labels.threshold}:${a.state}`).sort();
}

async function evaluate(ratio: number, windowStart = usage.windowStart): Promise<void> {
  Object.assign(usage, { ratio, windowStart });
  await alerting.evaluate();
  await alerting.flush();
}

beforeAll(async () => {
  ({ store } = await openTestStore());
  repo = createAlertStore(store);
  hook = await startReceiver((r) => (checkSignature(r) ? { status: 200 } : { status: 401, body: 'bad signature' }));
  am = await startAlertmanager();
  const config = alertsConfigSchema.parse({
    webhooks: [{ url: `${hook.url}/inferledger`, secret: SECRET }],
    alertmanager: { url: am.url, resend_s: 5 },
    max_retries: 2,
  });
  const status = async (tenantId: string): Promise<QuotaStatus[]> => [
    { tenantId, kind: 'spend_per_month', limit: '100.00', used: (usage.ratio * 100).toFixed(2), ratio: usage.ratio, windowStart: usage.windowStart, resetAt: usage.windowStart + 31 * DAY },
  ];
  alerting = createAlerting({
    store,
    config,
    quotaAuthority: { status },
    tenants: () => [TENANT],
    now: Date.now,
    log: (line) => logs.push(line),
    publicUrl: 'http://127.0.0.1:8080',
    retry: { baseDelayMs: 20, maxDelayMs: 200, timeoutMs: 5000 },
  });
});

afterAll(async () => {
  am?.stop();
  await hook?.close();
  await store?.close();
});

describe('quota alerts → webhook + Alertmanager (real)', () => {
  it('50 %: nothing fires', async () => {
    await evaluate(0.5);
    expect(await listed()).toEqual([]);
    expect(hook.received).toHaveLength(0);
    expect(await amActive()).toEqual([]);
  });

  it('85 %: one warning fires, is signed to the webhook and active in Alertmanager', async () => {
    await evaluate(0.85);
    expect(await listed()).toEqual(['0.8:firing']);
    expect(hook.received).toHaveLength(1);
    expect(accepted().map((a) => [a.tenant, a.state, a.severity, a.labels.threshold])).toEqual([[TENANT, 'firing', 'warning', '0.8']]);
    await waitFor(async () => ((await amActive()).join() === '0.8:warning' ? true : undefined), 'the alert in Alertmanager', 30_000);
  });

  it('re-running over the same state adds no alert and sends no webhook', async () => {
    await evaluate(0.85);
    await evaluate(0.85);
    expect(await listed()).toEqual(['0.8:firing']);
    expect(hook.received).toHaveLength(1);
    const events = await store.query<{ n: string }>({ query: 'SELECT count() AS n FROM alert_events FINAL WHERE tenant_id = {t:String}', params: { t: TENANT } });
    expect(Number(events[0]!.n)).toBe(1);
  });

  it('100 %: exactly one more alert (critical); the warning is the same episode', async () => {
    const [warning] = await repo.list({ tenantId: TENANT, from: 0, to: Date.now() + DAY, limit: 10 });
    await evaluate(1);
    expect(await listed()).toEqual(['0.8:firing', '1:firing']);
    const episodes = await repo.list({ tenantId: TENANT, from: 0, to: Date.now() + DAY, limit: 10 });
    expect(episodes.find((a) => a.labels.threshold === '0.8')!.startsAt).toBe(warning!.startsAt);
    expect(accepted().map((a) => `${a.labels.threshold}:${a.state}:${a.severity}`)).toEqual(['0.8:firing:warning', '1:firing:critical']);
    await waitFor(async () => ((await amActive()).join() === '0.8:warning,1:critical' ? true : undefined), 'both alerts in Alertmanager', 30_000);
    expect(alerting.firing()).toHaveLength(2);
  });

  it('window reset: both resolve, the webhook hears it once, Alertmanager stops showing them', async () => {
    await evaluate(0.05, usage.windowStart + 31 * DAY);
    expect(await listed()).toEqual(['0.8:resolved', '1:resolved']);
    const resolved = accepted().filter((a) => a.state === 'resolved');
    expect(resolved.map((a) => [a.labels.threshold, a.annotations.resolved_reason, a.ends_at !== null])).toEqual([
      ['0.8', 'window_reset', true],
      ['1', 'window_reset', true],
    ]);
    await waitFor(async () => ((await amActive()).length === 0 ? true : undefined), 'the alerts to be resolved in Alertmanager', 60_000);
    await evaluate(0.05, usage.windowStart);
    expect(accepted()).toHaveLength(4);
    expect(alerting.firing()).toEqual([]);
  });

  it('the receiver rejects a tampered body (and the signature covers exactly the bytes sent)', async () => {
    const original = hook.received.at(-1)!;
    const headers = {
      'content-type': 'application/json',
      [TIMESTAMP_HEADER]: original.headers[TIMESTAMP_HEADER.toLowerCase()] as string,
      [SIGNATURE_HEADER]: original.headers[SIGNATURE_HEADER.toLowerCase()] as string,
    };
    const tampered = original.body.replace('"resolved"', '"firing"');
    expect(tampered).not.toBe(original.body);
    const res = await fetch(`${hook.url}/inferledger`, { method: 'POST', headers, body: tampered });
    expect(res.status).toBe(401);
    const intact = await fetch(`${hook.url}/inferledger`, { method: 'POST', headers, body: original.body });
    expect(intact.status).toBe(200);
  });

  it('GET /v1/alerts items are the webhook items (one wire format)', async () => {
    const now = Date.now();
    const stored = (await repo.list({ tenantId: TENANT, from: now - DAY, to: now + DAY, limit: 10 })).map(alertToJson);
    const lastWebhook = accepted().filter((a) => a.state === 'resolved');
    expect(new Set(stored.map((a) => a.key))).toEqual(new Set(lastWebhook.map((a) => a.key)));
    expect(stored.find((a) => a.labels.threshold === '1')).toEqual(lastWebhook.find((a) => a.labels.threshold === '1'));
    expect(logs.filter((l) => /failed|refused/.test(l))).toEqual([]);
  });
});

describe('a page owed to Alertmanager survives a stop (real Alertmanager, notifying a receiver)', () => {
  const OWED_TENANT = 'am-owed';
  const owedUsage = { ratio: 0 };
  const dataDir = mkdtempSync(join(tmpdir(), 'il-am-owed-'));
  const owedLogs: string[] = [];
  let port = 0;
  let paged: Receiver;
  let owedAm: RunningAlertmanager | undefined;

  /** One process's alerting: same store and data directory each time, Alertmanager on `port`. */
  const processAlerting = () =>
    createAlerting({
      store,
      config: alertsConfigSchema.parse({ alertmanager: { url: `http://127.0.0.1:${port}`, resend_s: 3 }, quota_thresholds: [1], max_retries: 0 }),
      quotaAuthority: {
        status: async (tenantId: string): Promise<QuotaStatus[]> => [
          { tenantId, kind: 'tokens_per_day', limit: '100', used: String(owedUsage.ratio * 100), ratio: owedUsage.ratio, windowStart: Date.UTC(2025, 0, 1) },
        ],
      },
      tenants: () => [OWED_TENANT],
      now: Date.now,
      log: (line) => owedLogs.push(line),
      retry: { baseDelayMs: 10, maxDelayMs: 50, timeoutMs: 2000 },
      dataDir,
    });
  /** What Alertmanager notified for our tenant, as `status` in arrival order. */
  const notified = () =>
    paged.received
      .flatMap((r) => (JSON.parse(r.body) as { alerts: Array<{ status: string; labels: Record<string, string> }> }).alerts)
      .filter((a) => a.labels.tenant === OWED_TENANT)
      .map((a) => a.status);

  beforeAll(async () => {
    port = await freePort();
    paged = await startReceiver();
  });
  afterAll(async () => {
    owedAm?.stop();
    await paged?.close();
  });

  it('fired while Alertmanager was down, then the process stopped; resolved by the next process: Alertmanager still pages it, then resolves it', async () => {
    const before = processAlerting();
    owedUsage.ratio = 1;
    await before.evaluate();
    await before.flush(); // refused: nothing listens on the port yet; then this process is gone
    expect(before.firing()).toHaveLength(1);
    expect(readdirSync(join(dataDir, 'alert-outbox', 'alertmanager')).filter(isNotificationFile)).toHaveLength(1);

    owedAm = await startAlertmanager({ port, notifyUrl: `${paged.url}/alertmanager` });
    owedUsage.ratio = 0.1;
    const after = processAlerting();
    await after.evaluate(); // resolves the episode the previous process left firing
    await after.flush();
    expect(after.firing()).toEqual([]);
    await waitFor(async () => (notified().includes('firing') ? true : undefined), 'Alertmanager to page the owed alert', 30_000);
    await new Promise((r) => setTimeout(r, 3_100)); // its resolve follows one resend_s later
    await after.flush();
    await waitFor(async () => (notified().includes('resolved') ? true : undefined), 'Alertmanager to resolve it', 30_000);
    expect(notified()).toEqual(['firing', 'resolved']);
    expect(readdirSync(join(dataDir, 'alert-outbox', 'alertmanager')).filter(isNotificationFile)).toEqual([]);
    expect(owedLogs.some((l) => /owed from before the start/.test(l))).toBe(true);
  });
});
