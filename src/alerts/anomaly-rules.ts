import { alertKey, formatNumber, isoTime, lastEndByKey, openByKey, openEpisode, resolveEpisode, reviseEpisode } from './lifecycle.ts';
import type { Alert, AnomalyFinding, Evaluation, FindingSeverity, Severity } from './types.ts';

export const ANOMALY_ALERT_NAME = 'InferledgerAnomaly';

export interface AnomalyAlertOptions {
  /** The condition must hold this long before the alert fires (config `anomaly_for_s`). */
  forSeconds: number;
  now: number;
  /** A finding scoring below this is not anomalous (config `anomaly_threshold`). Default 0. */
  minScore?: number;
}

/**
 * Anomaly alerts (SPEC §6), one alert per tenant × metric. `findings` is the complete current
 * state: a tenant × metric with an open episode and no anomalous finding has recovered.
 * 1. A finding with no open episode starts one at the finding's time (never before the previous
 *    episode of the same alert ended), and is detected now (annotation `detected_at`): pending, or
 *    firing at once when forSeconds is 0.
 * 2. Pending becomes firing once now − detected_at ≥ forSeconds (less a second of scheduling
 *    jitter: TICK_JITTER_MS). Counted from detection, as
 *    Prometheus counts `for` from the first evaluation that saw the condition, not from the
 *    finding's hour: a finding is always at least an hour old when its hour is scored, so any
 *    `for` under an hour would be met at once. Episodes stored before `detected_at` existed count
 *    from startsAt.
 * 3. While open, value, severity and annotations follow the latest finding.
 * 4. No anomalous finding: the episode resolves (`recovered`); a pending one resolves without ever firing.
 * Of several findings for one tenant × metric, the latest counts; one scoring below `minScore`
 * means "not anomalous".
 */
/**
 * Evaluations run on a cron tick of whole seconds and read the clock a few milliseconds after it,
 * so the one `for` after the detecting one can measure a hair less than `for` (detected at
 * 12:00:00.006, now 12:10:00.002) and fire a whole evaluation interval late. Prometheus avoids
 * this by stamping evaluations with their scheduled time; a second's slack does the same here.
 */
const TICK_JITTER_MS = 1000;

export function evaluateAnomalyAlerts(prev: readonly Alert[], findings: readonly AnomalyFinding[], opts: AnomalyAlertOptions): Evaluation {
  const ours = prev.filter((a) => a.kind === 'anomaly');
  const open = openByKey(ours);
  const lastEnd = lastEndByKey(ours);
  const result: Evaluation = { alerts: ours.filter((a) => a.state === 'resolved'), transitions: [] };
  const forMs = opts.forSeconds * 1000;

  for (const [key, finding] of latestByKey(findings)) {
    if (finding.score < (opts.minScore ?? 0)) continue;
    const current = open.get(key);
    open.delete(key);
    if (!current) {
      const startsAt = Math.max(Math.round(finding.at), lastEnd.get(key) ?? -Infinity);
      const opened = openAnomalyAlert(finding, startsAt, forMs === 0, opts.now);
      result.alerts.push(opened.alert);
      result.transitions.push(opened.transition);
      continue;
    }
    const detectedAt = current.annotations.detected_at ?? isoTime(current.startsAt);
    const held = opts.now - Date.parse(detectedAt);
    const state = current.state === 'pending' && held < forMs - TICK_JITTER_MS ? 'pending' : 'firing';
    const revised = reviseEpisode(
      current,
      { state, severity: alertSeverity(finding.severity), value: finding.actual, annotations: anomalyAnnotations(finding, detectedAt) },
      opts.now,
    );
    result.alerts.push(revised.alert);
    if (revised.transition) result.transitions.push(revised.transition);
  }

  for (const alert of open.values()) {
    const resolved = resolveEpisode(alert, opts.now, 'recovered');
    result.alerts.push(resolved.alert);
    result.transitions.push(resolved.transition);
  }
  return result;
}

function openAnomalyAlert(finding: AnomalyFinding, startsAt: number, firesAtOnce: boolean, now: number) {
  return openEpisode(
    {
      kind: 'anomaly',
      tenantId: finding.tenantId,
      name: ANOMALY_ALERT_NAME,
      severity: alertSeverity(finding.severity),
      state: firesAtOnce ? 'firing' : 'pending',
      labels: { metric: finding.metric },
      annotations: anomalyAnnotations(finding, isoTime(now)),
      value: finding.actual,
      startsAt,
    },
    now,
  );
}

function latestByKey(findings: readonly AnomalyFinding[]): Map<string, AnomalyFinding> {
  const out = new Map<string, AnomalyFinding>();
  for (const f of findings) {
    const key = alertKey('anomaly', f.tenantId, ANOMALY_ALERT_NAME, { metric: f.metric });
    const seen = out.get(key);
    if (!seen || f.at > seen.at) out.set(key, f);
  }
  return out;
}

/**
 * Alertmanager's customary severities from the describer's scale. Only `critical` (≥ 100 % off)
 * pages; `high` stays a warning so a 50 % swing does not wake anyone. The finding's own severity
 * is kept as the `anomaly_severity` annotation.
 */
export function alertSeverity(s: FindingSeverity): Severity {
  switch (s) {
    case 'low':
      return 'info';
    case 'medium':
    case 'high':
      return 'warning';
    default:
      return s;
  }
}

function anomalyAnnotations(f: AnomalyFinding, detectedAt: string): Record<string, string> {
  const pct = f.impact.percent;
  const change = pct === null ? '' : ` (${pct >= 0 ? '+' : ''}${formatNumber(pct, 4)}%)`;
  const contributors = f.topContributors.map((c) => `${c.dimension}=${c.key} (${formatNumber(c.expected)} → ${formatNumber(c.actual)})`);
  return {
    summary: `${f.metric} of tenant ${f.tenantId} is ${formatNumber(f.actual)}, expected ${formatNumber(f.expected)}${change}`,
    description: contributors.length ? `Top contributors: ${contributors.join(', ')}` : 'No contributor breakdown available',
    observed_at: isoTime(f.at),
    detected_at: detectedAt,
    score: formatNumber(f.score),
    anomaly_severity: f.severity,
    expected: formatNumber(f.expected),
    actual: formatNumber(f.actual),
    impact_absolute: formatNumber(f.impact.absolute),
    impact_percent: pct === null ? '' : formatNumber(pct),
    top_contributors: JSON.stringify(f.topContributors),
  };
}
