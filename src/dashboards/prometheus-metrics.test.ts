import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../telemetry/metrics.ts';

/**
 * Every inferledger_* metric a dashboard's Prometheus query names is one the product exports: a
 * renamed or misspelled metric would otherwise leave a panel silently empty. (ClickHouse panels
 * are checked against the real schema in test/dashboards-queries.test.ts.)
 */

const DASHBOARDS = join(import.meta.dirname, '../../dashboards');
const RULES = join(import.meta.dirname, '../../collectors/prometheus/rules');

function prometheusExprs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) prometheusExprs(n, out);
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (typeof o.expr === 'string') out.push(o.expr);
    for (const v of Object.values(o)) prometheusExprs(v, out);
  }
  return out;
}

describe('dashboards and alert rules: Prometheus queries', () => {
  it('name only metrics the product exports', async () => {
    // Every optional family switched on, so the registry lists all of them.
    const m = createMetrics({
      processMetrics: false,
      firingAlerts: () => [],
      quotaRatios: async () => [],
      costs: () => undefined,
      spoolPending: () => 0,
      spoolQuarantined: () => 0,
      quotaStandbyInUse: () => false,
    });
    const exported = new Set((await m.registry.getMetricsAsJSON()).map((f) => f.name));
    const documents = [
      ...readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(DASHBOARDS, f), 'utf8')) as unknown),
      ...readdirSync(RULES).filter((f) => f.endsWith('.yml')).map((f) => parse(readFileSync(join(RULES, f), 'utf8')) as unknown),
    ];
    const named = new Set<string>();
    for (const document of documents) {
      for (const expr of prometheusExprs(document)) {
        for (const [name] of expr.matchAll(/\binferledger_[a-z0-9_]+/g)) named.add(name.replace(/_(bucket|sum|count)$/, ''));
      }
    }
    expect(named.size).toBeGreaterThan(5);
    expect([...named].filter((n) => !exported.has(n))).toEqual([]);
    expect(named).toContain('inferledger_spool_quarantined_batches');
    expect(named).toContain('inferledger_quota_standby_in_use');
  });
});
