/**
 * Renders docs/previews/<uid>.png for every dashboard in dashboards/*.json from real query
 * results, without Grafana:
 *
 *   node bin/run-ts.js scripts/render-previews.ts [outDir]
 *
 * Starts the real app in-process on a temp data directory (as test/dashboards-queries.test.ts
 * does), drives real inference for three tenants (one crosses a tiny CPU quota and gets 429s),
 * flushes telemetry, runs the rollups, issues statements with the month-close job and seeds one
 * anomaly alert; then expands every ClickHouse panel query the way Grafana and the plugin do
 * (src/dashboards/expand-query.ts; last 3 hours, All for multi-value variables) and runs it on the
 * app's store. Prometheus instant panels (stat, bar gauge) are evaluated on one scrape of the
 * app's /metrics; Prometheus time series need history and are drawn as labelled placeholders.
 * The GPU is simulated: a fake `nvidia-smi` on PATH whose utilisation varies with the clock.
 * Each board becomes a static HTML page (src/dashboards/preview/render.ts) screenshotted by
 * headless Chromium (/usr/bin/chromium, or $CHROMIUM). Not part of `npm test`.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { evaluateAnomalyAlerts } from '../src/alerts/anomaly-rules.ts';
import { createAlertStore } from '../src/alerts/store/alert-store.ts';
import { loadConfig } from '../src/config/load.ts';
import { CLICKHOUSE_PLUGIN_ID } from '../src/dashboards/clickhouse-query.ts';
import { ALL_VALUE, expandQuery, type TemplateVariable } from '../src/dashboards/expand-query.ts';
import { evalInstant, parseExposition, type Sample } from '../src/dashboards/preview/prom-text.ts';
import { PAGE_WIDTH, pageHeight, renderBoardHtml, type PanelView, type QueryResult } from '../src/dashboards/preview/render.ts';
import { issueClosedStatements } from '../src/jobs/issue-statements.ts';
import { billingServices } from '../src/main.ts';
import type { Store } from '../src/store/client.ts';
import type { DashboardJson, JsonPanel } from '../test/support/grafana-dashboards.ts';
import { ADMIN_KEY, call, createKey, infer, inferBody, startHarness, type Harness } from '../test/support/platform.ts';

const ROOT = resolve(import.meta.dirname, '..');
const OUT_DIR = resolve(process.argv[2] ?? join(ROOT, 'docs/previews'));
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const HOUR = 3_600_000;
const RANGE_MS = 3 * HOUR;
/** The query interval: small, so the minute or two of traffic spreads over several buckets. */
const INTERVAL_MS = 10_000;
const QUOTA_TENANT = 'acme';
const TENANTS = ['acme', 'globex', 'initech'] as const;
const MODELS = ['classifier-small', 'classifier-large', 'classifier-small-int8'] as const;

