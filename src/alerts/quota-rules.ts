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
  /**
   * The highest usage reached since the last evaluation (QuotaStatus at its peak; see
   * LocalQuotaAuthority.takePeaks). One in a status's current window stands in for that status
   * when higher; one whose window has ended (`resetAt` ≤ now) is evaluated first, on its own.
   */
  peaks?: readonly QuotaStatus[];
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
 * The ratio is the highest since the last evaluation (`peaks`), not only the current one: a limit
 * reached in a minute's last seconds fires in the next minute's first evaluation, from that
 * minute's peak, and a concurrency burst between two evaluations fires too. Such an episode stays
 * firing until the evaluation after (an episode never opens and resolves in one evaluation, which
 * Alertmanager would never notify), then resolves on the window's reset as usual.
 * Severity: warning below a threshold of 1, critical at 1 and above.
 */
export function evaluateQuotaAlerts(prev: readonly Alert[], statuses: readonly QuotaStatus[], opts: QuotaAlertOptions): Evaluation {
  const ours = prev.filter((a) => a.kind === 'quota');
  const open = openByKey(ours);
  const openedNow = new Set<string>();
  const result: Evaluation = { alerts: ours.filter((a) => a.state === 'resolved'), transitions: [] };

  const observe = (status: QuotaStatus, threshold: number, key: string) => {
    const step = stepQuotaAlert(open.get(key), status, threshold, opts, openedNow.has(key));
    for (const a of step.alerts) if (a.state === 'resolved') result.alerts.push(a);
    const stillOpen = step.alerts.find((a) => a.state !== 'resolved');
    if (stillOpen) open.set(key, stillOpen);
    else open.delete(key);
    for (const t of step.transitions) {
      result.transitions.push(t);
      if (t.from === null) openedNow.add(key);
    }
  };

  const { ended, atPeak } = splitPeaks(statuses, opts.peaks ?? [], opts.now);
  for (const peak of ended) for (const threshold of opts.thresholds) observe(peak, threshold, quotaKey(peak, threshold));

  const seen = new Set<string>();
  for (const status of statuses) {
    for (const threshold of opts.thresholds) {
      const key = quotaKey(status, threshold);
      if (seen.has(key)) continue;
      seen.add(key);
      observe(atPeak(status), threshold, key);
    }
  }

  const scope = opts.tenants ?? new Set(statuses.map((s) => s.tenantId));
  for (const [key, alert] of open) {
    if (seen.has(key) || !scope.has(alert.tenantId) || openedNow.has(key)) {
      result.alerts.push(alert);
      continue;
    }
    const resolved = resolveEpisode(alert, opts.now, 'quota_removed');
    result.alerts.push(resolved.alert);
    result.transitions.push(resolved.transition);
  }
  return result;
}

const quotaKey = (status: QuotaStatus, threshold: number): string => alertKey('quota', status.tenantId, QUOTA_ALERT_NAME, quotaLabels(status, threshold));

/**
 * Peaks kept for a later evaluation (one that failed took them from the authority): per tenant ×
 * quota, the highest of the windows ended by `now` and the highest of each window still running.
 * Bounded however long evaluations keep failing; an ended window's peak can fire at most one
 * episode anyway.
 */
export function compactPeaks(peaks: readonly QuotaStatus[], now: number): QuotaStatus[] {
  const kept = new Map<string, QuotaStatus>();
  for (const p of peaks) {
    const ended = p.resetAt !== undefined && p.resetAt <= now;
    const id = JSON.stringify([p.tenantId, p.kind, ended ? 'ended' : (p.windowStart ?? null)]);
    const prev = kept.get(id);
    if (!prev || p.ratio > prev.ratio) kept.set(id, p);
  }
  return [...kept.values()];
}

const peakId = (s: QuotaStatus): string => JSON.stringify([s.tenantId, s.kind, s.windowStart ?? null]);

/**
 * Sorts the peaks: those of ended windows (oldest window first, the highest per window), and a
 * lookup that lifts a current status to its peak when the peak is higher. A peak of a window that
 * is neither current nor ended (the quota has no current status) is left out.
 */
function splitPeaks(statuses: readonly QuotaStatus[], peaks: readonly QuotaStatus[], now: number) {
  const highest = new Map<string, QuotaStatus>();
  for (const p of peaks) {
    if (!Number.isFinite(p.ratio)) continue;
    const id = peakId(p);
    const kept = highest.get(id);
    if (!kept || p.ratio > kept.ratio) highest.set(id, p);
  }
  const current = new Set(statuses.map(peakId));
  const ended = [...highest.values()]
    .filter((p) => !current.has(peakId(p)) && p.resetAt !== undefined && p.resetAt <= now)
    .sort((a, b) => a.windowStart! - b.windowStart!);
  const atPeak = (status: QuotaStatus): QuotaStatus => {
    const peak = highest.get(peakId(status));
    return peak && Number.isFinite(status.ratio) && peak.ratio > status.ratio ? { ...status, used: peak.used, ratio: peak.ratio } : status;
  };
  return { ended, atPeak };
}

function stepQuotaAlert(
  current: Alert | undefined,
  status: QuotaStatus,
  threshold: number,
  opts: QuotaAlertOptions,
  openedNow: boolean,
): { alerts: Alert[]; transitions: Transition[] } {
  const out = { alerts: [] as Alert[], transitions: [] as Transition[] };
  if (!Number.isFinite(status.ratio)) {
    if (current) out.alerts.push(current);
    return out;
  }
  let open = current;
  if (open && windowChanged(open, status)) {
    // Opened in this evaluation from an ended window's peak: it fires now and resets at the next.
    if (openedNow) {
      out.alerts.push(open);
      return out;
    }
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
    summary: `Tenant ${status.tenantId} reached ${percent(status.ratio)} of its ${status.kind} quota (threshold ${percent(threshold)})`,
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
