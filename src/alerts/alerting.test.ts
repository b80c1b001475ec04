import { describe, expect, it } from 'vitest';
import { createQuotaAuthority } from '../quotas/authority.ts';
import type { QuotaStatus } from '../quotas/types.ts';
import { createAlertingService, serialRunner, type AlertingPorts } from './alerting.ts';
import type { Destination } from './delivery/destination.ts';
import { episodeId } from './lifecycle.ts';
import type { Alert, AlertFilter, AlertRepository, AnomalyFinding, Transition } from './types.ts';

const T0 = Date.UTC(2025, 0, 15, 10);
const CONFIG = { quota_thresholds: [0.8, 1], hysteresis: 0.05, evaluate_cron: '*/15 * * * * *', anomaly_for_s: 0, anomaly_threshold: 0.9 };

/** In-memory AlertRepository with ReplacingMergeTree semantics (latest version per episode). */
function memoryRepository() {
  const episodes = new Map<string, Alert>();
  const events = new Map<string, Transition>();
  let failing = false;
  const repo: AlertRepository & { events: typeof events; fail(on: boolean): void; saves: number } = {
    events,
    saves: 0,
    fail(on) {
      failing = on;
    },
    async loadActive({ resolvedSince }) {
      if (failing) throw new Error('ClickHouse: connection refused');
      return [...episodes.values()].filter((a) => a.state !== 'resolved' || (a.endsAt ?? 0) >= resolvedSince);
    },
    async save(changed, transitions) {
      repo.saves++;
      for (const t of transitions) events.set(`${episodeId(t)}:${t.to}`, t);
      for (const a of changed) episodes.set(episodeId(a), a);
    },
    async list(f: AlertFilter) {
      return [...episodes.values()].filter((a) => (!f.tenantId || a.tenantId === f.tenantId) && (!f.state || a.state === f.state));
    },
  };
  return repo;
}

function recordingDestination(): Destination & { offers: Transition[][]; delivered: number } {
  const d = {
    name: 'recording',
    offers: [] as Transition[][],
    delivered: 0,
    offer(_alerts: readonly Alert[], transitions: readonly Transition[]) {
      d.offers.push([...transitions]);
    },
    async deliver() {
      d.delivered++;
    },
    pending: () => 0,
  };
  return d;
}

function setup(over: Partial<AlertingPorts> = {}) {
  const ratios = new Map<string, number>([['acme', 0.5], ['globex', 0.5]]);
  const broken = new Set<string>();
  const repository = memoryRepository();
  const destination = recordingDestination();
  const logs: string[] = [];
  let clock = T0;
  const status = (tenantId: string): QuotaStatus[] =>
    ratios.has(tenantId) ? [{ tenantId, kind: 'requests_per_minute', limit: 100, used: ratios.get(tenantId)! * 100, ratio: ratios.get(tenantId)!, windowStart: T0 }] : [];
  const alerting = createAlertingService({
    repository,
    destinations: [destination],
    quotaAuthority: {
      async status(t) {
        if (broken.has(t)) throw new Error('authority down');
        return status(t);
      },
    },
    tenants: () => ratios.keys(),
    config: CONFIG,
    now: () => clock,
    log: (l) => logs.push(l),
    ...over,
  });
  const tick = async () => {
    clock += 15_000;
    await alerting.evaluate();
    await alerting.flush();
  };
  return { alerting, repository, destination, ratios, broken, logs, tick };
}