function fakeNvidiaSmiOnPath(): void {
  const dir = mkdtempSync(join(tmpdir(), 'inferledger-preview-gpu-'));
  const script = join(dir, 'nvidia-smi');
  // Utilisation, memory and power follow the clock, so the GPU panels have a shape.
  writeFileSync(
    script,
    [
      '#!/bin/sh',
      's=$(date +%s)',
      'u=$(( 25 + (s * 7) % 60 ))',
      'm=$(( 16384 + u * 400 ))',
      'p=$(( 150 + u * 6 ))',
      'echo "0, GPU-6f1e2a3b-7c4d-4e5f-8a9b-0c1d2e3f4a5b, NVIDIA H100 80GB HBM3, $u, $m, 81559, $p.50, 700.00"',
      '',
    ].join('\n'),
  );
  chmodSync(script, 0o755);
  process.env.PATH = `${dir}${delimiter}${process.env.PATH ?? ''}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One wave: per tenant a mix of models, 4 in flight at a time; a few malformed bodies. */
async function wave(h: Harness, keys: Record<string, string>, n: number, counts: Map<number, number>): Promise<void> {
  const jobs: Array<() => Promise<number>> = [];
  TENANTS.forEach((tenant, ti) => {
    const requests = [14, 9, 6][ti]! + ((n * (ti + 3)) % 7);
    for (let i = 0; i < requests; i++) {
      const model = MODELS[(i + n + ti) % MODELS.length]!;
      const rows = [1, 4, 16, 32][(i * (ti + 1) + n) % 4]!;
      jobs.push(async () => (await infer(h.baseUrl, keys[tenant]!, model, rows)).status);
    }
    if (tenant !== 'initech' && n % 2 === 0) {
      const bad = inferBody(1);
      bad.inputs[0]!.shape = [1, 63];
      jobs.push(async () => (await call(h.baseUrl, 'POST', `/v2/models/${MODELS[0]}/infer`, { key: keys[tenant]!, body: bad })).status);
    }
  });
  for (let i = 0; i < jobs.length; i += 4) {
    for (const status of await Promise.all(jobs.slice(i, i + 4).map((j) => j()))) counts.set(status, (counts.get(status) ?? 0) + 1);
  }
}

async function seedAnomalyAlert(store: Store, now: number): Promise<void> {
  const finding = {
    tenantId: 'globex',
    metric: 'requests_per_hour',
    at: now,
    score: 0.93,
    expected: 40,
    actual: 142,
    impact: { absolute: 102, percent: 255 },
    severity: 'critical' as const,
    topContributors: [{ dimension: 'model', key: 'classifier-large', expected: 15, actual: 96, impact: 81 }],
  };
  const evaluation = evaluateAnomalyAlerts([], [finding], { forSeconds: 0, now });
  await createAlertStore(store).save(evaluation.alerts, evaluation.transitions);
}

async function runSql(store: Store, sql: string): Promise<QueryResult> {
  const rs = await store.client.query({ query: sql, format: 'JSON' });
  return (await rs.json<Record<string, unknown>>()) as unknown as QueryResult;
}

const isClickHouse = (ds: { type?: string } | undefined) => ds?.type === CLICKHOUSE_PLUGIN_ID;
const isPrometheus = (ds: { type?: string } | undefined) => ds?.type === 'prometheus';

/** Grafana's Prometheus interpolation of `$var` (All: the options as a regex alternation). */
function interpolatePromQL(expr: string, variables: readonly TemplateVariable[]): string {
  return expr.replace(/\$(\w+)/g, (match, name: string) => {
    const v = variables.find((x) => x.name === name);
    if (!v) return match;
    const current = typeof v.current === 'string' ? [v.current] : [...v.current];
    const values = current.length === 1 && current[0] === ALL_VALUE ? [...v.options] : current;
    return values.length === 1 ? values[0]! : `(${values.join('|')})`;
  });
}

function columnUnits(p: JsonPanel): Record<string, string> {
  const units: Record<string, string> = {};
  for (const o of p.fieldConfig?.overrides ?? []) {
    if (o.matcher?.id !== 'byName' || typeof o.matcher.options !== 'string') continue;
    const unit = o.properties?.find((x) => x.id === 'unit')?.value;
    if (typeof unit === 'string') units[o.matcher.options] = unit;
  }
  return units;
}

async function boardView(d: DashboardJson, store: Store, samples: readonly Sample[], now: number, empties: string[]) {
  const ctxBase = { fromMs: now - RANGE_MS, toMs: now + 1000, intervalMs: INTERVAL_MS };
  const variables: TemplateVariable[] = [];
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query' || !isClickHouse(v.datasource)) continue;
    const sql = typeof v.query === 'string' ? v.query : (v.query?.rawSql ?? '');
    const result = await runSql(store, expandQuery(sql, { ...ctxBase, variables }));
    const options = result.data.map((r) => String(Object.values(r)[0]));
    const current = v.multi ? [ALL_VALUE] : options.includes(QUOTA_TENANT) ? QUOTA_TENANT : (options[0] ?? '');
    variables.push({ name: v.name, options, allValue: v.includeAll ? v.allValue : undefined, current });
  }
  const panels: PanelView[] = [];
  for (const p of d.panels) {
    const view: PanelView = {
      title: p.title ?? '',
      type: p.type,
      gridPos: p.gridPos ?? { x: 0, y: 0, w: 24, h: 8 },
      unit: p.fieldConfig?.defaults?.unit ?? 'short',
      columnUnits: columnUnits(p),
      source: 'none',
      results: [],
    };
    panels.push(view);
    if (p.type === 'row') continue;
    const targets = p.targets ?? [];
    if (targets.some((t) => isClickHouse(t.datasource ?? p.datasource))) {
      view.source = 'clickhouse';
      for (const t of targets) {
        try {
          view.results.push(await runSql(store, expandQuery(t.rawSql ?? '', { ...ctxBase, variables })));
        } catch (err) {
          view.note = `query failed: ${(err as Error).message.split('\n')[0]}`;
        }
      }
      if (view.results.every((r) => r.data.length === 0)) empties.push(`${d.uid} / ${view.title}: ClickHouse query returned no rows`);
    } else if (targets.some((t) => isPrometheus(t.datasource ?? p.datasource))) {
      view.source = 'prometheus';
      const instant = p.type === 'stat' || p.type === 'bargauge';
      const results = instant ? targets.map((t) => evalInstant(interpolatePromQL(t.expr ?? '', variables), samples)) : [];
      if (instant && results.every((r): r is QueryResult => r !== undefined)) {
        view.results = results;
        view.tag = 'Prometheus: from /metrics now';
        if (results.every((r) => r.data.length === 0)) {
          view.results = [];
          view.note = 'Prometheus (live): the series is not exported yet';
          empties.push(`${d.uid} / ${view.title}: no such series in /metrics`);
        }
      } else {
        const exprs = targets.map((t) => interpolatePromQL(t.expr ?? '', variables).replace(/\s+/g, ' '));
        view.note = `Prometheus (live): a range query over scraped history, drawn by Grafana.\n${exprs[0]!.slice(0, 110)}${exprs[0]!.length > 110 ? '…' : ''}`;
        empties.push(`${d.uid} / ${view.title}: Prometheus range query (placeholder)`);
      }
    }
  }
  const selection = variables.map((v) => `$${v.name}=${typeof v.current === 'string' ? v.current : 'All'}`).join('  ');
  const range = `${new Date(ctxBase.fromMs).toISOString().slice(0, 16)}Z – ${new Date(ctxBase.toMs).toISOString().slice(0, 16)}Z`;
  return {
    uid: d.uid,
    title: d.title,
    subtitle: `preview from real query results · ${range} · ${selection} · time axes zoomed to the data`,
    panels,
  };
}

function screenshot(html: string, png: string, height: number, work: string): void {
  const page = join(work, 'page.html');
  writeFileSync(page, html);
  const profile = mkdtempSync(join(work, 'profile-'));
  const res = spawnSync(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
      '--hide-scrollbars',
      '--force-device-scale-factor=1',
      `--window-size=${PAGE_WIDTH},${height}`,
      `--screenshot=${png}`,
      `file://${page}`,
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  if (res.status !== 0) throw new Error(`chromium failed (${res.status ?? res.signal}): ${res.stderr}`);
  rmSync(profile, { recursive: true, force: true });
}

