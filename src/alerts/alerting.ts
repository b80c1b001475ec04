import type { JobSpec } from '../jobs/scheduler.ts';
import type { QuotaAuthority, QuotaStatus } from '../quotas/types.ts';
import { evaluateAnomalyAlerts } from './anomaly-rules.ts';
import type { AlertsConfig } from './config.ts';
import type { Destination } from './delivery/destination.ts';
import { compactPeaks, evaluateQuotaAlerts } from './quota-rules.ts';
import type { Alert, AlertRepository, AnomalyFinding, Evaluation } from './types.ts';

/**
 * The alerting service: one evaluation = load state → quota statuses of every tenant (and the
 * current anomaly findings) → the pure rules → save → hand the outcome to the destinations,
 * which deliver in the background. Safe to re-run for the same state: nothing changes, nothing
 * is written, nobody is notified again.
 */

export interface AlertingPorts {
  repository: AlertRepository;
  destinations: readonly Destination[];
  /**
   * `takePeaks`: usage peaks since the last call (LocalQuotaAuthority.takePeaks), so that a
   * limit reached between two evaluations alerts; without it only the usage at evaluation counts.
   */
  quotaAuthority: Pick<QuotaAuthority, 'status'> & { takePeaks?: () => Promise<QuotaStatus[]> };
  /** Every tenant to evaluate quotas for. */
  tenants: () => Iterable<string>;
  /**
   * The current finding per tenant × metric (the latest counts when there are several). Those
   * scoring below `anomaly_threshold` are not anomalous; an open anomaly alert with no anomalous
   * finding has recovered. Absent: no anomaly alerts.
   */
  anomalyFindings?: () => Promise<readonly AnomalyFinding[]>;
  config: Pick<AlertsConfig, 'quota_thresholds' | 'hysteresis' | 'evaluate_cron' | 'anomaly_for_s' | 'anomaly_threshold'>;
  /**
   * Seconds between delivery runs, whatever the evaluation schedule (default 5): re-sends to
   * Alertmanager must come more often than an alert's lifetime there (4 × resend_s) even when
   * `evaluate_cron` runs every few minutes, and failed webhooks are retried on time.
   */
  deliveryEveryS?: number;
  now: () => number;
  log: (line: string) => void;
}

export interface Alerting {
  /** One evaluation; rejects when the store fails (state unchanged, the next run retries). */
  evaluate(): Promise<void>;
  /** Waits until every destination has tried to send what is waiting (tests, shutdown). */
  flush(): Promise<void>;
  /** Firing alerts as of the last successful evaluation (metrics). */
  firing(): Alert[];
  jobs: JobSpec[];
}

/** Resolved episodes loaded with the state: a new anomaly episode must start after them. */
const RECENT_RESOLVED_MS = 3_600_000;
/** Quota status reads in flight at once. */
const STATUS_CONCURRENCY = 16;

export function createAlertingService(ports: AlertingPorts): Alerting {
  let current: Alert[] = [];
  // Peaks taken from the authority by an evaluation that then failed: the next one reads them.
  let unsavedPeaks: QuotaStatus[] = [];
  const runners = ports.destinations.map((d) => serialRunner(() => d.deliver().catch((err: unknown) => ports.log(`${d.name}: ${(err as Error).message}`))));
  const kick = () => Promise.all(runners.map((run) => run())).then(() => undefined);

  // One evaluation at a time: two reading the same state would both open an episode for the same
  // crossing (the job and a manual `evaluate()` in one process). A call while one runs waits for it.
  let previous: Promise<void> = Promise.resolve();
  function evaluate(): Promise<void> {
    const run = previous.then(evaluateOnce);
    previous = run.catch(() => {});
    return run;
  }

  async function evaluateOnce(): Promise<void> {
    try {
      const now = ports.now();
      const prev = await ports.repository.loadActive({ resolvedSince: now - RECENT_RESOLVED_MS });
      const peaks = compactPeaks([...unsavedPeaks, ...((await ports.quotaAuthority.takePeaks?.()) ?? [])], now);
      unsavedPeaks = peaks;
      const quota = await evaluateQuotas(ports, prev, now, peaks);
      const anomaly = await evaluateAnomalies(ports, prev, now);
      const alerts = [...quota.alerts, ...anomaly.alerts];
      const transitions = [...quota.transitions, ...anomaly.transitions];
      await ports.repository.save(
        alerts.filter((a) => a.updatedAt === now),
        transitions,
      );
      unsavedPeaks = [];
      current = alerts.filter((a) => a.state !== 'resolved');
      for (const t of transitions) ports.log(`alert ${t.to}: ${t.name} tenant=${t.tenantId} ${t.severity} (${t.key.slice(0, 12)})`);
      for (const d of ports.destinations) d.offer(alerts, transitions);
    } finally {
      // Also after a failed evaluation: firing alerts keep being re-sent to Alertmanager, and
      // earlier notifications retried, while the store is down.
      void kick();
    }
  }

  return {
    evaluate,
    flush: kick,
    firing: () => current.filter((a) => a.state === 'firing'),
    jobs: [
      { name: 'alerts', cron: ports.config.evaluate_cron, run: evaluate },
      // Not awaited, as after an evaluation: a receiver that is down keeps its destination busy
      // retrying for a minute, which is not this job overrunning (serialRunner queues one more).
      { name: 'alert-delivery', cron: `*/${deliveryEveryS(ports)} * * * * *`, run: async () => void kick() },
    ],
  };
}

