import type { QuotaStatus } from '../quotas/types.ts';
import { alertKey, formatNumber, isoTime, openByKey, openEpisode, resolveEpisode, reviseEpisode } from './lifecycle.ts';
import type { Alert, Evaluation, Severity, Transition } from './types.ts';

export const QUOTA_ALERT_NAME = 'InferledgerQuotaThreshold';

export interface QuotaAlertOptions {
  /** Usage ratios that raise an alert (config `quota_thresholds`). */
  thresholds: readonly number[];
  /** Resolve below threshold × (1 − hysteresis), so usage hovering at a threshold does not flap. */
  hysteresis: number;
  now: number;
  /**
   * Tenants whose statuses are complete in this call. Their open alerts for quotas or thresholds
   * no longer reported resolve (`quota_removed`); alerts of other tenants are left as they are,
   * so a tenant whose status could not be read keeps its alerts. Default: tenants in `statuses`.
   */
  tenants?: ReadonlySet<string>;
}

/**
 * Quota alerts (SPEC §6), one alert per tenant × quota × threshold:
 * 1. ratio ≥ threshold with no open episode: a new episode, straight to firing (a quota crossing
 *    needs no `for` period); staying above is the same episode, whose value is kept current.
 * 2. The quota window started again (windowStart changed): the episode resolves
 *    (`window_reset`); if the new window is already over the threshold, a new episode fires.
 * 3. ratio < threshold × (1 − hysteresis): resolves (`below_threshold`).
 * 4. A non-finite ratio is no information: the episode is left untouched. A stale status (the
 *    last known usage) can fire and reset, but never resolves an episode by usage.
 * Severity: warning below a threshold of 1, critical at 1 and above.
 */
export function evaluateQuotaAlerts(prev: readonly Alert[], statuses: readonly QuotaStatus[], opts: QuotaAlertOptions): Evaluation {
  const ours = prev.filter((a) => a.kind === 'quota');
  const open = openByKey(ours);
  const result: Evaluation = { alerts: ours.filter((a) => a.state === 'resolved'), transitions: [] };
  const seen = new Set<string>();

  for (const status of statuses) {
    for (const threshold of opts.thresholds) {
      const key = alertKey('quota', status.tenantId, QUOTA_ALERT_NAME, quotaLabels(status, threshold));
      if (seen.has(key)) continue;
      seen.add(key);
      const step = stepQuotaAlert(open.get(key), status, threshold, opts);
      result.alerts.push(...step.alerts);
      result.transitions.push(...step.transitions);
    }
  }

  const scope = opts.tenants ?? new Set(statuses.map((s) => s.tenantId));
  for (const [key, alert] of open) {
    if (seen.has(key)) continue;
    if (!scope.has(alert.tenantId)) {
      result.alerts.push(alert);
      continue;
    }
    const resolved = resolveEpisode(alert, opts.now, 'quota_removed');
    result.alerts.push(resolved.alert);
    result.transitions.push(resolved.transition);
  }
  return result;
}

function stepQuotaAlert(
  current: Alert | undefined,
  status: QuotaStatus,
  threshold: number,
  opts: QuotaAlertOptions,
): { alerts: Alert[]; transitions: Transition[] } {
  const out = { alerts: [] as Alert[], transitions: [] as Transition[] };
  if (!Number.isFinite(status.ratio)) {
    if (current) out.alerts.push(current);
    return out;
  }
  let open = current;
  if (open && windowChanged(open, status)) {
    const resolved = resolveEpisode(open, opts.now, 'window_reset');
    out.alerts.push(resolved.alert);
    out.transitions.push(resolved.transition);
    open = undefined;
  }
  const below = status.ratio < threshold * (1 - opts.hysteresis);
  if (open && below && status.stale) {
    // Stale usage (a monthly quota whose refresh failed) is a last known value: enough to fire
    // on, as monthly usage only grows, but no evidence that usage fell. Keep the episode as is.
    out.alerts.push(open);
  } else if (open) {
    const step = below
      ? resolveEpisode(open, opts.now, 'below_threshold')
      : reviseEpisode(open, { value: status.ratio, annotations: quotaAnnotations(status, threshold) }, opts.now);
    out.alerts.push(step.alert);
    if (step.transition) out.transitions.push(step.transition);
  } else if (status.ratio >= threshold) {
    const opened = fireQuotaAlert(status, threshold, opts.now);
    out.alerts.push(opened.alert);
    out.transitions.push(opened.transition);
  }
  return out;
}

/** A quota crossing needs no `for` period: the episode starts firing at once. */
function fireQuotaAlert(status: QuotaStatus, threshold: number, now: number) {
  return openEpisode(
    {
      kind: 'quota',
      tenantId: status.tenantId,
      name: QUOTA_ALERT_NAME,
      severity: quotaSeverity(threshold),
      state: 'firing',
      labels: quotaLabels(status, threshold),
      annotations: quotaAnnotations(status, threshold),
      value: status.ratio,
      startsAt: now,
    },
    now,
  );
}

export const quotaSeverity = (threshold: number): Severity => (threshold >= 1 ? 'critical' : 'warning');

function quotaLabels(status: QuotaStatus, threshold: number): Record<string, string> {
  return { quota: status.kind, threshold: formatNumber(threshold) };
}

/** The episode's window is recorded in its annotations; concurrency quotas have none. */
function windowChanged(alert: Alert, status: QuotaStatus): boolean {
  const recorded = alert.annotations.window_start;
  if (status.windowStart === undefined || recorded === undefined) return false;
  return Date.parse(recorded) !== status.windowStart;
}

const percent = (ratio: number): string => `${formatNumber(ratio * 100, 4)}%`;

function quotaAnnotations(status: QuotaStatus, threshold: number): Record<string, string> {
  const resets = status.resetAt === undefined ? '' : `; the window resets at ${isoTime(status.resetAt)}`;
  const annotations: Record<string, string> = {
    summary: `Tenant ${status.tenantId} is at ${percent(status.ratio)} of its ${status.kind} quota (threshold ${percent(threshold)})`,
    description: `${status.tenantId} used ${String(status.used)} of ${String(status.limit)} (${status.kind})${resets}`,
    used: String(status.used),
    limit: String(status.limit),
    ratio: formatNumber(status.ratio),
  };
  if (status.stale) annotations.usage_stale = 'true';
  if (status.windowStart !== undefined) annotations.window_start = isoTime(status.windowStart);
  if (status.resetAt !== undefined) annotations.reset_at = isoTime(status.resetAt);
  return annotations;
}
