import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';

/**
 * `inferledger` processes of their own for the suites that measure a process as deployed
 * (standalone: RSS; noisy-flood: CPU), each with its own data directory and embedded engine
 * (chdb holds one per process), started from a YAML config like an operator's.
 */

const START_TIMEOUT_MS = 120_000;
const CLI = resolve(import.meta.dirname, '../../bin/inferledger.js');

/** Resident set size in bytes from the text of /proc/<pid>/status (`VmRSS:  123456 kB`). */
export function vmRssBytes(status: string): number | undefined {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return m ? Number(m[1]) * 1024 : undefined;
}

/** The URL a process prints when it listens (`inferledger api listening on http://localhost:N ...`), on 127.0.0.1. */
export function listeningUrl(line: string): string | undefined {
  const m = /listening on http:\/\/(?:localhost|127\.0\.0\.1):(\d+)/.exec(line);
  return m ? `http://127.0.0.1:${m[1]}` : undefined;
}

export interface RunningProcess {
  readonly pid: number;
  readonly baseUrl: string;
  rss(): number | undefined;
  /** CPU time (user + system, every thread) the process has used, ms; undefined once it exited. */
  cpuMs(): number | undefined;
  stop(): Promise<void>;
}

/**
 * `inferledger <kind>` as a child process on a free port of 127.0.0.1, with `config` written as its
 * YAML file and `dataDir` its own; resolves once it listens.
 */
export async function startInferledger(
  kind: 'api' | 'sidecar' | 'up',
  opts: { dataDir: string; config: object; adminKey: string; env?: Record<string, string> },
): Promise<RunningProcess> {
  const configPath = join(opts.dataDir, `${kind}.yaml`);
  writeFileSync(configPath, toYaml(opts.config));
  const child = spawn(process.execPath, [CLI, kind], {
    env: { ...process.env, ...opts.env, INFERLEDGER_DATA_DIR: opts.dataDir, INFERLEDGER_ADMIN_KEY: opts.adminKey, INFERLEDGER_CONFIG: configPath },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const baseUrl = await listening(child, kind);
  const pid = child.pid!;
  const proc = (file: string) => {
    try {
      return readFileSync(`/proc/${pid}/${file}`, 'utf8');
    } catch {
      return undefined; // exited, or not Linux
    }
  };
  return {
    pid,
    baseUrl,
    rss: () => {
      const status = proc('status');
      return status === undefined ? undefined : vmRssBytes(status);
    },
    cpuMs: () => {
      const stat = proc('stat');
      return stat === undefined ? undefined : cpuMsOfStat(stat, CLOCK_TICKS_PER_S);
    },
    stop: () => stopProcess(child),
  };
}

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks (100 on every mainstream kernel). */
const CLOCK_TICKS_PER_S = 100;

/** utime + stime of /proc/<pid>/stat in ms. The command name (field 2) may hold spaces: fields count from its ')'. */
export function cpuMsOfStat(stat: string, ticksPerS: number): number | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? ((utime + stime) * 1000) / ticksPerS : undefined;
}

function listening(child: ChildProcess, kind: string): Promise<string> {
  return new Promise((resolveUrl, reject) => {
    let output = '';
    const timer = setTimeout(() => fail(`did not listen within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`inferledger ${kind} ${why}; its output ends: ${output.slice(-1000)}`));
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const url = listeningUrl(output);
      if (url) {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolveUrl(url);
      }
    };
    const onExit = (code: number | null) => fail(`exited (code ${code}) before listening`);
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', onExit);
  });
}

/** SIGTERM (the process flushes and closes its store), SIGKILL if it is still there after 30 s. */
function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', () => {
      clearTimeout(timer);
      done();
    });
    child.kill('SIGTERM');
  });
}
