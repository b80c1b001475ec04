import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context } from 'hono';

/**
 * Aborts when the client goes away before its answer is written: its connection closes, or its
 * sending side ends (EOF). Undefined outside node-server. Not `c.req.raw.signal`: that builds a
 * web Request around the body, which is read straight from the socket here.
 *
 * An EOF counts as gone, as nginx counts it (its 499), because that is how a client that gave up
 * looks: fetch's abort and a timed-out curl close with a FIN, and a reset that arrives before the
 * server read the request reads as EOF too (found by re-running the dogfooding reproduction: the
 * reset requests were still billed). A client that half-closes on purpose after its request is
 * still answered whenever its request runs at once (RFC 9112 §9.6); only a request still waiting
 * for a slot is given up (see InferenceService.infer).
 */
export function clientGoneSignal(c: Context): AbortSignal | undefined {
  const env = c.env as { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined;
  const outgoing = env?.outgoing;
  if (!outgoing || typeof outgoing.once !== 'function') return undefined;
  const socket = env?.incoming?.socket;
  const controller = new AbortController();
  const gone = () => {
    if (!outgoing.writableFinished) controller.abort();
  };
  outgoing.once('close', gone);
  if (socket && typeof socket.once === 'function') {
    if (socket.readableEnded) gone();
    else {
      socket.once('end', gone);
      // A keep-alive connection serves many requests: do not leave a listener per request on it.
      const detach = () => socket.off('end', gone);
      outgoing.once('finish', detach);
      outgoing.once('close', detach);
    }
  }
  return controller.signal;
}
