import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError, statusOf } from '../errors.ts';
import { limitBody, readBodyBytes, readBodyText } from './request-body.ts';

/** A real node-server on 127.0.0.1 (the fast path reads node-server's IncomingMessage). */
const MAX = 64;
let server: ServerType;
let port = 0;
const failures: string[] = [];

beforeAll(async () => {
  const app = new Hono();
  app.onError((err, c) => {
    const code = err instanceof AppError ? err.code : 'internal';
    failures.push(code);
    return c.json({ error: { code } }, err instanceof AppError ? statusOf(err.kind) : 500);
  });
  app.use(
    '*',
    limitBody(MAX, () => {
      throw new AppError('payload_too_large', `over ${MAX}`);
    }),
  );
  app.post('/text', async (c) => c.json({ text: await readBodyText(c) }));
  app.post('/bytes', async (c) => c.json({ bytes: [...(await readBodyBytes(c))] }));
  app.get('/ping', (c) => c.text('pong'));
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

interface Sent {
  chunks: Array<string | Buffer>;
  chunked?: boolean;
  /** Declared Content-Length, when it is not the chunks' total (a body cut short). */
  declared?: number;
  /** Destroy the socket after the chunks instead of finishing the request. */
  abort?: boolean;
}

/** One request on its own connection; resolves with status and body, or 'aborted'. */
function send(path: string, s: Sent): Promise<{ status: number; body: string } | 'aborted'> {
  const total = s.chunks.reduce((n, c) => n + Buffer.byteLength(c), 0);
  const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream' };
  if (!s.chunked) headers['content-length'] = s.declared ?? total;
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', () => resolve('aborted'));
    const writeAll = async () => {
      for (const c of s.chunks) {
        req.write(c);
        await new Promise((r) => setTimeout(r, 5));
      }
      if (s.abort) req.destroy();
      else req.end();
    };
    void writeAll();
  });
}

describe('request bodies', () => {
  it('reads a Content-Length body whole, however it is split, UTF-8 across chunk edges included', async () => {
    const euro = Buffer.from('€', 'utf8');
    const res = await send('/text', { chunks: [Buffer.from('{"a":"'), euro.subarray(0, 1), euro.subarray(1), Buffer.from('"}')] });
    expect(res).toEqual({ status: 200, body: JSON.stringify({ text: '{"a":"€"}' }) });
  });

  it('reads bytes as sent, and an empty body as empty', async () => {
    expect(await send('/bytes', { chunks: [Buffer.from([0, 255, 7])] })).toEqual({ status: 200, body: '{"bytes":[0,255,7]}' });
    expect(await send('/text', { chunks: [] })).toEqual({ status: 200, body: '{"text":""}' });
  });

  it('reads a chunked body (no Content-Length) within the limit', async () => {
    expect(await send('/text', { chunked: true, chunks: ['abc', 'def'] })).toEqual({ status: 200, body: '{"text":"abcdef"}' });
  });

  it('refuses a body over the limit with 413, by its Content-Length or as it streams', async () => {
    const big = 'x'.repeat(MAX + 1);
    expect(await send('/text', { chunks: [big] })).toMatchObject({ status: 413 });
    expect(await send('/text', { chunked: true, chunks: [big.slice(0, 40), big.slice(40)] })).toMatchObject({ status: 413 });
    expect(await send('/text', { chunks: ['x'.repeat(MAX)] })).toMatchObject({ status: 200 });
  });

  it('a client that goes away mid-body fails the read (incomplete_body) and the server keeps serving', async () => {
    failures.length = 0;
    expect(await send('/text', { chunks: ['{"half":'], declared: 40, abort: true })).toBe('aborted');
    await expect.poll(() => failures).toEqual(['incomplete_body']);
    // Chunked: the same, not an "unexpected error" 500 with a stack in the log.
    expect(await send('/text', { chunked: true, chunks: ['{"half":'], abort: true })).toBe('aborted');
    await expect.poll(() => failures).toEqual(['incomplete_body', 'incomplete_body']);
    const ping = await fetch(`http://127.0.0.1:${port}/ping`);
    expect(await ping.text()).toBe('pong');
  });
});
