import { episodeId } from '../lifecycle.ts';
import type { Alert } from '../types.ts';
import { describeUrl, type Destination } from './destination.ts';
import { postWithRetry, ReceiverBackoff, type PostDeps } from './http-post.ts';
import { memoryOutbox, type Outbox } from './outbox.ts';

/** One item of Alertmanager's `POST /api/v2/alerts` body (postableAlerts). */
export interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  generatorURL?: string;
}

export interface AlertmanagerTarget {
  /** Base URL, e.g. http://alertmanager:9093. */
  url: string;
  resendS: number;
}

export interface AlertmanagerDeps extends PostDeps {
  now: () => number;
  log: (line: string) => void;
  /** Base URL of this API, for generatorURL; omitted when unknown. */
  publicUrl?: string;
  /**
   * Episodes whose firing has not reached Alertmanager yet, by episode id (default: memory;
   * `diskOutbox` keeps the page through a crash or a stop while Alertmanager is unreachable).
   */
  outbox?: Outbox;
}

/**
 * A firing alert is sent with endsAt a few resend intervals ahead, as Prometheus does: kept alive
 * by our re-sends, it resolves by itself in Alertmanager if we stop sending (process gone).
 */
const LIFETIME_RESENDS = 4;
const MAX_UNSENT_RESOLVES = 10_000;

/**
 * Pure mapping to Alertmanager's model. The identifying labels (alertname, tenant, quota or
 * metric, threshold) make Alertmanager's fingerprint; `inferledger_key` links back to
 * `GET /v1/alerts`.
 */
export function toAlertmanagerAlert(a: Alert, opts: { now: number; resendMs: number; publicUrl?: string }): AlertmanagerAlert {
  const endsAt = a.state === 'resolved' ? (a.endsAt ?? opts.now) : opts.now + LIFETIME_RESENDS * opts.resendMs;
  const out: AlertmanagerAlert = {
    labels: { ...a.labels, alertname: a.name, tenant: a.tenantId, severity: a.severity, inferledger_key: a.key },
    annotations: a.annotations,
    startsAt: new Date(a.startsAt).toISOString(),
    endsAt: new Date(endsAt).toISOString(),
  };
  if (opts.publicUrl) {
    const base = opts.publicUrl.replace(/\/+$/, '');
    out.generatorURL = `${base}/v1/alerts?state=${a.state}&tenant=${encodeURIComponent(a.tenantId)}`;
  }
  return out;
}

/**
 * Alertmanager v2 delivery. Alertmanager forgets an alert that is not re-sent, so this keeps the
 * current firing set and re-sends each member every `resendS` (at the first `deliver` after it
 * starts firing, and after a restart of this process). A resolve is sent once, with endsAt; if it
 * fails, it is retried on the next run. Pending alerts are never sent (as in Prometheus).
 *
 * A firing that never reached Alertmanager before it resolved (Alertmanager down for a minute,
 * and a per-minute quota's episode is shorter than that) is still owed: Alertmanager does not
 * notify an alert that arrives already resolved, so the page would be lost. It is sent as firing
 * once Alertmanager answers, and its resolve one `resendS` later, after Alertmanager's
 * `group_wait` (30 s by default) has notified it. Found by dogfooding.
 *
 * What is owed survives a restart through `deps.outbox`: an episode is written there when it is
 * first offered as firing and deleted once Alertmanager took its firing (or, for an owed one, its
 * late resolve). Read back at the first offer after a start, an entry whose episode still fires is
 * simply sent; one that resolved meanwhile (while this process was down, or before its firing got
 * through) is owed as above, so the page is not lost to a stop while Alertmanager was unreachable.
 *
 * Unsent resolves of delivered firings live in memory, so the first offer after a start (which
 * carries the episodes resolved in the last hour, from the store) sends again every resolve that
 * Alertmanager may still hold as firing: those that ended within one alert lifetime
 * (LIFETIME_RESENDS × resend_s). A resolve it already had changes nothing there (no second
 * notification); Alertmanager ends the others itself at their endsAt.
 */