const DEFAULT_DELIVERY_EVERY_S = 5;

/** Whole seconds, 1 to 30: a valid cron step of the seconds field. */
function deliveryEveryS(ports: AlertingPorts): number {
  return Math.min(30, Math.max(1, Math.floor(ports.deliveryEveryS ?? DEFAULT_DELIVERY_EVERY_S)));
}

async function evaluateQuotas(ports: AlertingPorts, prev: readonly Alert[], now: number, peaks: readonly QuotaStatus[]): Promise<Evaluation> {
  // Tenants with open quota alerts are read too, so a tenant removed from the config resolves.
  const tenants = new Set(ports.tenants());
  for (const a of prev) if (a.kind === 'quota' && a.state !== 'resolved') tenants.add(a.tenantId);
  const { statuses, complete } = await readStatuses(ports, [...tenants]);
  return evaluateQuotaAlerts(prev, statuses, {
    thresholds: ports.config.quota_thresholds,
    hysteresis: ports.config.hysteresis,
    now,
    tenants: complete,
    peaks,
  });
}

/** A tenant whose status cannot be read is left out of `complete`: its alerts stay as they are. */
async function readStatuses(ports: AlertingPorts, tenants: string[]): Promise<{ statuses: QuotaStatus[]; complete: Set<string> }> {
  const statuses: QuotaStatus[] = [];
  const complete = new Set<string>();
  for (let i = 0; i < tenants.length; i += STATUS_CONCURRENCY) {
    const chunk = tenants.slice(i, i + STATUS_CONCURRENCY);
    const results = await Promise.allSettled(chunk.map((t) => ports.quotaAuthority.status(t)));
    results.forEach((r, j) => {
      const tenant = chunk[j]!;
      if (r.status === 'rejected') {
        ports.log(`alerts: quota status of ${tenant} unavailable (${(r.reason as Error).message}); its alerts are kept`);
        return;
      }
      complete.add(tenant);
      statuses.push(...r.value.filter((s) => s.tenantId === tenant));
    });
  }
  return { statuses, complete };
}

async function evaluateAnomalies(ports: AlertingPorts, prev: readonly Alert[], now: number): Promise<Evaluation> {
  const carried: Evaluation = { alerts: prev.filter((a) => a.kind === 'anomaly'), transitions: [] };
  if (!ports.anomalyFindings) return carried;
  let findings: readonly AnomalyFinding[];
  try {
    findings = await ports.anomalyFindings();
  } catch (err) {
    ports.log(`alerts: anomaly findings unavailable (${(err as Error).message}); anomaly alerts are kept`);
    return carried;
  }
  return evaluateAnomalyAlerts(prev, findings, { forSeconds: ports.config.anomaly_for_s, now, minScore: ports.config.anomaly_threshold });
}

/**
 * Runs `task` one at a time. A call while it runs schedules one more run after it (calls during
 * that wait share it), so work offered meanwhile is never missed and runs never pile up.
 */
export function serialRunner(task: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  const run = (): Promise<void> => {
    if (queued) return queued;
    if (!running) {
      running = task().finally(() => {
        running = undefined;
      });
      return running;
    }
    queued = running.then(() => {
      queued = undefined;
      return run();
    });
    return queued;
  };
  return run;
}
