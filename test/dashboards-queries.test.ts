import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateAnomalyAlerts } from '../src/alerts/anomaly-rules.ts';
import { createAlertStore } from '../src/alerts/store/alert-store.ts';
import { loadConfig } from '../src/config/load.ts';
import { BOARDS } from '../src/dashboards/generate.ts';
import { boardUid } from '../src/dashboards/board.ts';
import { expandQuery, type QueryContext, type TemplateVariable } from '../src/dashboards/expand-query.ts';
import { issueClosedStatements } from '../src/jobs/issue-statements.ts';
import { billingServices } from '../src/main.ts';
import type { Store } from '../src/store/client.ts';
import { clickHouseTargets, clickHouseVariables, readDashboards, select, SELECTIONS, type Selection } from './support/grafana-dashboards.ts';
import { createKey, infer, startHarness, waitFor, type Harness } from './support/platform.ts';

/**
 * Every ClickHouse query of every committed dashboard, run for real: the app (`inferledger up`)
 * serves real inference for two tenants, its pipeline fills the real schema (spans → requests →
 * usage_hourly, resource and GPU samples → capacity_hourly), tenant A crosses a CPU quota (alerts
 * fire, later requests are refused), statements are issued by the month-close job; then each
 * variable and panel query is expanded the way Grafana and the ClickHouse plugin expand it and
 * must succeed, return rows, and return the columns its panel expects, under every selection of
 * the board's variables (All, one value, two values).
 *
 * Seeded outside the traffic, through the real code paths: a GPU (a fake `nvidia-smi` on PATH
 * printing what a real H100 printed: the sampler's probe, parser and writer do the rest); one anomaly alert
 * (the anomaly rules + alert store; the detector itself needs weeks of hourly history); the
 * statements (issueClosedStatements with its clock set past this month's close).
 */

const A = 'dash-a';
const B = 'dash-b';
const HOUR = 3_600_000;
/** What a real H100 printed under a matmul load (captured on a lent GPU machine, 2026-11-27). */
const NVIDIA_SMI_CAPTURE = fileURLToPath(new URL('../src/sidecar/resources/fixtures/nvidia-smi-h100-load.csv', import.meta.url));

let h: Harness;
let store: Store;

function fakeNvidiaSmiOnPath(): void {
  const dir = mkdtempSync(join(tmpdir(), 'inferledger-fake-gpu-'));
  const script = join(dir, 'nvidia-smi');
  writeFileSync(script, `#!/bin/sh\ncat '${NVIDIA_SMI_CAPTURE}'\n`);
  chmodSync(script, 0o755);
  process.env.PATH = `${dir}${delimiter}${process.env.PATH ?? ''}`;
}

async function traffic(key: string, plan: ReadonlyArray<[model: string, requests: number, rows: number]>): Promise<void> {
  for (const [model, requests, rows] of plan) {
    for (let i = 0; i < requests; i++) {
      const res = await infer(h.baseUrl, key, model, rows);
      if (res.status !== 200) throw new Error(`infer ${model}: ${res.status} ${res.text}`);
    }
  }
}

async function seedAnomalyAlert(now: number): Promise<void> {
  const finding = {
    tenantId: A,
    metric: 'requests_per_hour',
    at: now,
    score: 0.93,
    expected: 12,
    actual: 57,
    impact: { absolute: 45, percent: 375 },
    severity: 'critical' as const,
    topContributors: [{ dimension: 'model', key: 'classifier-small', expected: 6, actual: 49, impact: 43 }],
  };
  const evaluation = evaluateAnomalyAlerts([], [finding], { forSeconds: 0, now });
  await createAlertStore(store).save(evaluation.alerts, evaluation.transitions);
}