export function createAlertmanagerDestination(target: AlertmanagerTarget, deps: AlertmanagerDeps): Destination {
  const url = `${target.url.replace(/\/+$/, '')}/api/v2/alerts`;
  const name = `alertmanager ${describeUrl(url)}`;
  const resendMs = target.resendS * 1000;
  let firing = new Map<string, Alert>();
  const resolved = new Map<string, Alert>();
  const lastSent = new Map<string, number>();
  /** Episodes this process offered as firing, and whether Alertmanager has taken one as firing. */
  const firingOffered = new Map<string, { delivered: boolean }>();
  /** Resolved episodes whose firing never reached Alertmanager; `firingSentAt` once it has. */
  const owed = new Map<string, { alert: Alert; firingSentAt?: number }>();
  /** The durable copy of what is owed: episodes offered as firing and not yet delivered, and `owed`. */
  const undelivered = deps.outbox ?? memoryOutbox();
  const backoff = new ReceiverBackoff(deps.policy, deps.now, deps.random);
  let started = false;

  function owe(id: string, alert: Alert): void {
    owed.set(id, { alert });
    undelivered.set(id, alert);
    resolved.delete(id);
  }

  /** Nothing more is owed for this episode: its page was given (or given up). */
  function settle(id: string): void {
    owed.delete(id);
    undelivered.delete(id);
  }

  /** At the first offer: what the previous process left undelivered, against the stored state. */
  function takeOverUndelivered(byEpisode: ReadonlyMap<string, Alert>, now: number): void {
    for (const [id, left] of undelivered.entries()) {
      const current = byEpisode.get(id);
      if (current?.state === 'firing') continue; // still firing: sent as such, and deleted once taken
      if (current?.state === 'resolved') owe(id, current);
      // Resolved longer ago than the stored state reaches back: its end is not known, so it ends now.
      else owe(id, left.state === 'resolved' ? left : { ...left, state: 'resolved', endsAt: now, updatedAt: now });
    }
    if (owed.size) deps.log(`${name}: ${owed.size} alerts that fired without reaching Alertmanager are owed from before the start; they are sent as firing, then resolved`);
  }

  return {
    name,
    offer(alerts, transitions) {
      const byEpisode = new Map(alerts.map((a) => [episodeId(a), a]));
      if (!started) {
        started = true;
        const now = deps.now();
        for (const a of alerts) {
          if (a.state === 'resolved' && a.endsAt !== undefined && now - a.endsAt < LIFETIME_RESENDS * resendMs) resolved.set(episodeId(a), a);
        }
        takeOverUndelivered(byEpisode, now);
      }
      firing = new Map(alerts.filter((a) => a.state === 'firing').map((a) => [episodeId(a), a]));
      for (const [id, alert] of firing) {
        if (firingOffered.has(id)) continue;
        firingOffered.set(id, { delivered: false });
        // On disk before the evaluation returns, like a webhook notification.
        undelivered.set(id, alert);
      }
      for (const t of transitions) {
        const id = episodeId(t);
        const alert = byEpisode.get(id);
        if (!(t.to === 'resolved' && t.from === 'firing' && alert)) continue;
        if (firingOffered.get(id)?.delivered === false) owe(id, alert);
        else resolved.set(id, alert);
        firingOffered.delete(id);
      }
      // Unsent resolves of an unreachable Alertmanager: it resolves those alerts itself at endsAt.
      for (const id of resolved.keys()) if (resolved.size > MAX_UNSENT_RESOLVES) resolved.delete(id);
      for (const id of owed.keys()) {
        if (owed.size <= MAX_UNSENT_RESOLVES) break;
        settle(id);
        deps.log(`${name}: more than ${MAX_UNSENT_RESOLVES} owed alerts, dropped the oldest`);
      }
      for (const id of lastSent.keys()) if (!firing.has(id)) lastSent.delete(id);
    },
    async deliver() {
      const now = deps.now();
      // Alertmanager knows an alert by its labels, which an alert's episodes share: a resolve of an
      // earlier episode sent while a later one fires would end the later one there. Found by
      // dogfooding: after a restart the last episode's resolve went out after the new firing, and
      // the new one was never paged. Such a resolve is superseded: the current episode is what
      // Alertmanager must show.
      const firingKeys = new Set([...firing.values()].map((a) => a.key));
      for (const [id, a] of resolved) if (firingKeys.has(a.key)) resolved.delete(id);
      for (const [id, o] of owed) {
        if (o.firingSentAt === undefined || !firingKeys.has(o.alert.key)) continue;
        settle(id); // its late firing was sent: the page was given
      }
      const due = [...firing].filter(([id]) => now - (lastSent.get(id) ?? -Infinity) >= resendMs);
      const ends = [...resolved];
      const lateFirings = [...owed].filter(([, o]) => o.firingSentAt === undefined);
      const lateEnds = [...owed].filter(([, o]) => o.firingSentAt !== undefined && now - o.firingSentAt >= resendMs);
      if (due.length + ends.length + lateFirings.length + lateEnds.length === 0) return;
      const policy = backoff.permit();
      if (!policy) return;
      // Ends first, firings after: within one batch the later item wins in Alertmanager.
      const items = [
        ...ends.map(([, a]) => a),
        ...lateEnds.map(([, o]) => o.alert),
        ...due.map(([, a]) => a),
        ...lateFirings.map(([, o]): Alert => ({ ...o.alert, state: 'firing' })),
      ];
      const body = JSON.stringify(items.map((a) => toAlertmanagerAlert(a, { now, resendMs, publicUrl: deps.publicUrl })));
      const outcome = await postWithRetry(url, () => ({ body, headers: {} }), { ...deps, policy });
      backoff.record(outcome);
      if (!outcome.ok && outcome.retryable) {
        deps.log(`${name}: delivery failed after ${outcome.attempts} attempt(s) (${outcome.reason}); next try in ${Math.ceil(backoff.waitMs() / 1000)} s or later`);
        return;
      }
      // A refusal (400: a payload Alertmanager rejects) would fail again at once: wait a resend.
      if (!outcome.ok) deps.log(`${name}: Alertmanager refused ${items.length} alerts (${outcome.reason})`);
      for (const [id] of due) {
        lastSent.set(id, now);
        const offered = firingOffered.get(id);
        if (offered && !offered.delivered) {
          offered.delivered = true;
          undelivered.delete(id);
        }
      }
      for (const [id] of ends) resolved.delete(id);
      for (const [, o] of lateFirings) o.firingSentAt = now;
      for (const [id] of lateEnds) settle(id);
    },
    pending: () => resolved.size + firing.size + owed.size,
  };
}
