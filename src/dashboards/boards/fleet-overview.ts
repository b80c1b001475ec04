import type { BoardSpec } from '../board.ts';
import { upIsBad, type PanelSpec } from '../panels.ts';
import { anyOf, hourInRange } from '../sql.ts';
import { modelVariable, tenantVariable } from './variables.ts';

/** SRE golden signals: traffic, errors, latency, saturation, by tenant and model. */

const PROM_FILTER = 'tenant=~"$tenant", model=~"$model"';
const RATE = '[$__rate_interval]';
const TENANT_LINK = { board: 'tenant', title: 'Tenant drill-down', vars: { tenant: '${__data.fields.tenant}' } } as const;

const live: PanelSpec[] = [
  {
    source: 'prometheus',
    viz: 'timeseries',
    title: 'Request rate by tenant',
    description: 'Requests per second admitted or refused, per tenant (inferledger_requests_total, all statuses). Tenants beyond the top N share the "other" label.',
    unit: 'reqps',
    w: 12,
    h: 8,
    stacked: true,
    queries: [{ expr: `sum by (tenant) (rate(inferledger_requests_total{${PROM_FILTER}}${RATE}))`, legend: '{{tenant}}' }],
  },
  {
    source: 'prometheus',
    viz: 'timeseries',
    title: 'Error and rejection ratio',
    description: 'Share of requests that failed in inference (status="error") and that were refused by a quota or a full queue (status="rejected"). Amber at 1 %, red at 5 %.',
    unit: 'percentunit',
    w: 12,
    h: 8,
    thresholds: upIsBad(0.01, 0.05),
    min: 0,
    queries: [
      {
        expr: `sum(rate(inferledger_requests_total{status="error", ${PROM_FILTER}}${RATE})) / sum(rate(inferledger_requests_total{${PROM_FILTER}}${RATE}))`,
        legend: 'errors',
      },
      {
        expr: `sum(rate(inferledger_requests_total{status="rejected", ${PROM_FILTER}}${RATE})) / sum(rate(inferledger_requests_total{${PROM_FILTER}}${RATE}))`,
        legend: 'rejected',
      },
    ],
  },
  {
    source: 'prometheus',
    viz: 'timeseries',
    title: 'Latency percentiles',
    description:
      'End-to-end duration (queue + inference) of served requests (ok and error; refused requests, answered in about a millisecond, are left out as in the history panels and the SLO rules) from the inferledger_request_duration_seconds histogram. Amber at 0.5 s, red at 2 s.',
    unit: 's',
    w: 12,
    h: 8,
    thresholds: upIsBad(0.5, 2),
    queries: [0.5, 0.95, 0.99].map((q) => ({
      // Refusals excluded: a tenant flooding a quota would otherwise pull the fleet's p50/p95 down.
      expr: `histogram_quantile(${q}, sum by (le) (rate(inferledger_request_duration_seconds_bucket{status!="rejected", ${PROM_FILTER}}${RATE})))`,
      legend: `p${q * 100}`,
    })),
  },
  {
    source: 'prometheus',
    viz: 'timeseries',
    title: 'Queue wait p95 by tenant',
    description: 'Saturation: p95 time admitted requests waited for an inference slot (inferledger_queue_wait_seconds). Near 0 while the sidecars have free slots; growing means more replicas or concurrency are needed. Amber at 0.1 s, red at 1 s.',
    unit: 's',
    w: 12,
    h: 8,
    thresholds: upIsBad(0.1, 1),
    queries: [{ expr: `histogram_quantile(0.95, sum by (le, tenant) (rate(inferledger_queue_wait_seconds_bucket{tenant=~"$tenant"}${RATE})))`, legend: '{{tenant}}' }],
  },
  {
    source: 'prometheus',
    viz: 'stat',
    title: 'Alerts firing',
    description: 'Quota and anomaly alerts firing now (inferledger_alerts_firing). Details on the Quotas & anomalies board.',
    unit: 'short',
    w: 6,
    h: 8,
    thresholds: upIsBad(1, 5),
    links: [{ board: 'quotas', title: 'Quotas & anomalies' }],
    queries: [{ expr: 'sum(inferledger_alerts_firing{tenant=~"$tenant"}) or vector(0)', legend: 'firing' }],
  },
  {
    source: 'prometheus',
    viz: 'stat',
    title: 'Spool backlog',
    description: 'Telemetry batches on disk waiting for ClickHouse (inferledger_spool_pending_batches). Above 0 for long means ClickHouse is unreachable or refusing writes: usage and billing lag until it drains.',
    unit: 'short',
    w: 3,
    h: 8,
    thresholds: upIsBad(1, 100),
    queries: [{ expr: 'sum(inferledger_spool_pending_batches) or vector(0)', legend: 'batches' }],
  },
  {
    source: 'prometheus',
    viz: 'stat',
    title: 'Spool quarantine',
    description:
      'Spooled batches ClickHouse refused for their rows, set aside so the rest could go in (inferledger_spool_quarantined_batches). They are kept, not yet billed: run `inferledger spool` on the process to see why, then `inferledger spool requeue`.',
    unit: 'short',
    w: 3,
    h: 8,
    thresholds: upIsBad(1, 1),
    queries: [{ expr: 'sum(inferledger_spool_quarantined_batches) or vector(0)', legend: 'batches' }],
  },
  {
    source: 'prometheus',
    viz: 'timeseries',
    title: 'Ingest: rows written and write failures',
    description: 'Telemetry rows written to ClickHouse per second by table, and writes ClickHouse refused or timed out (their rows went to the spool). Failures above 0 delay usage, billing and these history panels.',
    unit: 'ops',
    w: 12,
    h: 8,
    queries: [
      { expr: 'sum by (table) (rate(inferledger_ingest_rows_written_total[$__rate_interval]))', legend: 'rows {{table}}' },
      { expr: 'sum by (table) (rate(inferledger_ingest_write_failures_total[$__rate_interval]))', legend: 'failures {{table}}' },
    ],
  },
  {
    source: 'prometheus',
    viz: 'timeseries',
    title: 'Scheduled jobs: failed and skipped runs',
    description:
      'Runs of the scheduled jobs (rollups, spool drain, quota usage, alert evaluation, cost gauge, statements) that failed, and runs skipped because the previous one was still going (overlap) or the event loop was blocked (missed), per interval. A job failing every run leaves what it maintains behind (alert InferledgerJobFailing); the error is in the process log.',
    unit: 'short',
    w: 12,
    h: 8,
    queries: [
      { expr: 'sum by (job_name) (increase(inferledger_job_runs_total{outcome="failed"}[$__rate_interval])) > 0', legend: 'failed {{job_name}}' },
      { expr: 'sum by (job_name, reason) (increase(inferledger_job_skipped_runs_total[$__rate_interval])) > 0', legend: 'skipped {{job_name}} ({{reason}})' },
    ],
  },
  {
    source: 'prometheus',
    viz: 'timeseries',
    title: 'Scheduled jobs: duration p95',
    description: 'p95 duration of each scheduled job\'s runs (inferledger_job_duration_seconds). A job slower than its period skips runs (InferledgerJobOverrunning): every 10 s for the spool drain, 15 s for quota usage and alerts, 30 s for the rollups, 5 min for the cost gauge.',
    unit: 's',
    w: 12,
    h: 8,
    queries: [{ expr: 'histogram_quantile(0.95, sum by (le, job_name) (rate(inferledger_job_duration_seconds_bucket[$__rate_interval])))', legend: '{{job_name}}' }],
  },
];

