import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseBenchArgs } from './bench.ts';

/** `inferledger bench` end to end, as a user runs it (its own process), on the in-memory suites. */

const BIN = fileURLToPath(new URL('../../bin/inferledger.js', import.meta.url));
const run = promisify(execFile);

interface Metric {
  name: string;
  value: number | null;
  unit: string;
  baseline?: number | null;
  ratio?: number | null;
}
interface Doc {
  machine: { cpus: number; model: string; node: string; platform: string };
  started_at: string;
  commit: string | null;
  suites: Array<{ name: string; status: string; params: Record<string, unknown>; metrics: Metric[] }>;
}

const byPrefix = (metrics: Metric[], prefix: string) => metrics.filter((m) => m.name.startsWith(prefix));

describe('parseBenchArgs', () => {
  it('defaults to every suite and the documented sizes', () => {
    expect(parseBenchArgs([])).toMatchObject({ json: false, requests: 2000, rows: 1_000_000, runs: 5, replicas: 4, quotaHttp: false });
  });

  it('lists every problem at once', () => {
    const r = parseBenchArgs(['--suite', 'nope,fair-sharing', '--rows', '0', '--requests', 'x']);
    expect('problems' in r && r.problems).toEqual([
      expect.stringContaining('--suite: unknown or empty (nope)'),
      expect.stringContaining('--requests'),
      expect.stringContaining('--rows'),
    ]);
    expect(parseBenchArgs(['--bogus'])).toEqual({ problems: [expect.stringContaining('bogus')] });
  });

  it('takes sizes in decimal digits only: 0x10 and 1e3 are refused, not read as 16 and 1000', () => {
    for (const raw of ['0x10', '1e3', '1.5', ' ']) {
      expect(parseBenchArgs(['--requests', raw]), raw).toEqual({ problems: [expect.stringContaining(`--requests: an integer >= 1 is required, got "${raw}"`)] });
    }
  });

  it('accepts 10_000_000 style sizes', () => {
    expect(parseBenchArgs(['--rows', '10_000_000'])).toMatchObject({ rows: 10_000_000 });
  });
});

describe('inferledger bench (CLI)', () => {
  it('--suite quota-accuracy,fair-sharing --json: one JSON document whose numbers keep the invariants', async () => {
    const { stdout, stderr } = await run(process.execPath, [BIN, 'bench', '--suite', 'quota-accuracy,fair-sharing', '--json', '--replicas', '3']);
    expect(stderr).toContain('[bench] suite quota-accuracy');
    const doc = JSON.parse(stdout) as Doc;
    expect(doc.machine.cpus).toBeGreaterThan(0);
    expect(typeof doc.machine.node).toBe('string');
    expect(Number.isNaN(Date.parse(doc.started_at))).toBe(false);
    expect(doc.commit === null || /^[0-9a-f]{40}$/.test(doc.commit)).toBe(true);
    expect(doc.suites.map((s) => [s.name, s.status])).toEqual([
      ['quota-accuracy', 'ok'],
      ['fair-sharing', 'ok'],
    ]);
    for (const s of doc.suites) {
      for (const m of s.metrics) {
        expect(typeof m.name).toBe('string');
        expect(m.value === null || typeof m.value === 'number').toBe(true);
        if (typeof m.value === 'number' && typeof m.baseline === 'number' && m.baseline !== 0) expect(m.ratio).toBeCloseTo(m.value / m.baseline, 9);
      }
    }

    const quota = doc.suites[0]!;
    expect(quota.params).toMatchObject({ replicas: 3, limit_per_minute: 100 });
    const admitted = byPrefix(quota.metrics, 'admitted (baseline: L)');
    expect(admitted.length).toBeGreaterThanOrEqual(5);
    for (const m of admitted) {
      expect(m.value).toBeLessThanOrEqual(m.baseline!); // admitted <= L, whatever the interleaving
      expect(m.value).toBeGreaterThanOrEqual(Number(quota.params.floor)); // and >= L - N x max_chunk
    }
    for (const m of byPrefix(quota.metrics, 'stranded')) expect(m.value).toBeLessThanOrEqual(m.baseline!);
    for (const m of byPrefix(quota.metrics, 'admitted once idle leases returned')) expect(m.value).toBe(m.baseline);

    const fair = doc.suites[1]!.metrics;
    const find = (prefix: string) => byPrefix(fair, prefix)[0]!;
    const p99 = find("others' p99 wait, noisy flooding");
    const fifo = find("others' p99 wait, FIFO queue");
    expect(p99.value).not.toBeNull();
    expect(fifo.value!).toBeGreaterThan(p99.value!); // fair queueing protects the others; FIFO does not
    const served = find("others' served");
    expect(served.value).toBe(served.baseline); // nobody but the noisy tenant is refused
    const refused = find('noisy refusals');
    expect(refused.value!).toBeGreaterThan(0);
    expect(refused.value!).toBeLessThan(refused.baseline!);
  });

  it('exits 2 and names the choices for an unknown suite', async () => {
    const err = await run(process.execPath, [BIN, 'bench', '--suite', 'nope']).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 2 });
    expect((err as { stderr: string }).stderr).toContain('choose from memory, standalone, sidecar-overhead, span-journal, ingest, quota-accuracy, fair-sharing, noisy-flood, queries');
  });

  it("refuses a --data-dir that holds something else (an operator's data), before writing anything", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'il-bench-operator-'));
    writeFileSync(join(dataDir, 'admin.key'), 'il_admin_x\n');
    const err = await run(process.execPath, [BIN, 'bench', '--suite', 'fair-sharing', '--data-dir', dataDir]).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 2 });
    expect((err as { stderr: string }).stderr).toContain("never an operator's data directory");
    expect(readdirSync(dataDir)).toEqual(['admin.key']);
  });

  it('Ctrl-C removes the temporary data directory it made and exits 130', async () => {
    const child = spawn(process.execPath, [BIN, 'bench', '--suite', 'ingest', '--requests', '100000'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const dir = await new Promise<string>((resolveDir, reject) => {
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
        const m = /embedded ClickHouse in (\S+)\)/.exec(stderr);
        if (m) resolveDir(m[1]!);
      });
      child.once('exit', () => reject(new Error(`exited before starting: ${stderr}`)));
    });
    await expect.poll(() => existsSync(join(dir, 'clickhouse')), { timeout: 60_000 }).toBe(true);
    const code = new Promise<number | null>((resolveCode) => child.once('exit', (c) => resolveCode(c)));
    child.kill('SIGINT');
    expect(await code).toBe(130);
    await expect.poll(() => existsSync(dir), { timeout: 10_000 }).toBe(false);
  });
});
