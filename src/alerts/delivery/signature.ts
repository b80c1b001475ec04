import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures. The receiver recomputes HMAC-SHA256(secret, `${timestamp}.${body}`) over
 * the raw body bytes and compares in constant time; binding the timestamp into the MAC lets it
 * refuse replays older than its tolerance (the scheme of Stripe and Slack).
 */

export const TIMESTAMP_HEADER = 'X-Inferledger-Timestamp';
export const SIGNATURE_HEADER = 'X-Inferledger-Signature';

/** `sha256=<hex>` for the given unix-seconds timestamp and raw body. */
export function signWebhook(secret: string, timestampS: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestampS}.${body}`, 'utf8').digest('hex')}`;
}

export interface VerifyInput {
  secret: string;
  /** The two header values as received (undefined when missing). */
  timestamp: string | undefined;
  signature: string | undefined;
  body: string;
  nowS: number;
  /** Largest accepted age (and clock skew) of the timestamp. */
  toleranceS?: number;
}

/** For receivers (and our tests): true only for an intact body, the right secret and a fresh timestamp. */
export function verifyWebhookSignature(input: VerifyInput): boolean {
  const { secret, timestamp, signature, body, nowS, toleranceS = 300 } = input;
  if (!timestamp || !signature || !/^\d{1,12}$/.test(timestamp)) return false;
  const ts = Number(timestamp);
  if (Math.abs(nowS - ts) > toleranceS) return false;
  const expected = Buffer.from(signWebhook(secret, ts, body), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  return expected.length === given.length && timingSafeEqual(expected, given);
}
