import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { PROMETHEUS_DS } from './clickhouse-query.ts';
import { generateDashboardFiles } from './generate.ts';

/**
 * Every Prometheus panel expression parses as PromQL: written as recording rules (Grafana's
 * variables replaced by what All sends) and checked by `promtool check rules`. Skipped where
 * promtool is not installed (Debian/Ubuntu: the `prometheus` package).
 */

const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

interface Target {
  expr?: string;
  datasource?: { uid?: string };
}

const exprs = generateDashboardFiles()
  .filter((f) => f.path.endsWith('.json'))
  .flatMap((f) => (JSON.parse(f.content) as { panels: Array<{ targets?: Target[] }> }).panels)
  .flatMap((p) => p.targets ?? [])
  .filter((t) => t.datasource?.uid === PROMETHEUS_DS.uid)
  .map((t) => t.expr ?? '');

describe('Prometheus panel queries', () => {
  it('read only inferledger metrics', () => {
    expect(exprs.length).toBeGreaterThan(0);
    for (const e of exprs) expect(e).toMatch(/\binferledger_\w+/);
  });

  it('aggregate the month-to-date cost with max: every API replica exports the same figure, and a sum multiplied it', () => {
    const cost = exprs.filter((e) => e.includes('inferledger_tenant_cost_month_to_date'));
    expect(cost.length).toBeGreaterThan(0);
    for (const e of cost) {
      expect(e).toMatch(/^max\b/);
      expect(e).not.toMatch(/\bsum\b/);
    }
  });

  it('leave refused requests out of latency quantiles, like the history panels and the SLO rules', () => {
    const latency = exprs.filter((e) => e.includes('inferledger_request_duration_seconds_bucket'));
    expect(latency.length).toBeGreaterThan(0);
    for (const e of latency) expect(e).toContain('status!="rejected"');
  });

  it.skipIf(!hasPromtool)('are valid PromQL (promtool check rules)', () => {
    const rules = exprs.map((expr, i) => ({
      record: `dashboards:expr_${i}`,
      expr: expr.replaceAll('$__rate_interval', '1m').replaceAll('$tenant', '.*').replaceAll('$model', '.*'),
    }));
    const file = join(mkdtempSync(join(tmpdir(), 'inferledger-promql-')), 'rules.yml');
    writeFileSync(file, toYaml({ groups: [{ name: 'dashboards', rules }] }));
    expect(execFileSync('promtool', ['check', 'rules', file], { encoding: 'utf8' })).toContain(`SUCCESS: ${rules.length} rules found`);
  });
});
