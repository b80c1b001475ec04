/**
 * The alert model (SPEC §6) and the ports the alerting service talks through. Times are epoch
 * milliseconds throughout.
 */

export type AlertKind = 'quota' | 'anomaly';
export type AlertState = 'pending' | 'firing' | 'resolved';
/** Prometheus/Alertmanager's customary severities. */
export type Severity = 'info' | 'warning' | 'critical';

/**
 * One episode of one alert. `key` names the alert (the same for every episode of one rule on one
 * tenant and label set); `key` + `startsAt` names the episode: a new crossing after a resolve is
 * a new episode with a new `startsAt`.
 */
export interface Alert {
  key: string;
  kind: AlertKind;
  tenantId: string;
  /** Alert rule name, the Alertmanager `alertname`. */
  name: string;
  severity: Severity;
  state: AlertState;
  /** Identifying labels (part of the key): `quota` + `threshold`, or `metric`. */
  labels: Record<string, string>;
  /** Human- and machine-readable detail; never part of the key. */
  annotations: Record<string, string>;
  /** Quota: usage ratio. Anomaly: the actual value. */
  value: number;
  startsAt: number;
  endsAt?: number;
  /**
   * When the episode last changed (state, value, severity or annotations). An evaluation sets it
   * to exactly its `now` on the episodes it changed, which is how callers tell what to persist.
   */
  updatedAt: number;
}

/** A state change of one episode; `from` is null when the episode begins. */
export interface Transition {
  key: string;
  startsAt: number;
  tenantId: string;
  kind: AlertKind;
  name: string;
  severity: Severity;
  from: AlertState | null;
  to: AlertState;
  at: number;
  value: number;
}

export interface Evaluation {
  /** Every episode given in `prev` (changed or not) plus the new ones. */
  alerts: Alert[];
  transitions: Transition[];
}

/**
 * A finding's severity: the anomaly describer's scale (src/anomalies: low < 20 %, medium < 50 %,
 * high < 100 %, critical beyond) or an alert severity as is.
 */
export type FindingSeverity = Severity | 'low' | 'medium' | 'high';

/** One anomalous metric of one tenant, from the anomaly detector (src/anomalies). */
export interface AnomalyFinding {
  tenantId: string;
  /** e.g. cost_per_hour, requests_per_hour, error_rate, p95_latency, gpu_seconds. */
  metric: string;
  /** The anomalous point's time. */
  at: number;
  /** Anomaly score in [0, 1]. */
  score: number;
  expected: number;
  actual: number;
  /** `percent` is null when nothing was expected (no meaningful percentage). */
  impact: { absolute: number; percent: number | null };
  severity: FindingSeverity;
  topContributors: Array<{ dimension: string; key: string; expected: number; actual: number; impact: number }>;
}

export interface AlertFilter {
  /** Absent: every tenant (admin). */
  tenantId?: string;
  state?: AlertState;
  /** Episodes overlapping [from, to). */
  from: number;
  to: number;
  limit: number;
}

/** Persistence of alert episodes and their transitions (ClickHouse adapter: store/alert-store.ts). */
export interface AlertRepository {
  /** Every pending or firing episode, plus episodes resolved at or after `resolvedSince`. */
  loadActive(opts: { resolvedSince: number }): Promise<Alert[]>;
  /** Idempotent: the same episodes and transitions saved twice read back once. */
  save(changed: readonly Alert[], transitions: readonly Transition[]): Promise<void>;
  list(filter: AlertFilter): Promise<Alert[]>;
}