beforeAll(async () => {
  fakeNvidiaSmiOnPath();
  h = await startHarness({
    config: { sidecar: { sample_interval_s: 3600 }, tenants: { [A]: { quotas: { cpu_seconds_per_month: 0.000001 } }, [B]: {} } },
  });
  store = h.platform.store;
  const keyA = await createKey(h.baseUrl, A);
  const keyB = await createKey(h.baseUrl, B);
  await traffic(keyA, [['classifier-large', 6, 32], ['classifier-small', 6, 4]]);
  await traffic(keyB, [['classifier-large', 4, 16], ['classifier-small', 8, 1]]);
  await h.platform.flushTelemetry();
  await h.platform.runRollup();

  // A is over its monthly CPU quota: both thresholds fire, then A's requests are refused.
  await h.platform.quotas!.refresh();
  await h.platform.evaluateAlerts();
  await waitFor(async () => ((await infer(h.baseUrl, keyA, 'classifier-small')).status === 429 ? true : undefined), `${A} refused`);
  expect((await infer(h.baseUrl, keyA, 'classifier-large')).status).toBe(429);
  await seedAnomalyAlert(Date.now());

  await h.platform.flushTelemetry();
  await h.platform.runRollup();
  const dataDir = mkdtempSync(join(tmpdir(), 'inferledger-dash-config-'));
  const config = loadConfig({ INFERLEDGER_DATA_DIR: dataDir }, dataDir);
  const now = new Date();
  const afterClose = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1) + (config.billing.close_grace_hours + 1) * HOUR;
  const issued = await issueClosedStatements({ ...billingServices(config, store).statements, now: () => afterClose });
  expect(issued.issued).toBe(2);
});

afterAll(async () => {
  await h?.close();
});

interface Result {
  meta: Array<{ name: string; type: string }>;
  data: Array<Record<string, unknown>>;
}

async function run(sql: string): Promise<Result> {
  const rs = await store.client.query({ query: sql, format: 'JSON' });
  return rs.json<Record<string, unknown>>() as Promise<Result>;
}

