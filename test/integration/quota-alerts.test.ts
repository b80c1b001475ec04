import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertJson } from '../../src/alerts/alert-json.ts';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhookSignature } from '../../src/alerts/delivery/signature.ts';
import { alertmanagerActive, startAlertmanager, type RunningAlertmanager } from '../support/alertmanager.ts';
import { hasValidSignature } from '../support/webhook-signature.ts';
import { startReceiver, type ReceivedRequest, type Receiver } from '../support/http-receiver.ts';
import { ADMIN_KEY, call, createKey, expectErrorShape, infer, startHarness, waitFor, type Harness } from '../support/platform.ts';

/**
 * Quota alerts end to end through the REAL all-in-one app (`inferledger up`): tenant qa-a may
 * send 5 requests a minute, qa-b has no quotas. Its 4th request puts it at 80 % of its quota, the
 * 5th at 100 %, the 6th is refused; alerts fire once per threshold, are listed by
 * `GET /v1/alerts` (only to qa-a and the admin), signed to a webhook receiver and sent to a real
 * Alertmanager; when the UTC minute (the quota window) ends they resolve everywhere.
 *
 * The platform's clock is the real one, so the window reset waits for the next UTC minute
 * (at most about a minute, bounded), and the 80 % → 100 % → 429 part starts with enough of its
 * minute left not to straddle a boundary.
 */

const A = 'qa-a';
const B = 'qa-b';
const SECRET = 'whsec_quota-alerts-0123456789abcdef';
const MINUTE = 60_000;
const MODEL = 'classifier-small';
const ALERT_NAME = 'InferledgerQuotaThreshold';

let h: Harness;
let hook: Receiver;
let am: RunningAlertmanager;
const keys: Record<string, string> = {};

/** The receiver's check, as a customer's would do it: over the raw body, fresh timestamp. */
const validSignature = (r: ReceivedRequest): boolean => hasValidSignature(SECRET, r);

/** Every alert notification the webhook accepted, in arrival order. */
const delivered = (): AlertJson[] =>
  hook.received.filter(validSignature).flatMap((r) => (JSON.parse(r.body) as { version: number; alerts: AlertJson[] }).alerts);
const summary = (a: AlertJson) => `${a.tenant}:${a.labels.quota}:${a.labels.threshold}:${a.state}:${a.severity}`;

async function listAlerts(key: string, query = ''): Promise<AlertJson[]> {
  const res = await call<{ alerts: AlertJson[] }>(h.baseUrl, 'GET', `/v1/alerts${query}`, { key });
  expect(res.status, res.text).toBe(200);
  return res.body.alerts;
}

/** qa-a's alerts as the admin sees them, `threshold:state`, sorted. */
async function adminViewOfA(state?: string): Promise<AlertJson[]> {
  const all = await listAlerts(ADMIN_KEY, state ? `?state=${state}` : '');
  return all.filter((a) => a.tenant === A).sort((x, y) => Number(x.labels.threshold) - Number(y.labels.threshold));
}

/** qa-a's alerts active in Alertmanager, as `threshold:severity`, sorted. */
async function activeInAlertmanager(): Promise<string[]> {
  const alerts = await alertmanagerActive(am, `tenant="${A}"`);
  return alerts.map((a) => `${a.labels.threshold}:${a.labels.severity}`).sort();
}