describe('alerting service', () => {
  it('evaluates, saves, offers and exposes firing alerts', async () => {
    const s = setup();
    await s.tick();
    expect(s.alerting.firing()).toEqual([]);
    s.ratios.set('acme', 0.85);
    await s.tick();
    expect(s.alerting.firing().map((a) => [a.tenantId, a.labels.threshold])).toEqual([['acme', '0.8']]);
    expect([...s.repository.events.values()].map((t) => `${t.tenantId}:${t.from}->${t.to}`)).toEqual(['acme:null->firing']);
    expect(s.destination.offers.at(-1)!.map((t) => t.to)).toEqual(['firing']);
    expect(s.logs).toContainEqual(expect.stringMatching(/^alert firing: InferledgerQuotaThreshold tenant=acme warning/));
  });

  it('re-running over the same state changes and notifies nothing', async () => {
    const s = setup();
    s.ratios.set('acme', 1);
    await s.tick();
    const before = await s.repository.list({ from: 0, to: Infinity, limit: 100 });
    await s.tick();
    await s.tick();
    expect(await s.repository.list({ from: 0, to: Infinity, limit: 100 })).toEqual(before);
    expect(s.destination.offers.slice(1)).toEqual([[], []]);
    expect(s.repository.events.size).toBe(2);
  });

  it('a tenant whose quota status fails keeps its alerts; the others are evaluated', async () => {
    const s = setup();
    s.ratios.set('acme', 0.9);
    await s.tick();
    s.broken.add('acme');
    s.ratios.set('acme', 0.1);
    s.ratios.set('globex', 0.9);
    await s.tick();
    expect(s.alerting.firing().map((a) => a.tenantId).sort()).toEqual(['acme', 'globex']);
    expect(s.logs).toContainEqual(expect.stringContaining('quota status of acme unavailable'));
  });

  it('a tenant gone from the tenant list has its open alerts resolved', async () => {
    const s = setup();
    s.ratios.set('acme', 0.9);
    await s.tick();
    s.ratios.delete('acme');
    await s.tick();
    expect(s.alerting.firing()).toEqual([]);
    const [alert] = await s.repository.list({ tenantId: 'acme', from: 0, to: Infinity, limit: 10 });
    expect(alert?.annotations.resolved_reason).toBe('quota_removed');
  });

  it('a failed store rejects the evaluation, keeps the last state and still runs delivery', async () => {
    const s = setup();
    s.ratios.set('acme', 0.9);
    await s.tick();
    s.repository.fail(true);
    s.ratios.set('acme', 0.1);
    await expect(s.tick()).rejects.toThrow(/connection refused/);
    await s.alerting.flush();
    expect(s.alerting.firing()).toHaveLength(1);
    expect(s.destination.delivered).toBeGreaterThanOrEqual(3);
    s.repository.fail(false);
    await s.tick();
    expect(s.alerting.firing()).toEqual([]);
  });

  it('a slow destination never holds up evaluation', async () => {
    let release: () => void = () => {};
    const slow: Destination = { name: 'slow', offer() {}, deliver: () => new Promise<void>((r) => (release = r)), pending: () => 0 };
    const s = setup({ destinations: [slow] });
    s.ratios.set('acme', 0.9);
    await s.alerting.evaluate();
    await s.alerting.evaluate();
    expect(s.repository.saves).toBe(2);
    const flushed = s.alerting.flush();
    release();
    await new Promise((r) => setTimeout(r, 0));
    release();
    await flushed;
  });

  it('anomaly findings: below anomaly_threshold ignored; a failing provider keeps anomaly alerts', async () => {
    const finding = (score: number): AnomalyFinding => ({
      tenantId: 'acme',
      metric: 'cost_per_hour',
      at: T0,
      score,
      expected: 1,
      actual: 3,
      impact: { absolute: 2, percent: 200 },
      severity: 'warning',
      topContributors: [],
    });
    let findings: () => Promise<AnomalyFinding[]> = async () => [finding(0.5)];
    const s = setup({ anomalyFindings: () => findings() });
    await s.tick();
    expect(s.alerting.firing()).toEqual([]);
    findings = async () => [finding(0.95)];
    await s.tick();
    expect(s.alerting.firing().map((a) => a.kind)).toEqual(['anomaly']);
    findings = async () => {
      throw new Error('detector down');
    };
    await s.tick();
    expect(s.alerting.firing().map((a) => a.kind)).toEqual(['anomaly']);
    findings = async () => [];
    await s.tick();
    expect(s.alerting.firing()).toEqual([]);
  });

  it('evaluates on the configured schedule, and delivers every 5 s (or as asked) whatever that schedule', async () => {
    const s = setup();
    expect(s.alerting.jobs.map((j) => [j.name, j.cron])).toEqual([
      ['alerts', '*/15 * * * * *'],
      ['alert-delivery', '*/5 * * * * *'],
    ]);
    // Found by dogfooding: with evaluations every 30 s and Alertmanager's resend_s at 5, firing
    // alerts expired there between two evaluations (re-sends only came with evaluations).
    await s.alerting.jobs[1]!.run();
    await new Promise((r) => setImmediate(r)); // the job does not wait for the delivery it starts
    expect(s.destination.delivered).toBe(1);
    expect(s.destination.offers).toEqual([]); // no evaluation ran
    expect(setup({ deliveryEveryS: 2 }).alerting.jobs[1]!.cron).toBe('*/2 * * * * *');
  });
});

