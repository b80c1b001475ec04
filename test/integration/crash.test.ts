import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { ADMIN_KEY, call, createKey, infer, waitFor } from '../support/platform.ts';

/**
 * SPEC §9: no acknowledged data is lost on a SIGKILL. A real `inferledger up` child process
 * serves inference with a span batch interval of ten minutes (so nothing reaches ClickHouse by
 * the batch path), is killed with SIGKILL right after the last answer, and is started again on
 * the same data directory: every answered request must be billed, once.
 */

const BIN = fileURLToPath(new URL('../../bin/inferledger.js', import.meta.url));
const TENANT = 'crash-test';
const REQUESTS = 12;

const running: RunningDaemon[] = [];
afterEach(() => {
  for (const d of running.splice(0)) if (d.child.exitCode === null) d.child.kill('SIGKILL');
});

async function startUp(dataDir: string, journal: boolean): Promise<RunningDaemon> {
  const configPath = join(dataDir, 'inferledger.yaml');
  writeFileSync(
    configPath,
    JSON.stringify({ server: { host: '127.0.0.1' }, telemetry: { batch_delay_ms: 600_000, journal }, sidecar: { sample_interval_s: 3600 } }),
  );
  const up = await startDaemon('inferledger up', process.execPath, 'node runs it', () => [BIN, 'up'], {
    envFor: (port) => ({ INFERLEDGER_DATA_DIR: dataDir, INFERLEDGER_PORT: String(port), INFERLEDGER_ADMIN_KEY: ADMIN_KEY, INFERLEDGER_CONFIG: configPath }),
    readyPath: '/readyz',
  });
  running.push(up);
  return up;
}

/** Serves REQUESTS answered inferences in a fresh `up`, then kills it with SIGKILL. */
async function serveThenKill(journal: boolean): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'inferledger-crash-'));
  const first = await startUp(dataDir, journal);
  const key = await createKey(first.url, TENANT);
  for (let i = 0; i < REQUESTS; i++) expect((await infer(first.url, key, 'classifier-small')).status).toBe(200);
  await killHard(first.child);
  return dataDir;
}

async function killHard(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** Rows in the spool's otel_traces files (what a restart replays). */
function spooledSpans(dataDir: string): number {
  const dir = join(dataDir, 'spool', 'otel_traces');
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
  } catch {
    return 0;
  }
  return files.reduce((n, f) => n + readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean).length, 0);
}

async function requestsBilled(url: string): Promise<number> {
  const res = await call<{ totals: { requests: number } }>(url, 'GET', `/v1/tenants/${TENANT}/usage`, { key: ADMIN_KEY });
  if (res.status !== 200) throw new Error(`usage: ${res.status} ${res.text}`);
  return res.body.totals.requests;
}

describe('a SIGKILL right after the answers (span batch interval: 10 minutes)', () => {
  it('with the span journal (default): every answered request is billed after the restart, once', async () => {
    const dataDir = await serveThenKill(true);
    // Nothing reached ClickHouse by the batch path; the journal holds every answered request.
    expect(spooledSpans(dataDir)).toBe(REQUESTS);

    const second = await startUp(dataDir, true);
    await waitFor(async () => ((await requestsBilled(second.url)) >= REQUESTS ? true : undefined), 'the journal to be replayed', 45_000);
    expect(await requestsBilled(second.url)).toBe(REQUESTS);
    await waitFor(async () => (spooledSpans(dataDir) === 0 ? true : undefined), 'the spool to be drained', 30_000);
    expect(await requestsBilled(second.url)).toBe(REQUESTS);
  });

  it('without it (telemetry.journal: false) the requests of the unflushed batch are lost: what the journal is for', async () => {
    const dataDir = await serveThenKill(false);
    expect(spooledSpans(dataDir)).toBe(0);
    const second = await startUp(dataDir, false);
    expect(await requestsBilled(second.url)).toBe(0);
  });
});
