import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './platform.ts';

/**
 * A real Alertmanager (the Debian `prometheus-alertmanager` binary; ALERTMANAGER_BIN overrides the
 * path) on 127.0.0.1 and a free port, routing everything to a receiver that does nothing.
 */

export const ALERTMANAGER_BIN = process.env.ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';

export interface RunningAlertmanager {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly child: ChildProcess;
  /** Its stdout and stderr, for failure messages. */
  readonly output: string[];
  stop(): void;
}

/** What `GET /api/v2/alerts` returns per alert (the fields the tests read). */
export interface AlertmanagerListedAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: string };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startAlertmanager(): Promise<RunningAlertmanager> {
  if (!existsSync(ALERTMANAGER_BIN)) throw new Error(`${ALERTMANAGER_BIN} not found: apt-get install prometheus-alertmanager (or set ALERTMANAGER_BIN)`);
  const dir = mkdtempSync(join(tmpdir(), 'il-alertmanager-'));
  writeFileSync(join(dir, 'alertmanager.yml'), "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n");
  const port = await freePort();
  const args = [
    `--config.file=${join(dir, 'alertmanager.yml')}`,
    `--storage.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--cluster.listen-address=',
  ];
  const child = spawn(ALERTMANAGER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout?.on('data', (b: Buffer) => output.push(b.toString()));
  child.stderr?.on('data', (b: Buffer) => output.push(b.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`alertmanager exited (${child.exitCode}): ${output.join('')}`);
      const res = await fetch(`${url}/-/ready`).catch(() => undefined);
      return res?.ok ? true : undefined;
    },
    'alertmanager to be ready',
    60_000,
  );
  return { url, child, output, stop: () => void child.kill('SIGTERM') };
}

/** Alerts Alertmanager holds as active whose labels match `filter` (e.g. `tenant="acme"`). */
export async function alertmanagerActive(am: Pick<RunningAlertmanager, 'url'>, filter: string): Promise<AlertmanagerListedAlert[]> {
  const res = await fetch(`${am.url}/api/v2/alerts?active=true&silenced=false&inhibited=false&filter=${encodeURIComponent(filter)}`);
  if (!res.ok) throw new Error(`alertmanager GET /api/v2/alerts: ${res.status} ${await res.text()}`);
  return (await res.json()) as AlertmanagerListedAlert[];
}