describe('alerting service with the quota authority: limits reached between evaluations', () => {
  const MINUTE = Date.UTC(2025, 0, 15, 10, 0);
  function withAuthority() {
    let clock = MINUTE;
    const authority = createQuotaAuthority({
      limitsOf: () => ({ requests_per_minute: 10, concurrent_requests: 4 }),
      now: () => clock,
      readMonthlyUsage: async () => new Map(),
      leaseTtlS: 5,
    });
    const repository = memoryRepository();
    const alerting = createAlertingService({
      repository,
      destinations: [],
      quotaAuthority: authority,
      tenants: () => ['acme'],
      config: CONFIG,
      now: () => clock,
      log: () => {},
    });
    const at = (offsetMs: number) => (clock = MINUTE + offsetMs);
    const lease = (amount: number) => authority.lease({ tenantId: 'acme', kind: 'requests_per_minute', amount, holder: 'sidecar', need: amount });
    const episodes = async () =>
      (await repository.list({ from: 0, to: Infinity, limit: 100 }))
        .map((a) => `${a.labels.quota}@${a.labels.threshold}:${a.state}${a.annotations.resolved_reason ? `(${a.annotations.resolved_reason})` : ''}`)
        .sort();
    return { authority, alerting, at, lease, episodes, repository };
  }

  it("a per-minute limit reached in the minute's last seconds fires once per threshold in the next minute, then resets", async () => {
    const s = withAuthority();
    s.at(45_000);
    await s.alerting.evaluate();
    s.at(58_000);
    expect((await s.lease(10)).granted).toBe(10);
    expect((await s.lease(1)).granted).toBe(0); // refused: the tenant got 429s
    s.at(60_000 + 0);
    await s.alerting.evaluate();
    expect(await s.episodes()).toEqual(['requests_per_minute@0.8:firing', 'requests_per_minute@1:firing']);
    s.at(75_000);
    await s.alerting.evaluate();
    expect(await s.episodes()).toEqual(['requests_per_minute@0.8:resolved(window_reset)', 'requests_per_minute@1:resolved(window_reset)']);
    expect([...s.repository.events.values()].map((t) => t.to).sort()).toEqual(['firing', 'firing', 'resolved', 'resolved']);
  });

  it('a concurrency burst between two evaluations fires, and resolves once the next interval stays low', async () => {
    const s = withAuthority();
    await s.alerting.evaluate();
    s.at(5_000);
    expect((await s.authority.lease({ tenantId: 'acme', kind: 'concurrent_requests', amount: 4, holder: 'sidecar' })).granted).toBe(4);
    s.at(6_000);
    await s.authority.release({ tenantId: 'acme', kind: 'concurrent_requests', amount: 4, holder: 'sidecar' });
    s.at(15_000);
    await s.alerting.evaluate();
    expect(await s.episodes()).toEqual(['concurrent_requests@0.8:firing', 'concurrent_requests@1:firing']);
    s.at(30_000);
    await s.alerting.evaluate();
    expect(await s.episodes()).toEqual(['concurrent_requests@0.8:resolved(below_threshold)', 'concurrent_requests@1:resolved(below_threshold)']);
  });

  it('a request the window could not cover leaves no peak at the limit: no false critical page', async () => {
    let clock = MINUTE;
    const authority = createQuotaAuthority({ limitsOf: () => ({ tokens_per_day: 1000 }), now: () => clock, readMonthlyUsage: async () => new Map(), leaseTtlS: 5 });
    const repository = memoryRepository();
    const alerting = createAlertingService({ repository, destinations: [], quotaAuthority: authority, tenants: () => ['acme'], config: CONFIG, now: () => clock, log: () => {} });
    const lease = (need: number) => authority.lease({ tenantId: 'acme', kind: 'tokens_per_day', amount: need, holder: 'sidecar', need });
    expect((await lease(960)).granted).toBe(960);
    expect((await lease(64)).granted).toBe(0); // refused: 40 left
    clock += 15_000;
    await alerting.evaluate();
    const open = (await repository.list({ from: 0, to: Infinity, limit: 10 })).map((a) => `${a.labels.threshold}:${a.state}`);
    expect(open).toEqual(['0.8:firing']);
  });

  it('peaks taken by an evaluation that failed to save are evaluated by the next one', async () => {
    const s = withAuthority();
    s.at(58_000);
    await s.lease(10);
    const save = s.repository.save;
    s.repository.save = async () => {
      throw new Error('ClickHouse: insert failed');
    };
    s.at(60_000);
    await expect(s.alerting.evaluate()).rejects.toThrow(/insert failed/);
    s.repository.save = save;
    s.at(75_000);
    await s.alerting.evaluate();
    expect(await s.episodes()).toEqual(['requests_per_minute@0.8:firing', 'requests_per_minute@1:firing']);
  });
});

describe('serialRunner', () => {
  it('runs one at a time and coalesces calls made meanwhile into one more run', async () => {
    let runs = 0;
    let active = 0;
    let maxActive = 0;
    const run = serialRunner(async () => {
      runs++;
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setTimeout(r, 5));
      active--;
    });
    await Promise.all([run(), run(), run(), run()]);
    expect(runs).toBe(2);
    expect(maxActive).toBe(1);
    await run();
    expect(runs).toBe(3);
  });
});
