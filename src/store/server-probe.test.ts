import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { openStore } from './client.ts';

/**
 * The first contact with a ClickHouse server fails start-up at once, in one line that names the
 * server without its password: no engine is needed, the servers here only pretend.
 */

const servers: Array<{ close(): unknown }> = [];
afterAll(() => servers.forEach((s) => s.close()));

async function listening<T extends Server | ReturnType<typeof createTcpServer>>(server: T): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function openError(url: string, connectTimeoutMs = 10_000): Promise<AppError> {
  const err = await openStore({ url, dataDir: '/nonexistent', connectTimeoutMs }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

describe('openStore against a server', () => {
  it('a refused connection: unavailable, naming host and port', async () => {
    const port = await listening(createTcpServer());
    servers.pop()!.close(); // the port was free a moment ago: nothing listens now
    const err = await openError(`http://127.0.0.1:${port}`);
    expect(err.kind).toBe('unavailable');
    expect(err.message).toBe(`ClickHouse at http://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  it('an HTTP server that is not ClickHouse: says so, and never prints the password', async () => {
    const port = await listening(
      createHttpServer((_req, res) => {
        res.statusCode = 404;
        res.end();
      }),
    );
    const err = await openError(`http://reader:s3cret@127.0.0.1:${port}/billing`);
    expect(err.message).toContain(`ClickHouse at http://127.0.0.1:${port}/billing: `);
    expect(err.message).toContain("is this ClickHouse's HTTP interface");
    expect(err.message).not.toContain('s3cret');
  });

  it('a server that accepts but never answers: gives up after the connect timeout, not the query timeout', async () => {
    const port = await listening(createTcpServer(() => {}));
    const err = await openError(`http://127.0.0.1:${port}`, 200);
    expect(err.message).toBe(`ClickHouse at http://127.0.0.1:${port}: no answer within 0.2 s`);
  });
});
