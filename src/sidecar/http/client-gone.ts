import type { ServerResponse } from 'node:http';
import type { Context } from 'hono';

/**
 * Aborts when the client goes away before its answer is written (a reset, or a close that is not
 * the half-close of a client still waiting: the server allows half-open connections). Undefined
 * outside node-server. Not `c.req.raw.signal`: that builds a web Request around the body, which
 * is read straight from the socket here.
 */
export function clientGoneSignal(c: Context): AbortSignal | undefined {
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  if (!outgoing || typeof outgoing.once !== 'function') return undefined;
  const controller = new AbortController();
  outgoing.once('close', () => {
    if (!outgoing.writableFinished) controller.abort();
  });
  return controller.signal;
}
