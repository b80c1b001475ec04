import { alertToJson } from '../alert-json.ts';
import { episodeId } from '../lifecycle.ts';
import type { Alert, Transition } from '../types.ts';
import { describeUrl, type Destination } from './destination.ts';
import { postWithRetry, ReceiverBackoff, type PostDeps } from './http-post.ts';
import { memoryOutbox, type Outbox } from './outbox.ts';
import { SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER } from './signature.ts';

export interface WebhookTarget {
  url: string;
  secret: string;
  /** Only alerts of these tenants (all when absent). */
  tenants?: readonly string[];
}

export interface WebhookDeps extends PostDeps {
  now: () => number;
  log: (line: string) => void;
  /** Oldest notifications are dropped beyond this, so a dead receiver cannot exhaust memory. */
  maxOutbox?: number;
  /** Where waiting notifications live (default: memory; `diskOutbox` survives a crash). */
  outbox?: Outbox;
}

/** Alerts per POST; a long backlog goes out in several requests. */
const MAX_BATCH = 100;
const DEFAULT_MAX_OUTBOX = 10_000;

/** What a webhook is told about: an episode that started firing, and one that stopped. */
export function isNotifiable(t: Transition): boolean {
  return t.to === 'firing' || (t.to === 'resolved' && t.from === 'firing');
}

/**
 * Signed webhook delivery: POST `{ version: 1, alerts: [...] }` (the `GET /v1/alerts` item shape),
 * one notification per firing or resolve, in order. Network errors, 5xx and 429 are retried with
 * backoff, then kept for a later run (ReceiverBackoff spaces the runs); any other 4xx drops the
 * batch (retrying cannot fix it).
 */
export function createWebhookDestination(target: WebhookTarget, deps: WebhookDeps): Destination {
  const name = `webhook ${describeUrl(target.url)}`;
  const tenants = target.tenants ? new Set(target.tenants) : undefined;
  const maxOutbox = deps.maxOutbox ?? DEFAULT_MAX_OUTBOX;
  /** Insertion-ordered; keyed by episode and state so an offer repeated by a re-run is one entry. */
  const outbox = deps.outbox ?? memoryOutbox();
  const backoff = new ReceiverBackoff(deps.policy, deps.now, deps.random);
  // Read back from disk, the outbox may hold notifications of tenants this webhook is no longer
  // for (its tenants were narrowed before a restart): never send another tenant's alerts.
  const excluded = tenants ? outbox.entries().filter(([, a]) => !tenants.has(a.tenantId)) : [];
  for (const [id] of excluded) outbox.delete(id);
  if (excluded.length) deps.log(`${name}: dropped ${excluded.length} waiting notifications of tenants not in its tenants list`);

  function enqueue(alert: Alert): void {
    outbox.set(`${episodeId(alert)}:${alert.state}`, alert);
    for (const [oldest] of outbox.entries()) {
      if (outbox.size <= maxOutbox) break;
      outbox.delete(oldest);
      deps.log(`${name}: outbox full, dropped the oldest notification`);
    }
  }

  async function sendBatch(entries: Array<[string, Alert]>): Promise<boolean> {
    const policy = backoff.permit();
    if (!policy) return false;
    const body = JSON.stringify({ version: 1, alerts: entries.map(([, a]) => alertToJson(a)) });
    const outcome = await postWithRetry(
      target.url,
      () => {
        const ts = Math.floor(deps.now() / 1000);
        return { body, headers: { [TIMESTAMP_HEADER]: String(ts), [SIGNATURE_HEADER]: signWebhook(target.secret, ts, body) } };
      },
      { ...deps, policy },
    );
    backoff.record(outcome);
    if (!outcome.ok && outcome.retryable) {
      deps.log(
        `${name}: delivery failed after ${outcome.attempts} attempt(s) (${outcome.reason}); ${outbox.size} kept, next try in ${Math.ceil(backoff.waitMs() / 1000)} s or later`,
      );
      return false;
    }
    if (!outcome.ok) deps.log(`${name}: receiver refused ${entries.length} notifications (${outcome.reason}); dropped`);
    for (const [id] of entries) outbox.delete(id);
    return true;
  }

  return {
    name,
    offer(alerts, transitions) {
      const byEpisode = new Map(alerts.map((a) => [episodeId(a), a]));
      for (const t of transitions) {
        if (!isNotifiable(t) || (tenants && !tenants.has(t.tenantId))) continue;
        const alert = byEpisode.get(episodeId(t));
        if (alert) enqueue(alert);
      }
    },
    async deliver() {
      while (outbox.size > 0) {
        const batch = outbox.entries().slice(0, MAX_BATCH);
        if (!(await sendBatch(batch))) return;
      }
    },
    pending: () => outbox.size,
  };
}
