import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from '../../../test/support/http-receiver.ts';
import type { QuotaStatus } from '../../quotas/types.ts';
import type { AlertJson } from '../alert-json.ts';
import { evaluateAnomalyAlerts } from '../anomaly-rules.ts';
import { evaluateQuotaAlerts } from '../quota-rules.ts';
import type { Alert, Evaluation } from '../types.ts';
import type { RetryPolicy } from './http-post.ts';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhookSignature } from './signature.ts';
import { diskOutbox } from './outbox.ts';
import { createWebhookDestination, type WebhookTarget } from './webhook.ts';

const SECRET = 'whsec_test-secret-0123456789';
const NOW = Date.UTC(2025, 0, 15, 10);
const POLICY: RetryPolicy = { maxRetries: 2, baseDelayMs: 1, maxDelayMs: 5, timeoutMs: 2000 };
const status = (tenantId: string, ratio: number): QuotaStatus => ({ tenantId, kind: 'requests_per_minute', limit: 100, used: ratio * 100, ratio, windowStart: NOW - 30_000 });
const quota = (prev: Alert[], statuses: QuotaStatus[], now = NOW): Evaluation => evaluateQuotaAlerts(prev, statuses, { thresholds: [0.8, 1], hysteresis: 0.05, now });

let server: Receiver;
const logs: string[] = [];
beforeAll(async () => {
  server = await startReceiver();
});
afterAll(() => server.close());
beforeEach(() => {
  server.received.length = 0;
  logs.length = 0;
  server.respond(() => ({ status: 200 }));
});

const webhook = (target: Partial<WebhookTarget> = {}) =>
  createWebhookDestination({ url: `${server.url}/hooks/il?token=abc`, secret: SECRET, ...target }, { fetch, policy: POLICY, now: () => NOW, log: (l) => logs.push(l) });

/** Verifies each request's signature and returns the alerts delivered, in order. */
function delivered(): AlertJson[] {
  return server.received.flatMap((r) => {
    const ok = verifyWebhookSignature({
      secret: SECRET,
      timestamp: r.headers[TIMESTAMP_HEADER.toLowerCase()] as string | undefined,
      signature: r.headers[SIGNATURE_HEADER.toLowerCase()] as string | undefined,
      body: r.body,
      nowS: NOW / 1000,
    });
    if (!ok) throw new Error(`bad signature on ${r.body}`);
    const payload = JSON.parse(r.body) as { version: number; alerts: AlertJson[] };
    expect(payload.version).toBe(1);
    return payload.alerts;
  });
}