async function main(): Promise<void> {
  fakeNvidiaSmiOnPath();
  const h = await startHarness({
    config: {
      sidecar: { sample_interval_s: 3600 },
      tenants: { [QUOTA_TENANT]: { quotas: { cpu_seconds_per_month: 0.12 } }, globex: {}, initech: {} },
    },
  });
  try {
    const store = h.platform.store;
    const keys: Record<string, string> = {};
    for (const t of TENANTS) keys[t] = await createKey(h.baseUrl, t);
    const counts = new Map<number, number>();
    for (let n = 0; n < 8; n++) {
      await wave(h, keys, n, counts);
      await h.platform.flushTelemetry();
      if (n === 3) {
        // acme is over its monthly CPU quota from here on: alerts fire, its requests get 429.
        await h.platform.runRollup();
        await h.platform.quotas?.refresh();
        await h.platform.evaluateAlerts();
      }
      await sleep(9_000);
    }
    await seedAnomalyAlert(store, Date.now());
    await h.platform.flushTelemetry();
    await h.platform.runRollup();
    await h.platform.evaluateAlerts();
    const dataDir = mkdtempSync(join(tmpdir(), 'inferledger-preview-config-'));
    const config = loadConfig({ INFERLEDGER_DATA_DIR: dataDir }, dataDir);
    const d = new Date();
    const afterClose = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) + (config.billing.close_grace_hours + 1) * HOUR;
    const issued = await issueClosedStatements({ ...billingServices(config, store).statements, now: () => afterClose });
    console.log(`traffic: ${[...counts].map(([s, c]) => `${c}× ${s}`).join(', ')}; statements issued: ${issued.issued}`);

    const metrics = await call(h.baseUrl, 'GET', '/metrics', { key: ADMIN_KEY });
    const samples = parseExposition(metrics.text);

    mkdirSync(OUT_DIR, { recursive: true });
    const work = mkdtempSync(join(tmpdir(), 'inferledger-previews-'));
    const dir = join(ROOT, 'dashboards');
    const empties: string[] = [];
    const now = Date.now();
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
      const board = JSON.parse(readFileSync(join(dir, file), 'utf8')) as DashboardJson;
      const view = await boardView(board, store, samples, now, empties);
      const png = join(OUT_DIR, `${board.uid}.png`);
      const html = renderBoardHtml(view);
      if (process.env.PREVIEW_KEEP_HTML) writeFileSync(join(OUT_DIR, `${board.uid}.html`), html);
      screenshot(html, png, pageHeight(view), work);
      console.log(`${png} (${Math.round(statSync(png).size / 1024)} KiB)`);
    }
    rmSync(work, { recursive: true, force: true });
    console.log(`not drawn from data:\n  ${empties.join('\n  ') || '(none)'}`);
  } finally {
    await h.close();
  }
}

await main();
