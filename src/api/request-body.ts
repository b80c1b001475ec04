import { Readable } from 'node:stream';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { AppError } from '../errors.ts';

/**
 * Request bodies without the web-stream detour.
 *
 * Under @hono/node-server, touching `c.req.raw.body` (Hono's own body-limit middleware does, on
 * every request) or calling `c.req.text()` builds a WHATWG Request and ReadableStream around
 * Node's IncomingMessage. Profiled on a sidecar refusing a tenant's flood, that was the largest
 * single item of a refusal's cost (about 120 µs of ~1 ms), and every request paid it, GETs included. Here a body with a
 * Content-Length is limited by its header alone and read straight from the IncomingMessage
 * (`c.env.incoming`, node-server's documented binding); a chunked body, or an app not served by
 * node-server (tests through `app.request`), takes Hono's path as before.
 */

/** Refuses a body over `maxBytes` with 413, reading nothing when Content-Length says its size. */
export function limitBody(maxBytes: number, tooLarge: () => never): MiddlewareHandler {
  const streamed = bodyLimit({ maxSize: maxBytes, onError: tooLarge });
  return async function limitBodyMiddleware(c, next) {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const length = declaredLength(c);
    if (length !== undefined) {
      if (length > maxBytes) tooLarge();
      return next();
    }
    // A chunked body is read (and counted) here; a client leaving mid-body is its own mistake,
    // not a server error with a stack trace in the log for every aborted request.
    let reached = false;
    try {
      return await streamed(c, () => {
        reached = true;
        return next();
      });
    } catch (err) {
      if (!reached && (err as { code?: unknown }).code === 'ECONNRESET') throw incompleteBody();
      throw err;
    }
  };
}

/** The whole request body as bytes (after `limitBody`, so at most its limit). */
export async function readBodyBytes(c: Context): Promise<Uint8Array> {
  const incoming = unreadIncoming(c);
  if (incoming) return readAll(incoming);
  return new Uint8Array(await c.req.arrayBuffer());
}

/** The whole request body as UTF-8 text (invalid sequences become U+FFFD, as `Request.text()` does). */
export async function readBodyText(c: Context): Promise<string> {
  const incoming = unreadIncoming(c);
  if (incoming) return (await readAll(incoming)).toString('utf8');
  return c.req.text();
}

/**
 * The Content-Length when it alone frames the body (Node's parser then stops the body at that
 * many bytes); undefined for a chunked body or a malformed header, which take the streamed path.
 */
function declaredLength(c: Context): number | undefined {
  if (c.req.header('transfer-encoding') !== undefined) return undefined;
  const header = c.req.header('content-length');
  if (header === undefined || !/^\d{1,15}$/.test(header.trim())) return undefined;
  return Number(header.trim());
}

/**
 * node-server's IncomingMessage, if no one has read from it and Content-Length frames it. A chunked
 * body was buffered by `limitBody` into a new `c.req.raw`, so it is read from there instead.
 */
function unreadIncoming(c: Context): Readable | undefined {
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  if (!(incoming instanceof Readable) || incoming.readableDidRead || incoming.readableEnded) return undefined;
  return declaredLength(c) === undefined ? undefined : incoming;
}

function readAll(incoming: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
    };
    const onEnd = () => {
      done();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    // The client went away mid-body: nothing to answer, but the handler must not hang or parse half a body.
    const onClose = () => {
      done();
      reject(incompleteBody());
    };
    const done = () => {
      incoming.off('data', onData).off('end', onEnd).off('error', onClose).off('close', onClose);
    };
    incoming.on('data', onData).once('end', onEnd).once('error', onClose).once('close', onClose);
  });
}

const incompleteBody = () =>
  new AppError('invalid', 'the request body ended early: the connection closed before all of it arrived', { code: 'incomplete_body' });
