import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { AppError, statusOf, zodMessage } from '../errors.ts';

export { zodMessage };

/** The one error body of the product: `{ "error": { "code", "message" } }` (+ `details`). */
export function errorBody(code: string, message: string, details?: unknown) {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}

/**
 * 503s that are a known state, already logged where it is detected (the quota gate, the ingest
 * queue, the span journal): one line per refused request would flood the log during an outage.
 */
const EXPECTED_UNAVAILABLE = new Set(['quota_authority_unavailable', 'quota_authority_refused', 'ingest_overloaded', 'recording_unavailable']);

/** The app's onError: every failure becomes a JSON error with the status its kind maps to. */
export function handleError(err: Error, c: Context): Response {
  if (err instanceof AppError) {
    const status = statusOf(err.kind);
    const retry = (err.details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds;
    // 429 always says when to come back; a 503 does when the server knows (ingest back-pressure).
    if (status === 429 || (status === 503 && retry !== undefined)) c.header('Retry-After', String(Math.max(1, Math.ceil(retry ?? 1))));
    // 413: the body was not read; closing keeps the unread bytes from corrupting the next request
    // on this keep-alive connection. A paced refusal ends its connection too (refusal-pacer.ts).
    if (status === 413 || err.closeConnection) c.header('Connection', 'close');
    if (status >= 500 && !EXPECTED_UNAVAILABLE.has(err.code)) console.error(`[http] ${c.req.method} ${c.req.path}: ${err.message}`);
    const details = err.kind === 'internal' || err.details === undefined ? undefined : err.details;
    return c.json(errorBody(err.code, err.message, details), status);
  }
  if (err instanceof HTTPException) {
    return c.json(errorBody(httpCode(err.status, err.message), httpMessage(err.status, err.message)), err.status);
  }
  console.error(`[http] ${c.req.method} ${c.req.path}: unexpected error`, err);
  return c.json(errorBody('internal', 'internal error'), 500);
}

/** The validator's 415 says only "Unsupported Media Type": say what is expected (found by fuzzing). */
function httpMessage(status: number, message: string): string {
  if (status === 415) return 'unsupported media type: send the body as JSON, with Content-Type: application/json';
  return message || 'request failed';
}

function httpCode(status: number, message: string): string {
  if (status === 400) return /malformed json/i.test(message) ? 'invalid_json' : 'invalid_request';
  if (status === 401) return 'unauthenticated';
  if (status === 404) return 'not_found';
  if (status === 413) return 'payload_too_large';
  if (status === 415) return 'unsupported_media_type';
  return status >= 500 ? 'internal' : 'invalid';
}
