import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The CLI's argument handling through the real binary: help and usage errors come before the
 * config is read and before anything is opened, so `migrate --help` changes no schema and a
 * broken config does not hide the help.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const scratch = mkdtempSync(join(tmpdir(), 'inferledger-cli-'));
/** A data directory that must not come into existence: nothing may open the store. */
const untouched = join(scratch, 'never-created');
const brokenConfig = join(scratch, 'broken.yaml');
writeFileSync(brokenConfig, 'server:\n  port: "abc"\n');

function cli(args: string[], env: Record<string, string> = {}) {
  const run = spawnSync(process.execPath, [join(ROOT, 'bin/inferledger.js'), ...args], {
    cwd: scratch,
    env: { ...process.env, INFERLEDGER_DATA_DIR: untouched, INFERLEDGER_CONFIG: '', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('inferledger CLI arguments', () => {
  it('without a command prints the usage on stderr and exits 2', () => {
    const run = cli([]);
    expect(run).toMatchObject({ code: 2, stdout: '' });
    expect(run.stderr).toContain('usage: inferledger <command>');
  });

  it.each([
    [['migrate', '--help'], 'usage: inferledger migrate'],
    [['up', '--help'], 'usage: inferledger up [--demo]'],
    [['sidecar', '-h'], 'usage: inferledger sidecar'],
    [['api', '--help'], 'usage: inferledger api'],
    [['statement', '--help'], 'usage: inferledger statement --tenant T'],
    [['spool', '--help'], 'usage: inferledger spool'],
    [['spool', 'list', '--help'], 'usage: inferledger spool'],
    [['spool', 'requeue', '--table', 'x', '-h'], 'usage: inferledger spool'],
    [['anomalies', 'detect', '--help'], 'usage: inferledger anomalies detect'],
    [['anomalies', 'detect', 'x.csv', '--help'], 'usage: inferledger anomalies detect'],
  ])('%j prints its help on stdout and exits 0, opening nothing, even with a broken config', (args, usage) => {
    const run = cli(args, { INFERLEDGER_CONFIG: brokenConfig });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(usage);
    expect(existsSync(untouched)).toBe(false);
  });

  it.each([
    [['migrate', '--bogus'], "Unknown option '--bogus'"],
    [['migrate', 'extra'], "Unexpected argument 'extra'"],
    [['up', '--dmeo'], "Unknown option '--dmeo'"],
    [['statement'], '--tenant: a tenant id is required'],
    [['statement', '--tenant', 'acme', '--period', '0026-11'], '--period: a month from 1970-01 to 2099-12 is required'],
    [['statement', '--tenant', 'acme', '--period', '2026-13'], '--period: a month from 1970-01 to 2099-12 is required'],
    [['statement', '--tenant', 'acme', '--period', '2026-11', '--format', 'xml'], '--format: one of json, csv, focus'],
  ])('%j is a usage error: exit 2 with the reason and the usage, nothing opened', (args, reason) => {
    const run = cli(args);
    expect(run.code, run.stdout).toBe(2);
    expect(run.stderr).toContain(reason);
    expect(run.stderr).toContain(`usage: inferledger ${args[0]}`);
    expect(existsSync(untouched)).toBe(false);
  });
});

describe('inferledger statement: which tenants exist', () => {
  // A tenant known only from its usage (fed by a collector with the admin key) exists for the
  // API, so for the CLI too; a mistyped id is refused, naming where the CLI looked.
  it('prints the statement of a tenant that has only usage; refuses an unknown one, naming the data directory', async () => {
    const dataDir = join(scratch, 'with-usage');
    const { openStore } = await import('../store/client.ts');
    const { migrate } = await import('../store/migrate.ts');
    const store = await openStore({ dataDir });
    try {
      await migrate(store, { rawTtlDays: 30 }, () => {});
      await store.insert('usage_hourly', [
        { tenant_id: 'collector-fed', hour: '2026-10-10 10:00:00', model: 'm', model_variant: 'm', instance_id: 'i-1', requests: 3, errors: 0, rejected: 0, cpu_us: 1000, gpu_us: 0, input_tokens: 0, output_tokens: 0, input_elements: 0, output_elements: 0, duration_ns_sum: 0, computed_at: '2026-10-10 11:00:00.000' },
      ]);
    } finally {
      await store.close();
    }
    const fed = cli(['statement', '--tenant', 'collector-fed', '--period', '2026-10'], { INFERLEDGER_DATA_DIR: dataDir });
    expect(fed.stderr).toBe('');
    expect(fed.code).toBe(0);
    expect(JSON.parse(fed.stdout)).toMatchObject({ tenant: 'collector-fed', period: '2026-10' });
    const typo = cli(['statement', '--tenant', 'collector-fd', '--period', '2026-10'], { INFERLEDGER_DATA_DIR: dataDir });
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain(`tenant "collector-fd" not found in the data directory ${dataDir} (not in the config, holds no API key, has no usage)`);
  });
});
