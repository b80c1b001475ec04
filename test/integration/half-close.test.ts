import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, inferBody, startHarness, type Harness } from '../support/platform.ts';

/**
 * A client may send its whole request and then close its side of the connection (shutdown(SHUT_WR),
 * `curl` does not, some load tools and proxies do). RFC 9112 §9.6: a half-closed connection does not
 * mean the client lost interest in the response. Node's HTTP server aborts the request instead by
 * default, so the inference ran (and was billed) and the client got nothing.
 */
describe('a client that half-closes after a complete request', () => {
  let h: Harness;
  let key: string;

  beforeAll(async () => {
    h = await startHarness();
    key = await createKey(h.baseUrl, 'halfclose');
  });
  afterAll(() => h.close());

  /** Writes `request`, half-closes at once, and returns everything the server sent until it closed. */
  function sendThenHalfClose(request: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(Number(new URL(h.baseUrl).port), '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.once('error', reject);
      socket.once('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
      socket.once('connect', () => socket.end(request));
    });
  }

  it('still answers an inference request, then closes the connection', async () => {
    const body = JSON.stringify(inferBody(2));
    const answer = await sendThenHalfClose(
      'POST /v2/models/classifier-small/infer HTTP/1.1\r\nHost: x\r\n' +
        `Authorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    const json = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { model_name: string; outputs: Array<{ shape: number[] }> };
    expect(json.model_name).toBe('classifier-small');
    expect(json.outputs[0]?.shape).toEqual([2, 10]);
  });

  it('answers every pipelined request sent before the half-close, in order', async () => {
    const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\n\r\n`;
    const answer = await sendThenHalfClose(get('/v2/health/ready') + get('/v1/tenants/halfclose/quotas') + get('/v1/tenants/other/quotas'));
    // A body is not followed by a line break, so the next status line starts mid-line.
    const statuses = [...answer.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    expect(statuses).toEqual([200, 200, 404]); // another tenant's quotas: 404, as if it did not exist
  });
});