describe('webhook destination', () => {
  it('POSTs signed JSON: one notification per firing and per resolve', async () => {
    const d = webhook();
    const fired = quota([], [status('acme', 0.9)]);
    d.offer(fired.alerts, fired.transitions);
    await d.deliver();
    const resolved = quota(fired.alerts, [status('acme', 0.1)], NOW + 60_000);
    d.offer(resolved.alerts, resolved.transitions);
    await d.deliver();
    expect(server.received.map((r) => r.path)).toEqual(['/hooks/il?token=abc', '/hooks/il?token=abc']);
    expect(server.received[0]!.headers[TIMESTAMP_HEADER.toLowerCase()]).toBe(String(NOW / 1000));
    expect(delivered().map((a) => [a.tenant, a.state, a.severity, a.labels.threshold, a.ends_at])).toEqual([
      ['acme', 'firing', 'warning', '0.8', null],
      ['acme', 'resolved', 'warning', '0.8', new Date(NOW + 60_000).toISOString()],
    ]);
    expect(d.pending()).toBe(0);
  });

  it('retries 5xx, then succeeds', async () => {
    server.respond((_r, i) => (i < 2 ? { status: 502 } : { status: 200 }));
    const d = webhook();
    const fired = quota([], [status('acme', 0.9)]);
    d.offer(fired.alerts, fired.transitions);
    await d.deliver();
    expect(server.received).toHaveLength(3);
    expect(d.pending()).toBe(0);
  });

  it('keeps what failed for a later run, leaves the receiver alone meanwhile, and sends it once then', async () => {
    server.respond(() => ({ status: 503 }));
    const clock = { now: NOW };
    const d = createWebhookDestination(
      { url: `${server.url}/hooks/il?token=abc`, secret: SECRET },
      { fetch, policy: { ...POLICY, baseDelayMs: 1000, maxDelayMs: 60_000 }, now: () => clock.now, log: (l) => logs.push(l), random: () => 0, sleep: async () => {} },
    );
    const fired = quota([], [status('acme', 1)]);
    d.offer(fired.alerts, fired.transitions);
    await d.deliver();
    expect(server.received).toHaveLength(POLICY.maxRetries + 1);
    expect(d.pending()).toBe(2);
    // Equal jitter at random() = 0: half of 1 s × 2^(maxRetries) = 2 s before the next try.
    expect(logs.join('\n')).toMatch(/delivery failed after 3 attempt\(s\) \(HTTP 503\); 2 kept, next try in 2 s or later/);
    expect(logs.join('\n')).not.toContain('token=abc');

    // Evaluations keep kicking delivery: nothing is sent before the backoff is over.
    await d.deliver();
    clock.now += 1999;
    await d.deliver();
    expect(server.received).toHaveLength(POLICY.maxRetries + 1);
    // Then one attempt per run while the receiver is failing, the wait doubling: 4 s, then 8 s.
    clock.now += 1;
    await d.deliver();
    expect(server.received).toHaveLength(POLICY.maxRetries + 2);
    expect(logs.at(-1)).toMatch(/after 1 attempt\(s\).*next try in 4 s/);
    clock.now += 4000;
    await d.deliver();
    expect(logs.at(-1)).toMatch(/next try in 8 s/);

    server.received.length = 0;
    server.respond(() => ({ status: 200 }));
    clock.now += 8000;
    await d.deliver();
    await d.deliver();
    expect(delivered().map((a) => a.labels.threshold)).toEqual(['0.8', '1']);
    expect(d.pending()).toBe(0);
  });

  it('with a disk outbox, what a crashed process could not send is sent by the next one, once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'il-webhook-outbox-'));
    const withOutbox = () =>
      createWebhookDestination({ url: `${server.url}/hooks/il`, secret: SECRET }, { fetch, policy: POLICY, now: () => NOW, log: (l) => logs.push(l), outbox: diskOutbox(dir) });
    server.respond(() => ({ status: 503 }));
    const before = withOutbox();
    const fired = quota([], [status('acme', 1)]);
    before.offer(fired.alerts, fired.transitions); // on disk before the evaluation returns
    await before.deliver();
    expect(before.pending()).toBe(2);

    // The process dies here; a new one starts on the same data directory.
    server.received.length = 0;
    server.respond(() => ({ status: 200 }));
    const after = withOutbox();
    expect(after.pending()).toBe(2);
    await after.deliver();
    expect(delivered().map((a) => a.labels.threshold)).toEqual(['0.8', '1']);
    expect(withOutbox().pending()).toBe(0);
  });

  it("never sends another tenant's notifications read back from disk (tenants narrowed before a restart)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'il-webhook-narrowed-'));
    const make = (tenants?: string[]) =>
      createWebhookDestination({ url: `${server.url}/hooks/il`, secret: SECRET, tenants }, { fetch, policy: POLICY, now: () => NOW, log: (l) => logs.push(l), outbox: diskOutbox(dir) });
    server.respond(() => ({ status: 503 }));
    const before = make();
    const fired = quota([], [status('acme', 0.9), status('globex', 0.9)]);
    before.offer(fired.alerts, fired.transitions);
    await before.deliver();
    expect(before.pending()).toBe(2);

    server.received.length = 0;
    server.respond(() => ({ status: 200 }));
    const after = make(['globex']);
    expect(after.pending()).toBe(1);
    expect(logs.join('\n')).toMatch(/dropped 1 waiting notifications of tenants not in its tenants list/);
    await after.deliver();
    expect(delivered().map((a) => a.tenant)).toEqual(['globex']);
  });

  it('drops a batch the receiver refuses with a 4xx (no retry)', async () => {
    server.respond(() => ({ status: 422 }));
    const d = webhook();
    const fired = quota([], [status('acme', 0.9)]);
    d.offer(fired.alerts, fired.transitions);
    await d.deliver();
    expect(server.received).toHaveLength(1);
    expect(d.pending()).toBe(0);
  });

  it('sends only the tenants it is filtered to', async () => {
    const d = webhook({ tenants: ['globex'] });
    const fired = quota([], [status('acme', 0.9), status('globex', 0.9)]);
    d.offer(fired.alerts, fired.transitions);
    await d.deliver();
    expect(delivered().map((a) => a.tenant)).toEqual(['globex']);
  });

  it('an offer repeated by a re-run is one notification', async () => {
    const d = webhook();
    const fired = quota([], [status('acme', 0.9)]);
    d.offer(fired.alerts, fired.transitions);
    d.offer(fired.alerts, fired.transitions);
    await d.deliver();
    expect(delivered()).toHaveLength(1);
  });

  it('pending anomalies and their quiet resolve are not notified', async () => {
    const d = webhook();
    const finding = { tenantId: 'acme', metric: 'error_rate', at: NOW, score: 0.99, expected: 0.01, actual: 0.3, impact: { absolute: 0.29, percent: 2900 }, severity: 'critical' as const, topContributors: [] };
    const pending = evaluateAnomalyAlerts([], [finding], { forSeconds: 600, now: NOW });
    d.offer(pending.alerts, pending.transitions);
    const gone = evaluateAnomalyAlerts(pending.alerts, [], { forSeconds: 600, now: NOW + 60_000 });
    d.offer(gone.alerts, gone.transitions);
    await d.deliver();
    expect(server.received).toHaveLength(0);
  });

  it('bounds the outbox, dropping the oldest', async () => {
    server.respond(() => ({ status: 500 }));
    const d = createWebhookDestination(
      { url: server.url, secret: SECRET },
      { fetch, policy: { ...POLICY, maxRetries: 0 }, now: () => NOW, log: (l) => logs.push(l), maxOutbox: 3 },
    );
    const fired = quota([], ['a', 'b', 'c'].map((t) => status(t, 1)));
    d.offer(fired.alerts, fired.transitions);
    expect(d.pending()).toBe(3);
    expect(logs.filter((l) => l.includes('outbox full'))).toHaveLength(3);
  });
});