/** The `inferledger_alerts_firing` samples of GET /metrics (other families are not this test's business). */
async function firingSamples(): Promise<string[]> {
  const res = await call(h.baseUrl, 'GET', '/metrics', { key: ADMIN_KEY });
  expect(res.status).toBe(200);
  return res.text
    .split('\n')
    .filter((line) => line.startsWith('inferledger_alerts_firing{'))
    .sort();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits, if need be, so that at least `needMs` of the current UTC minute is left; returns its start. */
async function minuteWithAtLeast(needMs: number): Promise<number> {
  const left = MINUTE - (Date.now() % MINUTE);
  if (left < needMs) await sleep(left + 200);
  return Math.floor(Date.now() / MINUTE) * MINUTE;
}

beforeAll(async () => {
  hook = await startReceiver((r) => (validSignature(r) ? { status: 200 } : { status: 401, body: 'bad signature' }));
  am = await startAlertmanager();
  h = await startHarness({
    config: {
      tenants: { [A]: { quotas: { requests_per_minute: 5 } }, [B]: {} },
      alerts: { webhooks: [{ url: `${hook.url}/inferledger`, secret: SECRET }], alertmanager: { url: am.url } },
    },
  });
  keys[A] = await createKey(h.baseUrl, A);
  keys[B] = await createKey(h.baseUrl, B);
  // Loads the model sessions, so the timed part below is only requests and evaluations.
  expect((await infer(h.baseUrl, keys[B], MODEL)).status).toBe(200);
});

afterAll(async () => {
  await h?.close();
  am?.stop();
  await hook?.close();
});

describe('quota alerts through the real app, a webhook and a real Alertmanager', () => {
  let minuteStart = 0;
  let warning: AlertJson | undefined;
  let critical: AlertJson | undefined;

  it('80 % then 100 % of requests_per_minute: one firing alert per threshold, no duplicates; the 6th request is 429, qa-b is unaffected', async () => {
    minuteStart = await minuteWithAtLeast(15_000);

    for (let i = 0; i < 4; i++) expect((await infer(h.baseUrl, keys[A]!, MODEL)).status).toBe(200);
    await h.platform.evaluateAlerts();
    const at80 = await adminViewOfA();
    expect(at80.map((a) => `${a.labels.threshold}:${a.state}`)).toEqual(['0.8:firing']);
    warning = at80[0]!;
    expect(warning).toMatchObject({
      kind: 'quota',
      name: ALERT_NAME,
      tenant: A,
      severity: 'warning',
      state: 'firing',
      labels: { quota: 'requests_per_minute', threshold: '0.8' },
      value: 0.8,
      ends_at: null,
    });
    expect(warning.annotations).toMatchObject({ used: '4', limit: '5', ratio: '0.8', window_start: new Date(minuteStart).toISOString() });
    expect(warning.key).toMatch(/^[0-9a-f]{64}$/);

    expect((await infer(h.baseUrl, keys[A]!, MODEL)).status).toBe(200);
    await h.platform.evaluateAlerts();
    await h.platform.evaluateAlerts(); // the same state again: nothing new
    const at100 = await adminViewOfA();
    expect(at100.map((a) => `${a.labels.threshold}:${a.state}`)).toEqual(['0.8:firing', '1:firing']);
    // The warning is the same episode as before, not a second one.
    expect(at100[0]).toMatchObject({ key: warning.key, starts_at: warning.starts_at });
    critical = at100[1]!;
    expect(critical).toMatchObject({ tenant: A, severity: 'critical', labels: { quota: 'requests_per_minute', threshold: '1' }, value: 1 });
    expect(critical.key).not.toBe(warning.key);
    expect((await adminViewOfA('firing')).map((a) => a.key)).toEqual([warning.key, critical.key]);

    const sixth = await infer(h.baseUrl, keys[A]!, MODEL);
    expect(sixth.status, sixth.text).toBe(429);
    expect(expectErrorShape(sixth).code).toBe('quota_exceeded');
    expect(Number(sixth.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const other = await infer(h.baseUrl, keys[B]!, MODEL);
    expect(other.status, other.text).toBe(200);

    // Guard: all of the above happened in one quota window, or the steps would mean nothing.
    const quotas = await call<{ quotas: Array<{ quota: string; used: number; window_start: string }> }>(h.baseUrl, 'GET', `/v1/tenants/${A}/quotas`, {
      key: keys[A],
    });
    expect(quotas.body.quotas).toEqual([expect.objectContaining({ quota: 'requests_per_minute', used: 5, window_start: new Date(minuteStart).toISOString() })]);
  });

  it('the webhook received each firing alert once, signed; unsigned or tampered copies would be refused', () => {
    expect(hook.received.length).toBeGreaterThan(0);
    for (const r of hook.received) {
      expect(r.method).toBe('POST');
      expect(r.path).toBe('/inferledger');
      expect(validSignature(r), `signature of ${r.body.slice(0, 200)}`).toBe(true);
      expect(verifyWebhookSignature({
        secret: SECRET,
        timestamp: r.headers[TIMESTAMP_HEADER.toLowerCase()] as string,
        signature: r.headers[SIGNATURE_HEADER.toLowerCase()] as string,
        body: r.body.replace('"firing"', '"resolved"'),
        nowS: Math.floor(Date.now() / 1000),
      })).toBe(false);
    }
    expect(delivered().map(summary)).toEqual([`${A}:requests_per_minute:0.8:firing:warning`, `${A}:requests_per_minute:1:firing:critical`]);
    expect(delivered().map((a) => a.key)).toEqual([warning!.key, critical!.key]);
  });

  it('Alertmanager shows both alerts with tenant=qa-a; /metrics counts them', async () => {
    await waitFor(async () => ((await activeInAlertmanager()).join() === '0.8:warning,1:critical' ? true : undefined), 'both alerts in Alertmanager', 30_000);
    const [listed] = (await alertmanagerActive(am, `threshold="1"`)).filter((a) => a.labels.tenant === A);
    expect(listed!.labels).toMatchObject({ alertname: ALERT_NAME, tenant: A, quota: 'requests_per_minute', threshold: '1', severity: 'critical', inferledger_key: critical!.key });
    expect(Date.parse(listed!.startsAt)).toBe(Date.parse(critical!.starts_at));

    expect(await firingSamples()).toEqual([
      `inferledger_alerts_firing{tenant="${A}",alertname="${ALERT_NAME}",severity="critical"} 1`,
      `inferledger_alerts_firing{tenant="${A}",alertname="${ALERT_NAME}",severity="warning"} 1`,
    ]);
  });

  it("qa-b's key sees none of qa-a's alerts (and naming qa-a is 404); qa-a's key sees its own", async () => {
    expect(await listAlerts(keys[B]!)).toEqual([]);
    expect(await listAlerts(keys[B]!, '?state=firing')).toEqual([]);
    const named = await call(h.baseUrl, 'GET', `/v1/alerts?tenant=${A}`, { key: keys[B] });
    expect(named.status).toBe(404);
    expect(expectErrorShape(named).code).toBe('tenant_not_found');
    expect(named.text).not.toContain(warning!.key);

    const own = await listAlerts(keys[A]!, '?state=firing');
    expect(own.map((a) => a.key).sort()).toEqual([warning!.key, critical!.key].sort());
    expect((await listAlerts(ADMIN_KEY, `?tenant=${A}`)).map((a) => a.key).sort()).toEqual([warning!.key, critical!.key].sort());
  });

  it('when the minute ends both resolve: in GET /v1/alerts, at the webhook (once each) and in Alertmanager', async () => {
    // The quota window is the UTC minute: wait for the next one (bounded, at most about 61 s).
    const nextMinute = minuteStart + MINUTE;
    await sleep(Math.max(0, nextMinute - Date.now()) + 1000);
    await h.platform.evaluateAlerts();

    const resolved = await adminViewOfA('resolved');
    expect(resolved.map((a) => `${a.labels.threshold}:${a.state}:${a.annotations.resolved_reason}`)).toEqual(['0.8:resolved:window_reset', '1:resolved:window_reset']);
    expect(resolved.map((a) => [a.key, a.starts_at])).toEqual([
      [warning!.key, warning!.starts_at],
      [critical!.key, critical!.starts_at],
    ]);
    for (const a of resolved) expect(Date.parse(a.ends_at!)).toBeGreaterThanOrEqual(nextMinute);
    expect(await adminViewOfA('firing')).toEqual([]);

    const resolves = delivered().filter((a) => a.state === 'resolved');
    expect(resolves.map(summary)).toEqual([`${A}:requests_per_minute:0.8:resolved:warning`, `${A}:requests_per_minute:1:resolved:critical`]);
    expect(hook.received.every(validSignature)).toBe(true);

    await waitFor(async () => ((await activeInAlertmanager()).length === 0 ? true : undefined), 'the alerts to be resolved in Alertmanager', 30_000);
    expect(await firingSamples()).toEqual([]);

    // Evaluating again changes and sends nothing; qa-a may send again in the new minute.
    await h.platform.evaluateAlerts();
    expect(delivered()).toHaveLength(4);
    expect((await adminViewOfA()).map((a) => `${a.labels.threshold}:${a.state}`)).toEqual(['0.8:resolved', '1:resolved']);
    expect((await infer(h.baseUrl, keys[A]!, MODEL)).status).toBe(200);
  }, 120_000);
});
