import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from '../../../test/support/http-receiver.ts';
import type { QuotaStatus } from '../../quotas/types.ts';
import { evaluateAnomalyAlerts } from '../anomaly-rules.ts';
import { evaluateQuotaAlerts } from '../quota-rules.ts';
import type { Alert, Evaluation } from '../types.ts';
import { createAlertmanagerDestination, toAlertmanagerAlert, type AlertmanagerAlert } from './alertmanager.ts';
import type { RetryPolicy } from './http-post.ts';
import { diskOutbox, isNotificationFile } from './outbox.ts';

const NOW = Date.UTC(2025, 0, 15, 10);
const RESEND_S = 60;
const POLICY: RetryPolicy = { maxRetries: 1, baseDelayMs: 1, maxDelayMs: 5, timeoutMs: 2000 };
const status = (ratio: number): QuotaStatus => ({ tenantId: 'acme', kind: 'spend_per_month', limit: '100.00', used: String(ratio * 100), ratio, windowStart: Date.UTC(2025, 0, 1) });
const quota = (prev: Alert[], ratio: number, now: number): Evaluation => evaluateQuotaAlerts(prev, [status(ratio)], { thresholds: [0.8, 1], hysteresis: 0.05, now });

describe('toAlertmanagerAlert', () => {
  const [firing] = quota([], 0.9, NOW).alerts;
  it('labels identify the alert; a firing alert lives four resend intervals unless re-sent', () => {
    expect(toAlertmanagerAlert(firing!, { now: NOW + 5000, resendMs: RESEND_S * 1000, publicUrl: 'https://il.example.com/' })).toEqual({
      labels: { alertname: 'InferledgerQuotaThreshold', tenant: 'acme', quota: 'spend_per_month', threshold: '0.8', severity: 'warning', inferledger_key: firing!.key },
      annotations: firing!.annotations,
      startsAt: new Date(NOW).toISOString(),
      endsAt: new Date(NOW + 5000 + 4 * RESEND_S * 1000).toISOString(),
      generatorURL: 'https://il.example.com/v1/alerts?state=firing&tenant=acme',
    });
  });

  it('a resolved alert carries its end; no generatorURL without a public URL', () => {
    const [resolved] = quota([firing!], 0.1, NOW + 120_000).alerts;
    const am = toAlertmanagerAlert(resolved!, { now: NOW + 999_999, resendMs: RESEND_S * 1000 });
    expect(am.endsAt).toBe(new Date(NOW + 120_000).toISOString());
    expect(am).not.toHaveProperty('generatorURL');
  });

  it('anomaly alerts are labelled by metric', () => {
    const finding = { tenantId: 'acme', metric: 'cost_per_hour', at: NOW, score: 0.99, expected: 1, actual: 5, impact: { absolute: 4, percent: 400 }, severity: 'critical' as const, topContributors: [] };
    const [alert] = evaluateAnomalyAlerts([], [finding], { forSeconds: 0, now: NOW }).alerts;
    expect(toAlertmanagerAlert(alert!, { now: NOW, resendMs: 60_000 }).labels).toEqual({
      alertname: 'InferledgerAnomaly',
      tenant: 'acme',
      metric: 'cost_per_hour',
      severity: 'critical',
      inferledger_key: alert!.key,
    });
  });
});

