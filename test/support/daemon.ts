import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { waitFor } from './platform.ts';

/** Real server binaries (Alertmanager, Prometheus) started for a test on 127.0.0.1. */

export interface RunningDaemon {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly child: ChildProcess;
  /** Its stdout and stderr, for failure messages. */
  readonly output: string[];
  stop(): void;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Spawns `bin` with `argsFor(port)` (and `envFor(port)`) on a free port (or `opts.port`) and waits until
 * GET `readyPath` answers 200 (default /-/ready, which Prometheus and Alertmanager serve).
 * `install` says how to get the binary.
 */
export async function startDaemon(
  name: string,
  bin: string,
  install: string,
  argsFor: (port: number) => string[],
  opts: { envFor?: (port: number) => NodeJS.ProcessEnv; readyPath?: string; port?: number } = {},
): Promise<RunningDaemon> {
  if (!existsSync(bin)) throw new Error(`${bin} not found: ${install}`);
  const port = opts.port ?? (await freePort());
  const env = opts.envFor ? { ...process.env, ...opts.envFor(port) } : process.env;
  const child = spawn(bin, argsFor(port), { stdio: ['ignore', 'pipe', 'pipe'], env });
  const output: string[] = [];
  child.stdout?.on('data', (b: Buffer) => output.push(b.toString()));
  child.stderr?.on('data', (b: Buffer) => output.push(b.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}): ${output.join('')}`);
      const res = await fetch(`${url}${opts.readyPath ?? '/-/ready'}`).catch(() => undefined);
      return res?.ok ? true : undefined;
    },
    `${name} to be ready`,
    60_000,
  );
  return { url, child, output, stop: () => void child.kill('SIGTERM') };
}
