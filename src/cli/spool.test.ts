import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isDataRefusal } from '../ingest/refusal.ts';
import { Spool } from '../ingest/spool.ts';
import { runSpoolCommand } from './spool.ts';

const ROOT = resolve(import.meta.dirname, '../..');

function io() {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (c: Buffer) => (stdout += c.toString()));
  err.on('data', (c: Buffer) => (stderr += c.toString()));
  return { io: { stdout: out, stderr: err }, text: () => ({ stdout, stderr }) };
}

/** A data dir whose spool has one waiting otel_traces batch and one quarantined usage batch. */
async function dataDirWithPoison(): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'il-spool-cli-'));
  const spool = new Spool(join(dataDir, 'spool'));
  spool.append('resource_samples', [{ window_start: 'not a time' }]);
  const refuse = () => Promise.reject(new Error('ClickHouse: Code: 41. DB::Exception: Cannot parse DateTime'));
  for (let i = 0; i < 3; i++) await spool.drain(refuse, undefined, { isRefusal: isDataRefusal, after: 3 });
  spool.append('otel_traces', [{ TraceId: 'a' }]);
  new Spool(join(dataDir, 'otlp-journal')).append('otlp_spans', [{ name: 'span' }]);
  return dataDir;
}

describe('inferledger spool', () => {
  it('lists waiting batches per table and quarantined ones with their reason, then requeues them', async () => {
    const dataDir = await dataDirWithPoison();
    const list = io();
    expect(runSpoolCommand(['list'], dataDir, list.io)).toBe(0);
    const listed = list.text().stdout;
    expect(listed).toContain('1 batch(es) waiting for ClickHouse\n  otel_traces: 1\n');
    expect(listed).toMatch(/quarantine .*spool-quarantine: 1 batch\(es\)\n {2}resource_samples {2}1 rows {2}\S+\.jsonl\n {4}refused 3 times in a row; last: ClickHouse: Code: 41\./);
    expect(listed).toMatch(/OTLP span journal .*otlp-journal: 1 file\(s\) waiting for export\n$/);

    const misspelt = io();
    expect(runSpoolCommand(['requeue', '--table', 'resource_sample'], dataDir, misspelt.io)).toBe(1);
    expect(misspelt.text().stderr).toBe('no quarantined batch for table "resource_sample"; in quarantine: resource_samples\n');

    const requeue = io();
    expect(runSpoolCommand(['requeue', '--table', 'resource_samples'], dataDir, requeue.io)).toBe(0);
    expect(requeue.text().stdout).toMatch(/^1 batch\(es\) back in the spool for resource_samples/);
    const spool = new Spool(join(dataDir, 'spool'));
    expect(spool.pending().map((p) => p.table).sort()).toEqual(['otel_traces', 'resource_samples']);
    expect(spool.quarantined()).toEqual([]);
  });

  it("does not count a running process's open journal file as waiting", async () => {
    const dataDir = await dataDirWithPoison();
    // Named like a journal file of another process that is alive (this worker's parent).
    mkdirSync(join(dataDir, 'spool', 'otel_traces'), { recursive: true });
    writeFileSync(join(dataDir, 'spool', 'otel_traces', `${String(Date.now()).padStart(15, '0')}-${process.ppid}-000000.jsonl`), '{"TraceId":"b"}\n');
    const list = io();
    expect(runSpoolCommand(['list'], dataDir, list.io)).toBe(0);
    expect(list.text().stdout).toContain(
      `1 batch(es) waiting for ClickHouse\n  otel_traces: 1\n  (and 1 file(s) being written by running process ${process.ppid}: its span journal, delivered every batch interval)\n`,
    );
  });

  it('refuses an unknown subcommand or option with the usage and status 2', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'il-spool-cli-'));
    for (const [args, why] of [
      [['purge'], 'unknown spool command "purge"'],
      [['requeue', '--tabel', 'x'], "Unknown option '--tabel'"],
      [['list', '--table', 'x'], '`--table` is for requeue only'],
    ] as const) {
      const run = io();
      expect(runSpoolCommand([...args], dataDir, run.io)).toBe(2);
      expect(run.text().stderr).toContain(why);
      expect(run.text().stderr).toContain('usage: inferledger spool');
    }
  });

  it('is wired into the CLI and reads the data directory from the environment', async () => {
    const dataDir = await dataDirWithPoison();
    const run = spawnSync(process.execPath, [join(ROOT, 'bin/inferledger.js'), 'spool'], {
      cwd: dataDir,
      env: { ...process.env, INFERLEDGER_DATA_DIR: dataDir, INFERLEDGER_CONFIG: '' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toContain('quarantine');
    expect(run.stdout).toContain('resource_samples  1 rows');
  });
});
