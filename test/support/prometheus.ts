import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type RunningDaemon } from './daemon.ts';

/**
 * The real Prometheus tools (Debian package `prometheus`, installed by .ci/run): `promtool` for
 * the config, rule and exposition checks, and `prometheus` itself on 127.0.0.1 and a free port.
 * PROMTOOL_BIN and PROMETHEUS_BIN override the paths.
 */

export const PROMTOOL_BIN = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';
export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';

export interface ToolResult {
  status: number | null;
  /** stdout and stderr together, for assertion messages. */
  output: string;
}

export function promtool(args: readonly string[], input?: string): ToolResult {
  if (!existsSync(PROMTOOL_BIN)) throw new Error(`${PROMTOOL_BIN} not found: apt-get install prometheus (or set PROMTOOL_BIN)`);
  const r = spawnSync(PROMTOOL_BIN, args, { input, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

export interface RunningPrometheus extends RunningDaemon {
  /** The directory holding its config (write credentials files here). */
  readonly dir: string;
}

/** Starts Prometheus with the config `configOf(dir)` renders (dir: a fresh temp directory). */
export async function startPrometheus(configOf: (dir: string) => string): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'il-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, configOf(dir));
  const daemon = await startDaemon('prometheus', PROMETHEUS_BIN, 'apt-get install prometheus (or set PROMETHEUS_BIN)', (port) => [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ]);
  return { ...daemon, dir };
}

export interface InstantSample {
  metric: Record<string, string>;
  value: [number, string];
}

/** GET /api/v1/query: the instant vector of `expr` now. */
export async function queryPrometheus(prom: Pick<RunningPrometheus, 'url'>, expr: string): Promise<InstantSample[]> {
  const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: InstantSample[] } };
  if (!res.ok || body.status !== 'success') throw new Error(`prometheus query ${expr}: ${res.status} ${body.error ?? ''}`);
  if (body.data?.resultType !== 'vector') throw new Error(`prometheus query ${expr}: expected a vector, got ${body.data?.resultType}`);
  return body.data.result;
}