const REQUEST_FILTER = `$__timeFilter(ts)
      AND ${anyOf('tenant', 'tenant_id')}
      AND ${anyOf('model', 'model')}`;

const history: PanelSpec[] = [
  {
    source: 'clickhouse',
    viz: 'stat',
    title: 'Served, error ratio, p95 latency',
    description: 'Over the whole time range, from the hourly rollup (usage_hourly): requests served (rejections excluded), the share that failed, and the p95 request duration.',
    unit: 'short',
    w: 24,
    h: 4,
    columnUnits: { error_ratio: 'percentunit', p95_ms: 'ms' },
    sql: `
      SELECT
        sum(requests) AS served,
        if(sum(requests) = 0, 0, sum(errors) / sum(requests)) AS error_ratio,
        quantilesMerge(0.5, 0.95, 0.99)(latency_ms_quantiles)[2] AS p95_ms
      FROM usage_hourly FINAL
      WHERE ${hourInRange()}
        AND ${anyOf('tenant', 'tenant_id')}
        AND ${anyOf('model', 'model')}`,
    columns: ['served', 'error_ratio', 'p95_ms'],
  },
  {
    source: 'clickhouse',
    viz: 'timeseries',
    title: 'Request rate by tenant (recorded)',
    description: 'Requests per second as recorded in ClickHouse (requests, deduplicated with FINAL), refused requests excluded: the history of the served part of the live rate above, which counts refusals too (their share is in "Error and rejection ratio").',
    unit: 'reqps',
    w: 12,
    h: 8,
    stacked: true,
    sql: `
      SELECT $__timeInterval(ts) AS time, tenant_id AS tenant, count() / $__interval_s AS requests_per_second
      FROM requests FINAL
      WHERE ${REQUEST_FILTER}
        AND status != 'rejected'
      GROUP BY time, tenant
      ORDER BY time, tenant`,
    columns: ['time', 'tenant', 'requests_per_second'],
  },
  {
    source: 'clickhouse',
    viz: 'timeseries',
    title: 'Error and rejection ratio (recorded)',
    description: 'Per interval: failed requests and refused requests (quota, full queue) as a share of all recorded requests. Amber at 1 %, red at 5 %.',
    unit: 'percentunit',
    w: 12,
    h: 8,
    thresholds: upIsBad(0.01, 0.05),
    min: 0,
    sql: `
      SELECT $__timeInterval(ts) AS time,
        countIf(status = 'error') / count() AS error_ratio,
        countIf(status = 'rejected') / count() AS rejected_ratio
      FROM requests FINAL
      WHERE ${REQUEST_FILTER}
      GROUP BY time
      ORDER BY time`,
    columns: ['time', 'error_ratio', 'rejected_ratio'],
  },
  {
    source: 'clickhouse',
    viz: 'timeseries',
    title: 'p95 latency by model',
    description: 'p95 of the end-to-end request duration per model (requests FINAL, refused requests excluded). Amber at 0.5 s, red at 2 s.',
    unit: 's',
    w: 12,
    h: 8,
    thresholds: upIsBad(0.5, 2),
    sql: `
      SELECT $__timeInterval(ts) AS time, model, quantile(0.95)(duration_ns / 1e9) AS p95_seconds
      FROM requests FINAL
      WHERE ${REQUEST_FILTER}
        AND status != 'rejected'
      GROUP BY time, model
      ORDER BY time, model`,
    columns: ['time', 'model', 'p95_seconds'],
  },
  {
    source: 'clickhouse',
    viz: 'timeseries',
    title: 'p95 queue time by model',
    description: 'p95 of the time requests waited for an inference slot (saturation). Growing queue time with flat inference time means the sidecars need more replicas or concurrency.',
    unit: 's',
    w: 12,
    h: 8,
    thresholds: upIsBad(0.1, 1),
    sql: `
      SELECT $__timeInterval(ts) AS time, model, quantile(0.95)(queue_ns / 1e9) AS p95_queue_seconds
      FROM requests FINAL
      WHERE ${REQUEST_FILTER}
        AND status != 'rejected'
      GROUP BY time, model
      ORDER BY time, model`,
    columns: ['time', 'model', 'p95_queue_seconds'],
  },
  {
    source: 'clickhouse',
    viz: 'table',
    title: 'Tenants × models',
    description: 'Golden signals per tenant and model over the time range, from the hourly rollup (usage_hourly FINAL). Latency percentiles merge the hourly quantile states. Click a tenant for its drill-down.',
    unit: 'short',
    w: 24,
    h: 10,
    columnUnits: { error_ratio: 'percentunit', p50_ms: 'ms', p95_ms: 'ms', p99_ms: 'ms', cpu_seconds: 's', gpu_seconds: 's' },
    cellLinks: { tenant: TENANT_LINK },
    sql: `
      SELECT
        tenant_id AS tenant,
        model,
        sum(requests) AS served,
        sum(errors) AS failed,
        sum(rejected) AS refused,
        if(sum(requests) = 0, 0, sum(errors) / sum(requests)) AS error_ratio,
        quantilesMerge(0.5, 0.95, 0.99)(latency_ms_quantiles)[1] AS p50_ms,
        quantilesMerge(0.5, 0.95, 0.99)(latency_ms_quantiles)[2] AS p95_ms,
        quantilesMerge(0.5, 0.95, 0.99)(latency_ms_quantiles)[3] AS p99_ms,
        sum(cpu_us) / 1e6 AS cpu_seconds,
        sum(gpu_us) / 1e6 AS gpu_seconds
      FROM usage_hourly FINAL
      WHERE ${hourInRange()}
        AND ${anyOf('tenant', 'tenant_id')}
        AND ${anyOf('model', 'model')}
      GROUP BY tenant, model
      ORDER BY served DESC, tenant, model`,
    columns: ['tenant', 'model', 'served', 'failed', 'refused', 'error_ratio', 'p50_ms', 'p95_ms', 'p99_ms', 'cpu_seconds', 'gpu_seconds'],
  },
];

export const fleetOverview: BoardSpec = {
  key: 'fleet',
  description: 'SRE golden signals of the inference fleet: live from Prometheus (the API /metrics), history from ClickHouse.',
  tags: ['sre'],
  time: { from: 'now-6h', to: 'now' },
  variables: [tenantVariable(true), modelVariable(true)],
  rows: [
    { title: 'Live (Prometheus)', panels: live },
    { title: 'History (ClickHouse)', panels: history },
  ],
};
