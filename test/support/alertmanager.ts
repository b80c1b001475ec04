import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type RunningDaemon } from './daemon.ts';

/**
 * A real Alertmanager (the Debian `prometheus-alertmanager` binary; ALERTMANAGER_BIN overrides the
 * path) on 127.0.0.1 and a free port, routing everything to a receiver that does nothing.
 */

export const ALERTMANAGER_BIN = process.env.ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';

export type RunningAlertmanager = RunningDaemon;

/** What `GET /api/v2/alerts` returns per alert (the fields the tests read). */
export interface AlertmanagerListedAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: string };
}

export interface AlertmanagerOptions {
  /** Listen here instead of a free port (a test that starts it only after alerts were due). */
  port?: number;
  /**
   * Notify this URL (Alertmanager's webhook receiver, resolves included) after a 1 s group_wait,
   * so a test sees what on-call would be paged with; by default nothing is notified.
   */
  notifyUrl?: string;
}

export async function startAlertmanager(opts: AlertmanagerOptions = {}): Promise<RunningAlertmanager> {
  const dir = mkdtempSync(join(tmpdir(), 'il-alertmanager-'));
  const config = opts.notifyUrl
    ? [
        'route:',
        "  receiver: 'hook'",
        '  group_wait: 1s',
        '  group_interval: 1s',
        '  repeat_interval: 1h',
        'receivers:',
        "  - name: 'hook'",
        '    webhook_configs:',
        `      - url: '${opts.notifyUrl}'`,
        '        send_resolved: true',
        '',
      ].join('\n')
    : "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n";
  writeFileSync(join(dir, 'alertmanager.yml'), config);
  return startDaemon('alertmanager', ALERTMANAGER_BIN, 'apt-get install prometheus-alertmanager (or set ALERTMANAGER_BIN)', (port) => [
    `--config.file=${join(dir, 'alertmanager.yml')}`,
    `--storage.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--cluster.listen-address=',
  ], { port: opts.port });
}

/** Alerts Alertmanager holds as active whose labels match `filter` (e.g. `tenant="acme"`). */
export async function alertmanagerActive(am: Pick<RunningAlertmanager, 'url'>, filter: string): Promise<AlertmanagerListedAlert[]> {
  const res = await fetch(`${am.url}/api/v2/alerts?active=true&silenced=false&inhibited=false&filter=${encodeURIComponent(filter)}`);
  if (!res.ok) throw new Error(`alertmanager GET /api/v2/alerts: ${res.status} ${await res.text()}`);
  return (await res.json()) as AlertmanagerListedAlert[];
}
