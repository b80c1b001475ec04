import type { Alert, Transition } from '../types.ts';

/**
 * Where notifications go. Each destination keeps an outbox: an evaluation `offer`s its outcome
 * (cheap, synchronous) and `deliver` sends what is due, later and independently, so a slow or
 * failing receiver never holds up evaluation. What could not be sent stays for the next
 * `deliver`. Outboxes are on disk in a running platform (outbox.ts), so a crash loses no
 * notification: a webhook's notifications, and the alerts whose firing has not reached
 * Alertmanager. The rest of Alertmanager's state is derived from alert state (in ClickHouse):
 * firing alerts are re-sent after a restart, and Alertmanager resolves alerts that stop arriving.
 */
export interface Destination {
  /** For logs; never contains a secret. */
  readonly name: string;
  /** This evaluation's outcome: the current episodes and what changed. Never throws. */
  offer(alerts: readonly Alert[], transitions: readonly Transition[]): void;
  /** Sends what is due now. Never throws; never runs twice at once (the caller serializes). */
  deliver(): Promise<void>;
  /** Notifications waiting to be sent. */
  pending(): number;
}

/** A URL safe to log: no credentials, no query string (tokens often live there). */
export function describeUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}
