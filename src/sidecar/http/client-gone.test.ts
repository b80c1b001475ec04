import { connect } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientGoneSignal } from './client-gone.ts';

/**
 * The signal a queued inference listens to, on a real node-server: a client that resets its
 * connection or ends its sending side is gone (a request still waiting must not run and be billed;
 * one that need not wait still runs and is answered), and one that gets its answer never aborts.
 */
describe('clientGoneSignal (node-server, 127.0.0.1)', () => {
  let server: Server;
  let port = 0;
  /** Per request path: whether the handler saw the signal abort within 300 ms. */
  const seen = new Map<string, boolean>();
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);

  beforeAll(async () => {
    process.on('warning', onWarning);
    const app = new Hono();
    app.get('/wait/:id', async (c) => {
      const signal = clientGoneSignal(c)!;
      const aborted = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(signal.aborted), 300);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      seen.set(c.req.param('id'), aborted);
      return c.text('done');
    });
    await new Promise<void>((resolve) => {
      server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => {
        port = info.port;
        resolve();
      }) as Server;
      (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    });
  });
  afterAll(async () => {
    process.off('warning', onWarning);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const until = async (id: string) => {
    for (let i = 0; i < 100 && !seen.has(id); i++) await new Promise((r) => setTimeout(r, 10));
    return seen.get(id);
  };

  it('aborts when the client resets its connection while the request waits', async () => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET /wait/reset HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 50));
    socket.resetAndDestroy();
    expect(await until('reset')).toBe(true);
  });

  it('aborts when the client ends its sending side (how fetch abort and a timed-out curl leave), and the answer can still be written', async () => {
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.end('GET /wait/half HTTP/1.1\r\nHost: x\r\n\r\n'));
      let text = '';
      socket.on('data', (b: Buffer) => (text += b.toString()));
      socket.on('close', () => resolve(text));
    });
    expect(await until('half')).toBe(true);
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('aborts for a reset that arrived before the server read the request (it reads as an end)', async () => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET /wait/early-reset HTTP/1.1\r\nHost: x\r\n\r\n');
    const until100 = Date.now() + 100;
    while (Date.now() < until100); // the server (this process) cannot read before the reset
    socket.resetAndDestroy();
    expect(await until('early-reset')).toBe(true);
  });

  it('leaves no listener behind on a keep-alive connection', async () => {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    let text = '';
    socket.on('data', (b: Buffer) => (text += b.toString()));
    for (let i = 0; i < 15; i++) {
      socket.write(`GET /wait/keep-${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await until(`keep-${i}`);
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(text.match(/HTTP\/1\.1 200 /g)).toHaveLength(15);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    socket.destroy();
  });

  it('does not abort a request that is answered', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/wait/answered`);
    expect(await res.text()).toBe('done');
    expect(seen.get('answered')).toBe(false);
  });
});