describe('Alertmanager destination (local stand-in)', () => {
  let server: Receiver;
  let clock = NOW;
  beforeAll(async () => {
    server = await startReceiver();
  });
  afterAll(() => server.close());
  beforeEach(() => {
    server.received.length = 0;
    server.respond(() => ({ status: 200 }));
    clock = NOW;
  });

  const destination = (outboxDir?: string) =>
    createAlertmanagerDestination(
      { url: `${server.url}/`, resendS: RESEND_S },
      { fetch, policy: POLICY, now: () => clock, log: () => {}, outbox: outboxDir === undefined ? undefined : diskOutbox(outboxDir) },
    );
  const outboxFiles = (dir: string) => readdirSync(dir).filter(isNotificationFile);
  const sent = () => server.received.map((r) => (JSON.parse(r.body) as AlertmanagerAlert[]).map((a) => `${a.labels.threshold}:${Date.parse(a.endsAt!) > clock ? 'active' : 'ended'}`));

  it('sends firing alerts, re-sends them every resend_s, and a resolve once', async () => {
    const d = destination();
    const fired = quota([], 0.9, clock);
    d.offer(fired.alerts, fired.transitions);
    await d.deliver();
    clock += 30_000;
    d.offer(fired.alerts, []);
    await d.deliver(); // not due yet
    clock += 30_000;
    await d.deliver(); // due
    clock += 1000;
    const resolved = quota(fired.alerts, 0.1, clock);
    d.offer(resolved.alerts, resolved.transitions);
    await d.deliver();
    clock += 120_000;
    await d.deliver(); // nothing left
    expect(server.received.map((r) => r.path)).toEqual(Array(3).fill('/api/v2/alerts'));
    expect(sent()).toEqual([['0.8:active'], ['0.8:active'], ['0.8:ended']]);
  });

  it('retries the next run after a failure', async () => {
    const d = destination();
    const fired = quota([], 0.9, clock);
    d.offer(fired.alerts, fired.transitions);
    await d.deliver();
    server.respond(() => ({ status: 503 }));
    clock += 1000;
    const resolved = quota(fired.alerts, 0.1, clock);
    d.offer(resolved.alerts, resolved.transitions);
    await d.deliver();
    expect(server.received).toHaveLength(1 + POLICY.maxRetries + 1);
    server.received.length = 0;
    server.respond(() => ({ status: 200 }));
    clock += 30_000; // past the receiver's backoff
    await d.deliver();
    await d.deliver();
    expect(sent()).toEqual([['0.8:ended']]);
    expect(d.pending()).toBe(0);
  });

  it('a firing that never reached Alertmanager before it resolved is sent late, and its resolve one resend_s after', async () => {
    server.respond(() => ({ status: 503 }));
    const d = destination();
    const fired = quota([], 0.9, clock);
    d.offer(fired.alerts, fired.transitions);
    await d.deliver(); // Alertmanager is down: the firing is not delivered
    clock += 50_000;
    const resolved = quota(fired.alerts, 0.1, clock);
    d.offer(resolved.alerts, resolved.transitions); // resolved before Alertmanager came back
    server.received.length = 0;
    server.respond(() => ({ status: 200 }));
    clock += 10_000;
    await d.deliver();
    expect(sent()).toEqual([['0.8:active']]); // as firing: Alertmanager does not page an alert that arrives resolved
    clock += RESEND_S * 1000 - 1;
    await d.deliver();
    expect(server.received).toHaveLength(1); // its resolve waits one resend_s (Alertmanager's group_wait pages it meanwhile)
    clock += 1;
    await d.deliver();
    expect(sent()).toEqual([['0.8:active'], ['0.8:ended']]);
    expect(d.pending()).toBe(0);
  });

  it('after a restart, sends again the resolves Alertmanager may still hold as firing (within 4 × resend_s), once', async () => {
    const fired = quota([], 0.9, NOW);
    const recent = quota(fired.alerts, 0.1, NOW + 1000).alerts; // resolved, then this process stopped
    const old = quota([], 1.2, NOW - 600_000).alerts.filter((a) => a.labels.threshold === '1');
    const oldResolved = evaluateQuotaAlerts(old, [{ ...status(0.1), windowStart: Date.UTC(2025, 0, 1) }], { thresholds: [1], hysteresis: 0.05, now: NOW - 300_000 }).alerts;
    clock = NOW + 60_000;
    const d = destination(); // the restarted process's first evaluation: no transitions, the stored state
    d.offer([...recent, ...oldResolved], []);
    await d.deliver();
    expect(sent()).toEqual([['0.8:ended']]);
    d.offer([...recent, ...oldResolved], []);
    await d.deliver();
    expect(server.received).toHaveLength(1);
  });

  describe('what Alertmanager is owed survives a restart (disk outbox)', () => {
    /**
     * A process that offered one firing episode and stopped: Alertmanager was down (503) or took
     * it (200). Returns the outbox folder, the episode, and Alertmanager answering 200 from now on.
     */
    async function processThatFired(answer: 200 | 503) {
      const dir = mkdtempSync(join(tmpdir(), 'il-am-outbox-'));
      server.respond(() => ({ status: answer }));
      const fired = quota([], 0.9, clock);
      const before = destination(dir);
      before.offer(fired.alerts, fired.transitions);
      await before.deliver();
      server.received.length = 0;
      server.respond(() => ({ status: 200 }));
      return { dir, fired };
    }

    it('a firing that never got through before a stop, resolved by the next start, is paged by the restarted process', async () => {
      const { dir, fired } = await processThatFired(503);
      clock += 120_000;
      const resolved = quota(fired.alerts, 0.1, clock); // resolved while no process ran
      clock += 10_000;
      const after = destination(dir); // the restarted process's first evaluation: the stored state
      after.offer(resolved.alerts, []);
      await after.deliver();
      expect(sent()).toEqual([['0.8:active']]);
      clock += RESEND_S * 1000;
      await after.deliver();
      expect(sent()).toEqual([['0.8:active'], ['0.8:ended']]);
      expect(after.pending()).toBe(0);
      expect(outboxFiles(dir)).toEqual([]);
    });

    it('one resolved longer ago than the stored state reaches back is still paged, ending at the start', async () => {
      const { dir } = await processThatFired(503);
      clock += 3 * 3_600_000;
      const after = destination(dir);
      after.offer([], []); // the episode is no longer in the state loaded at start
      await after.deliver();
      clock += RESEND_S * 1000;
      await after.deliver();
      expect(sent()).toEqual([['0.8:active'], ['0.8:ended']]);
      const [, resolve] = server.received.map((r) => JSON.parse(r.body) as AlertmanagerAlert[]);
      expect(resolve![0]!.endsAt).toBe(new Date(NOW + 3 * 3_600_000).toISOString());
      expect(outboxFiles(dir)).toEqual([]);
    });

    it('one still firing at the start is sent as firing, and leaves the outbox once taken', async () => {
      const { dir, fired } = await processThatFired(503);
      expect(outboxFiles(dir)).toHaveLength(1);
      clock += 60_000;
      const after = destination(dir);
      after.offer(fired.alerts, []);
      await after.deliver();
      expect(sent()).toEqual([['0.8:active']]);
      expect(outboxFiles(dir)).toEqual([]);
    });

    it('a firing Alertmanager took is not paged again after a restart: only its resolve is sent', async () => {
      const { dir, fired } = await processThatFired(200);
      expect(outboxFiles(dir)).toEqual([]);
      clock += 30_000;
      const resolved = quota(fired.alerts, 0.1, clock);
      clock += 10_000;
      const after = destination(dir);
      after.offer(resolved.alerts, []);
      await after.deliver();
      clock += RESEND_S * 1000;
      await after.deliver();
      expect(sent()).toEqual([['0.8:ended']]);
    });
  });

  it("a resolve of an earlier episode is never sent while a later episode of the same alert fires (Alertmanager knows both by their labels: it would end the new one)", async () => {
    const first = quota([], 0.9, NOW);
    const ended = quota(first.alerts, 0.1, NOW + 60_000);
    const again = quota(ended.alerts, 0.9, NOW + 90_000); // the same alert fires anew
    expect(again.alerts.map((a) => a.state).sort()).toEqual(['firing', 'resolved']);
    clock = NOW + 100_000;
    const d = destination(); // a restarted process: the last hour's resolves are offered again
    d.offer(again.alerts, []);
    await d.deliver();
    expect(sent()).toEqual([['0.8:active']]);
  });

  it('never sends pending alerts', async () => {
    const d = destination();
    const finding = { tenantId: 'acme', metric: 'error_rate', at: clock, score: 0.99, expected: 0, actual: 1, impact: { absolute: 1, percent: 100 }, severity: 'warning' as const, topContributors: [] };
    const pending = evaluateAnomalyAlerts([], [finding], { forSeconds: 600, now: clock });
    d.offer(pending.alerts, pending.transitions);
    await d.deliver();
    expect(server.received).toHaveLength(0);
  });
});
