import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, call, createKey, infer, startHarness, type Harness } from './support/platform.ts';
import { promtool } from './support/prometheus.ts';

/**
 * SPEC §8 with the real `promtool` (Debian package `prometheus`): the shipped Prometheus config
 * and rule files are valid, every alert rule has unit tests that see it fire and stay quiet, and
 * the /metrics output of a running app, after real traffic, passes `promtool check metrics`.
 */

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const PROM_DIR = resolve(ROOT, 'collectors/prometheus');
const filesIn = (dir: string) =>
  readdirSync(resolve(PROM_DIR, dir))
    .filter((f) => f.endsWith('.yml'))
    .sort()
    .map((f) => resolve(PROM_DIR, dir, f));

describe('collectors/prometheus (promtool)', () => {
  it('prometheus.yml passes `promtool check config` (rule files included)', () => {
    const r = promtool(['check', 'config', resolve(PROM_DIR, 'prometheus.yml')]);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toMatch(/SUCCESS: \d+ rule files found/);
  });

  it('the rule files pass `promtool check rules`', () => {
    const rules = filesIn('rules');
    expect(rules.map((f) => f.slice(PROM_DIR.length + 1))).toEqual(expect.arrayContaining(['rules/anomalies.yml', 'rules/ingest.yml', 'rules/jobs.yml', 'rules/quotas.yml', 'rules/slo.yml']));
    const r = promtool(['check', 'rules', ...rules]);
    expect(r.status, r.output).toBe(0);
    expect(r.output).not.toMatch(/FAILED/);
  });

  it('the rule unit tests pass `promtool test rules`', () => {
    const r = promtool(['test', 'rules', ...filesIn('tests')]);
    expect(r.status, r.output).toBe(0);
    expect(r.output).not.toMatch(/FAILED/);
  });

  it('every alert rule is unit-tested both firing and not firing', () => {
    interface RuleFile {
      groups: Array<{ rules: Array<{ alert?: string; record?: string }> }>;
    }
    interface TestFile {
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] | null }> }>;
    }
    const alerts = filesIn('rules').flatMap((f) => (parse(readFileSync(f, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : []))));
    expect(alerts.length).toBeGreaterThanOrEqual(8);
    const cases = filesIn('tests').flatMap((f) => (parse(readFileSync(f, 'utf8')) as TestFile).tests.flatMap((t) => t.alert_rule_test ?? []));
    for (const alert of alerts) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${alert} is tested firing`).toBe(true);
      expect(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${alert} is tested not firing`).toBe(true);
    }
  });
});

describe('GET /metrics of a running app', () => {
  const MODEL = 'classifier-small';
  const TENANTS = ['prom-a', 'prom-b', 'prom-capped', 'prom-d', 'prom-e'];
  let h: Harness;
  let text: string;

  beforeAll(async () => {
    h = await startHarness({
      config: {
        server: { metrics_port: 0, metrics_max_tenants: 3 },
        // One request a minute: of three in a row at least one is refused, whatever the clock.
        tenants: { 'prom-capped': { quotas: { requests_per_minute: 1 } } },
      },
    });
    const keys = new Map<string, string>();
    for (const t of TENANTS) keys.set(t, await createKey(h.baseUrl, t));
    // Sequential, so the first three tenants to send traffic keep their labels.
    for (const t of TENANTS) {
      for (let i = 0; i < 3; i++) {
        const res = await infer(h.baseUrl, keys.get(t)!, MODEL);
        expect([200, 429]).toContain(res.status);
      }
    }
    await h.platform.flushTelemetry();
    const res = await call(h.baseUrl, 'GET', '/metrics', { key: ADMIN_KEY });
    expect(res.status).toBe(200);
    text = res.text;
  });

  afterAll(() => h?.close());

  it('passes `promtool check metrics` with no lint problems', () => {
    const r = promtool(['check', 'metrics'], text);
    expect(r.output.trim()).toBe('');
    expect(r.status).toBe(0);
  });

  it.each([
    ['inferledger_requests_total', 'counter'],
    ['inferledger_request_duration_seconds', 'histogram'],
    ['inferledger_queue_wait_seconds', 'histogram'],
    ['inferledger_cpu_seconds_total', 'counter'],
    ['inferledger_tenant_cost_month_to_date', 'gauge'],
    ['inferledger_quota_usage_ratio', 'gauge'],
    ['inferledger_alerts_firing', 'gauge'],
    ['inferledger_spool_pending_batches', 'gauge'],
    ['inferledger_spool_replayed_batches_total', 'counter'],
    ['inferledger_ingest_rows_written_total', 'counter'],
    ['inferledger_ingest_write_failures_total', 'counter'],
    ['inferledger_otlp_refused_total', 'counter'],
    ['inferledger_job_runs_total', 'counter'],
    ['inferledger_job_skipped_runs_total', 'counter'],
    ['inferledger_job_duration_seconds', 'histogram'],
    ['inferledger_attribution_day_lookups_total', 'counter'],
    ['inferledger_attribution_day_problems_total', 'counter'],
    ['process_cpu_seconds_total', 'counter'],
    ['process_resident_memory_bytes', 'gauge'],
  ])('exposes %s (%s)', (name, type) => {
    expect(text).toContain(`# TYPE ${name} ${type}\n`);
  });

  it('counts the traffic by tenant × model × status, with at most metrics_max_tenants tenant labels + "other"', () => {
    const series = [...text.matchAll(/^inferledger_requests_total\{tenant="([^"]+)",model="([^"]+)",status="([^"]+)"\} (\d+)$/gm)];
    const tenants = new Set(series.map((m) => m[1]));
    expect([...tenants].sort()).toEqual(['other', 'prom-a', 'prom-b', 'prom-capped']);
    const count = (tenant: string, status: string) => series.filter((m) => m[1] === tenant && m[3] === status).reduce((n, m) => n + Number(m[4]), 0);
    expect(count('prom-a', 'ok')).toBe(3);
    expect(count('other', 'ok')).toBe(6);
    expect(count('prom-capped', 'rejected')).toBeGreaterThanOrEqual(1);
    expect(count('prom-capped', 'ok') + count('prom-capped', 'rejected')).toBe(3);
    expect(text).toMatch(/^inferledger_request_duration_seconds_count\{tenant="prom-a",model="classifier-small",status="ok"\} 3$/m);
    expect(text).toMatch(/^inferledger_queue_wait_seconds_count\{tenant="prom-a"\} 3$/m);
    expect(text).toMatch(/^inferledger_quota_usage_ratio\{tenant="prom-capped",quota="requests_per_minute"\} [\d.]+$/m);
    expect(text).toMatch(/^inferledger_ingest_rows_written_total\{table="otel_traces"\} [1-9]\d*$/m);
    // Every scheduled job of the process has its series from the start.
    for (const job of ['rollups', 'spool-drain', 'quota-usage', 'cost-metrics']) expect(text).toMatch(new RegExp(`^inferledger_job_runs_total\\{job_name="${job}",outcome="failed"\\} \\d+$`, 'm'));
  });

  it('the metrics port serves the same families to anyone, and nothing else', async () => {
    const port = h.platform.metricsPort;
    expect(port).toBeGreaterThan(0);
    const base = `http://127.0.0.1:${port}`;
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const open = await res.text();
    const families = (t: string) => [...t.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]).sort();
    expect(families(open)).toEqual(families(text));
    for (const path of ['/v1/attribution', '/healthz', '/v2/models']) expect((await fetch(`${base}${path}`)).status).toBe(404);
    expect((await call(h.baseUrl, 'GET', '/metrics')).status).toBe(401);
  });
});
