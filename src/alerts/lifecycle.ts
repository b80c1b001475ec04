import { createHash } from 'node:crypto';
import type { Alert, AlertKind, AlertState, Severity, Transition } from './types.ts';

/**
 * Episode building blocks shared by the quota and anomaly rules. Pure: `now` comes in, nothing
 * is read from the clock.
 */

/**
 * Deterministic dedupe key: SHA-256 (hex) of kind, tenant, rule name and the labels sorted by
 * name. JSON of an array keeps the parts unambiguous (no separator a tenant id could contain).
 */
export function alertKey(kind: AlertKind, tenantId: string, rule: string, labels: Record<string, string>): string {
  const sorted = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify([kind, tenantId, rule, sorted])).digest('hex');
}

/** Identifies one episode (the stored row's sort key, less the tenant the key already covers). */
export const episodeId = (a: Pick<Alert, 'key' | 'startsAt'>): string => `${a.key}@${a.startsAt}`;

export function transitionOf(a: Alert, from: AlertState | null, at: number): Transition {
  return {
    key: a.key,
    startsAt: a.startsAt,
    tenantId: a.tenantId,
    kind: a.kind,
    name: a.name,
    severity: a.severity,
    from,
    to: a.state,
    at,
    value: a.value,
  };
}

export interface EpisodeInit {
  kind: AlertKind;
  tenantId: string;
  name: string;
  severity: Severity;
  state: Exclude<AlertState, 'resolved'>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  value: number;
  startsAt: number;
}

export function openEpisode(init: EpisodeInit, now: number): { alert: Alert; transition: Transition } {
  const alert: Alert = { ...init, key: alertKey(init.kind, init.tenantId, init.name, init.labels), updatedAt: now };
  return { alert, transition: transitionOf(alert, null, now) };
}

/** Ends an episode; `reason` is kept as an annotation so receivers can tell a reset from a drop. */
export function resolveEpisode(a: Alert, now: number, reason: string): { alert: Alert; transition: Transition } {
  const alert: Alert = { ...a, state: 'resolved', endsAt: now, updatedAt: now, annotations: { ...a.annotations, resolved_reason: reason } };
  return { alert, transition: transitionOf(alert, a.state, now) };
}

export interface Revision {
  state?: Exclude<AlertState, 'resolved'>;
  severity?: Severity;
  value?: number;
  annotations?: Record<string, string>;
}

/**
 * Applies a revision to an open episode. `updatedAt` moves only when something actually changed,
 * so re-evaluating an unchanged state writes nothing; a state change also yields a transition.
 */
export function reviseEpisode(a: Alert, rev: Revision, now: number): { alert: Alert; transition?: Transition } {
  const next: Alert = {
    ...a,
    state: rev.state ?? a.state,
    severity: rev.severity ?? a.severity,
    value: rev.value ?? a.value,
    annotations: rev.annotations ?? a.annotations,
  };
  const changed =
    next.state !== a.state || next.severity !== a.severity || next.value !== a.value || !sameRecord(next.annotations, a.annotations);
  if (!changed) return { alert: a };
  const alert = { ...next, updatedAt: now };
  return next.state === a.state ? { alert } : { alert, transition: transitionOf(alert, a.state, now) };
}

function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/** The open (pending or firing) episode of each key; at most one exists per key. */
export function openByKey(alerts: readonly Alert[]): Map<string, Alert> {
  const out = new Map<string, Alert>();
  for (const a of alerts) if (a.state !== 'resolved') out.set(a.key, a);
  return out;
}

/** Latest end of a resolved episode per key: a new episode of that key never starts before it. */
export function lastEndByKey(alerts: readonly Alert[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const a of alerts) {
    if (a.state === 'resolved' && a.endsAt !== undefined) out.set(a.key, Math.max(out.get(a.key) ?? -Infinity, a.endsAt));
  }
  return out;
}

/** Formats a number for annotations without float noise (0.8500000001 → "0.85"). */
export function formatNumber(n: number, digits = 6): string {
  return Number.isFinite(n) ? String(Number(n.toPrecision(digits))) : String(n);
}

export const isoTime = (ms: number): string => new Date(ms).toISOString();