const NUMERIC = /^(Nullable\()?(U?Int\d+|Float\d+|Decimal)/;
const TIME = /^(Nullable\()?DateTime/;
const TEXT = /^(Nullable\()?(LowCardinality\()?(String|FixedString)/;

/** What a panel of this kind can render: a time column first (time series), numbers, labels. */
function checkShape(panelType: string, format: number, meta: Result['meta'], data: Result['data']): void {
  const [first, ...rest] = meta;
  if (panelType === 'timeseries') {
    expect(format, 'time series format').toBe(0);
    expect(first?.name).toBe('time');
    expect(first?.type).toMatch(TIME);
    for (const c of rest) expect(c.type, c.name).toMatch(new RegExp(`${NUMERIC.source}|${TEXT.source}`));
    expect(rest.some((c) => NUMERIC.test(c.type)), 'a value column').toBe(true);
    const times = data.map((r) => Date.parse(`${String(r.time).replace(' ', 'T')}Z`));
    expect(times, 'ascending time').toEqual([...times].sort((x, y) => x - y));
    return;
  }
  expect(format, 'table format').toBe(1);
  if (panelType === 'stat') for (const c of meta) expect(c.type, c.name).toMatch(NUMERIC);
  if (panelType === 'bargauge') {
    expect(first?.type).toMatch(TEXT);
    for (const c of rest) expect(c.type, c.name).toMatch(NUMERIC);
  }
}

const expectedColumns = new Map(
  BOARDS.map((b) => [
    boardUid(b),
    new Map(b.rows.flatMap((r) => r.panels).flatMap((p) => (p.source === 'clickhouse' ? [[p.title, p.columns] as const] : []))),
  ]),
);

const dashboards = readDashboards();

describe.each(dashboards.map((d) => [d.title, d] as const))('%s', (_title, d) => {
  const variables = clickHouseVariables(d);
  const targets = clickHouseTargets(d);

  it('has a column expectation for every ClickHouse target, and a target for every expectation', () => {
    const expected = expectedColumns.get(d.uid);
    expect(expected, `board ${d.uid} is generated by src/dashboards`).toBeDefined();
    expect(targets.map((t) => t.panelTitle).sort()).toEqual([...expected!.keys()].sort());
  });

  it.each(SELECTIONS.map((s) => [s]))('every variable and panel query runs and returns rows (%s)', async (selection: Selection) => {
    const now = Date.now();
    const ctx = (vars: readonly TemplateVariable[]): QueryContext => ({ fromMs: now - 6 * HOUR, toMs: now + 1000, intervalMs: 30_000, variables: vars });
    const resolved: TemplateVariable[] = [];
    for (const v of variables) {
      const sql = expandQuery(v.sql, ctx(resolved));
      const result = await run(sql).catch((err: Error) => {
        throw new Error(`variable $${v.name}: ${err.message}\n${sql}`);
      });
      expect(result.meta, `variable $${v.name} returns one column`).toHaveLength(1);
      const options = result.data.map((r) => String(Object.values(r)[0]));
      expect(options.length, `variable $${v.name} has options`).toBeGreaterThan(0);
      resolved.push(select(v, options, selection));
    }
    for (const t of targets) {
      const what = `${t.panelTitle} (${t.refId}) with ${resolved.map((v) => `$${v.name}=${JSON.stringify(v.current)}`).join(' ')}`;
      const sql = expandQuery(t.sql, ctx(resolved));
      const result = await run(sql).catch((err: Error) => {
        throw new Error(`${what}: ${err.message}\n${sql}`);
      });
      expect(result.data.length, `${what} returns rows\n${sql}`).toBeGreaterThan(0);
      expect(result.meta.map((c) => c.name), what).toEqual(expectedColumns.get(d.uid)?.get(t.panelTitle));
      checkShape(t.panelType, t.format, result.meta, result.data);
    }
  });
});

describe('CPU cores held vs used (GPU & capacity board): the fleet, not one instance', () => {
  // Found by dogfooding: two replicas of 4 cores each, side by side, showed 4 cores held.
  it('adds up instances that run side by side, and counts an instance up for half the interval half', async () => {
    const board = dashboards.find((d) => clickHouseTargets(d).some((t) => t.panelTitle === 'CPU cores held vs used'))!;
    const target = clickHouseTargets(board).find((t) => t.panelTitle === 'CPU cores held vs used')!;
    const bucket = Math.floor((Date.now() - 3 * HOUR) / 30_000) * 30_000;
    const at = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
    const rows = [];
    // rep-a and rep-b: 4 cores held, 1 used, for the whole 30 s bucket; rep-c: 2 cores, only 15 s of it.
    for (const [instance, cores, from, to] of [['dash-rep-a', 4, 0, 30], ['dash-rep-b', 4, 0, 30], ['dash-rep-c', 2, 0, 15]] as const) {
      for (let s = from; s < to; s += 5) {
        rows.push({
          ts: at(bucket + (s + 5) * 1000), window_start: at(bucket + s * 1000), instance_id: instance, host: 'h', service_name: 'inferledger-sidecar',
          cpu_capacity_millicores: cores * 1000, memory_limit_bytes: '0', cpu_used_us: String(5_000_000 / 4), inference_cpu_us: '0', rss_bytes: '0', gpu_count: 0, gpu_model: '',
        });
      }
    }
    await store.insert('resource_samples', rows);
    const variables = clickHouseVariables(board).map((v) => select(v, [], 'defaults'));
    const sql = expandQuery(target.sql, { fromMs: bucket, toMs: bucket + 30_000, intervalMs: 30_000, variables });
    const result = await run(sql);
    const point = result.data.find((r) => Date.parse(`${String(r.time).replace(' ', 'T')}Z`) === bucket);
    // 4 + 4 + 2 × 15/30 = 9 cores held; each 5 s window used 1.25 core-seconds: (6 + 6 + 3) × 1.25 / 30 s.
    expect(Number(point?.held_cores)).toBeCloseTo(9, 9);
    expect(Number(point?.used_cores)).toBeCloseTo(0.625, 9);
  });
});
