import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createKey, inferBody, startHarness } from '../support/platform.ts';

/**
 * A graceful stop must finish while a client holds a request open: `server.close()` stops Node's
 * own request timeout, so a client that sent half a body and went silent used to hold the stop
 * (and the telemetry flush after it) until it closed its socket. Found by dogfooding: a SIGTERM
 * waited 398 s.
 */
describe('graceful stop with a stalled client', () => {
  it('cuts a connection whose body never finishes after the grace period, and the stop completes', async () => {
    const h = await startHarness();
    const key = await createKey(h.baseUrl, 'stalled');
    const socket = connect(Number(new URL(h.baseUrl).port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    socket.write(
      'POST /v2/models/classifier-small/infer HTTP/1.1\r\nHost: x\r\n' +
        `Authorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"inputs":[`,
    );
    // The request has reached the handler, which now waits for the rest of the body.
    await new Promise((r) => setTimeout(r, 200));
    await h.close(); // hangs until the client goes away without the grace period
    await closed;
    expect(socket.destroyed).toBe(true);
  });

  it('answers the requests whose bytes had arrived when the stop began, though not yet read (a busy event loop)', async () => {
    const h = await startHarness();
    const key = await createKey(h.baseUrl, 'late-read');
    const port = Number(new URL(h.baseUrl).port);
    const sockets = await Promise.all(
      [0, 1, 2].map(
        () =>
          new Promise<ReturnType<typeof connect>>((resolve) => {
            const s = connect(port, '127.0.0.1', () => resolve(s));
          }),
      ),
    );
    const answers = sockets.map(
      (s) =>
        new Promise<string>((resolve) => {
          let text = '';
          s.on('data', (b: Buffer) => (text += b.toString()));
          s.on('error', () => {});
          s.on('close', () => resolve(text));
        }),
    );
    const body = JSON.stringify(inferBody());
    // Found by dogfooding: requests sent while the loop was busy were reset by the stop (ECONNRESET,
    // no answer), well inside the grace period. Here the writes and the stop happen in one tick,
    // so the server has not read the requests when the stop begins.
    for (const s of sockets) {
      s.end(
        'POST /v2/models/classifier-small/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n' +
          `Authorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    }
    const stopped = h.close();
    const texts = await Promise.all(answers);
    await stopped;
    for (const text of texts) expect(text.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
  });
});
