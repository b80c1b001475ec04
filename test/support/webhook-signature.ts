import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhookSignature } from '../../src/alerts/delivery/signature.ts';
import type { ReceivedRequest } from './http-receiver.ts';

/** A receiver's check, as a customer's would do it: HMAC over the raw body, fresh timestamp. */
export function hasValidSignature(secret: string, r: ReceivedRequest): boolean {
  return verifyWebhookSignature({
    secret,
    timestamp: r.headers[TIMESTAMP_HEADER.toLowerCase()] as string | undefined,
    signature: r.headers[SIGNATURE_HEADER.toLowerCase()] as string | undefined,
    body: r.body,
    nowS: Math.floor(Date.now() / 1000),
  });
}
