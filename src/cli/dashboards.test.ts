import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { generateDashboardFiles } from '../dashboards/generate.ts';
import { runDashboardsCommand } from './dashboards.ts';

const REPO = resolve(import.meta.dirname, '../..');

async function run(args: string[], cwd = REPO): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks = { stdout: '', stderr: '' };
  out.on('data', (b: Buffer) => (chunks.stdout += b.toString()));
  err.on('data', (b: Buffer) => (chunks.stderr += b.toString()));
  const code = await runDashboardsCommand(args, { stdout: out, stderr: err, cwd });
  return { code, ...chunks };
}

/** A copy of the committed dashboards/ to break. */
function copyOfCommitted(): string {
  const dir = mkdtempSync(join(tmpdir(), 'inferledger-dashboards-'));
  cpSync(join(REPO, 'dashboards'), join(dir, 'dashboards'), { recursive: true });
  return dir;
}

describe('inferledger dashboards --check', () => {
  it('passes on the committed dashboards/ (what CI runs)', async () => {
    const res = await run(['--check']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
  });

  it('fails listing a modified, a missing and a stray file; writing repairs all three', async () => {
    const cwd = copyOfCommitted();
    const dir = join(cwd, 'dashboards');
    const board = join(dir, 'inferledger-fleet.json');
    writeFileSync(board, readFileSync(board, 'utf8').replace('Request rate by tenant', 'Request rate per tenant'));
    rmSync(join(dir, 'provisioning/datasources/inferledger.yaml'));
    writeFileSync(join(dir, 'inferledger-old-board.json'), '{}\n'); // a board since renamed

    const check = await run(['--check'], cwd);
    expect(check.code).toBe(1);
    expect(check.stderr).toContain('inferledger-fleet.json (differs)');
    expect(check.stderr).toContain('provisioning/datasources/inferledger.yaml (missing)');
    expect(check.stderr).toContain('inferledger-old-board.json (not generated)');

    const write = await run([], cwd);
    expect(write.code).toBe(0);
    expect(write.stdout).toContain('removed inferledger-old-board.json');
    expect(existsSync(join(dir, 'inferledger-old-board.json'))).toBe(false);
    expect(await run(['--check'], cwd)).toMatchObject({ code: 0, stderr: '' });
  });

  it('writes every generated file into an empty --dir, byte for byte', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'inferledger-dashboards-')), 'out');
    expect((await run(['--dir', dir])).code).toBe(0);
    for (const f of generateDashboardFiles()) expect(readFileSync(join(dir, f.path), 'utf8')).toBe(f.content);
    expect((await run(['--dir', dir, '--check'])).code).toBe(0);
  });

  it("keeps files it does not own: a Grafana folder's own boards and provisioning", async () => {
    const cwd = copyOfCommitted();
    writeFileSync(join(cwd, 'dashboards', 'NOTES.md'), 'hand-written\n');
    writeFileSync(join(cwd, 'dashboards', 'my-board.json'), '{"title":"mine"}\n');
    writeFileSync(join(cwd, 'dashboards', 'provisioning/datasources/prometheus.yaml'), 'apiVersion: 1\n');
    writeFileSync(join(cwd, 'dashboards', 'provisioning/dashboards/team.yaml'), 'apiVersion: 1\n');
    expect((await run(['--check'], cwd)).code).toBe(0);
    expect((await run([], cwd)).code).toBe(0);
    for (const mine of ['NOTES.md', 'my-board.json', 'provisioning/datasources/prometheus.yaml', 'provisioning/dashboards/team.yaml']) {
      expect(existsSync(join(cwd, 'dashboards', mine)), mine).toBe(true);
    }
  });

  // Found by dogfooding: every money panel said $ whatever pricing.currency a deployment bills in.
  it('--currency sets the unit of every money panel, and only of those', async () => {
    const units = (currency?: string) =>
      generateDashboardFiles(currency ? { currency } : {})
        .filter((f) => f.path.endsWith('.json'))
        .flatMap((f) => (JSON.parse(f.content) as { panels: Array<{ title: string; fieldConfig?: { defaults?: { unit?: string } } }> }).panels)
        .map((p) => [p.title, p.fieldConfig?.defaults?.unit ?? ''] as const);
    const usd = units();
    const eur = units('EUR');
    const chf = units('XAF');
    const money = usd.filter(([, u]) => u === 'currencyUSD').map(([t]) => t);
    expect(money.length).toBeGreaterThanOrEqual(6);
    expect(eur.filter(([, u]) => u === 'currencyEUR').map(([t]) => t)).toEqual(money);
    expect(chf.filter(([, u]) => u === 'suffix: XAF').map(([t]) => t)).toEqual(money);
    expect(eur.filter(([, u]) => !u.startsWith('currency'))).toEqual(usd.filter(([, u]) => u !== 'currencyUSD'));
    const dir = join(mkdtempSync(join(tmpdir(), 'inferledger-dashboards-')), 'out');
    expect((await run(['--dir', dir, '--currency', 'eur'])).code).toBe(0);
    expect(readFileSync(join(dir, 'inferledger-billing.json'), 'utf8')).toContain('currencyEUR');
    expect((await run(['--currency', 'euro'])).code).toBe(2);
  });

  it('exits 2 on a usage error', async () => {
    const res = await run(['--chek']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/usage: inferledger dashboards/);
  });
});
