import type { BoardSpec } from '../board.ts';
import { downIsBad, upIsBad, type PanelSpec } from '../panels.ts';
import { anyOf, equals, EPISODE_IN_RANGE, HOUR_BUCKET_SECONDS, hourBucket, hourInRange } from '../sql.ts';
import { modelVariable, tenantVariable } from './variables.ts';

/** One tenant ($tenant): usage, latency, errors, what it was billed, quota headroom. */

const TENANT = equals('tenant', 'tenant_id');
const USAGE_FILTER = `${hourInRange()}
        AND ${TENANT}
        AND ${anyOf('model', 'model')}`;

const usage: PanelSpec[] = [
  {
    source: 'clickhouse',
    viz: 'stat',
    title: 'Requests',
    description: 'Requests served, failed and refused (quota or full queue) in the time range, from the hourly rollup.',
    unit: 'short',
    w: 6,
    h: 4,
    sql: `
      SELECT sum(requests) AS served, sum(errors) AS failed, sum(rejected) AS refused
      FROM usage_hourly FINAL
      WHERE ${USAGE_FILTER}`,
    columns: ['served', 'failed', 'refused'],
  },
  {
    source: 'clickhouse',
    viz: 'stat',
    title: 'Latency p50 / p95 / p99',
    description: 'Request duration percentiles over the time range (merged hourly quantile states; refused requests excluded). Amber at 500 ms, red at 2 s.',
    unit: 'ms',
    w: 6,
    h: 4,
    thresholds: upIsBad(500, 2000),
    sql: `
      SELECT
        quantilesMerge(0.5, 0.95, 0.99)(latency_ms_quantiles)[1] AS p50,
        quantilesMerge(0.5, 0.95, 0.99)(latency_ms_quantiles)[2] AS p95,
        quantilesMerge(0.5, 0.95, 0.99)(latency_ms_quantiles)[3] AS p99
      FROM usage_hourly FINAL
      WHERE ${USAGE_FILTER}`,
    columns: ['p50', 'p95', 'p99'],
  },
  {
    source: 'clickhouse',
    viz: 'stat',
    title: 'Compute used',
    description: 'CPU and GPU time attributed to the tenant\'s requests (the usage part of its cost; idle and overhead shares come from GET /v1/tenants/{tenant}/costs).',
    unit: 's',
    w: 6,
    h: 4,
    sql: `
      SELECT sum(cpu_us) / 1e6 AS cpu_seconds, sum(gpu_us) / 1e6 AS gpu_seconds
      FROM usage_hourly FINAL
      WHERE ${USAGE_FILTER}`,
    columns: ['cpu_seconds', 'gpu_seconds'],
  },
  {
    source: 'clickhouse',
    viz: 'stat',
    title: 'Tokens',
    description: 'Input and output tokens of token models (zero for tensor models, which bill per request and compute).',
    unit: 'short',
    w: 6,
    h: 4,
    sql: `
      SELECT sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens
      FROM usage_hourly FINAL
      WHERE ${USAGE_FILTER}`,
    columns: ['input_tokens', 'output_tokens'],
  },
  {
    source: 'clickhouse',
    viz: 'timeseries',
    title: 'Request rate by model',
    description: 'Requests served per second, per model, hourly resolution (usage_hourly FINAL).',
    unit: 'reqps',
    w: 12,
    h: 8,
    stacked: true,
    sql: `
      SELECT ${hourBucket()} AS time, model, sum(requests) / ${HOUR_BUCKET_SECONDS} AS requests_per_second
      FROM usage_hourly FINAL
      WHERE ${USAGE_FILTER}
      GROUP BY time, model
      ORDER BY time, model`,
    columns: ['time', 'model', 'requests_per_second'],
  },
  {
    source: 'clickhouse',
    viz: 'timeseries',
    title: 'Latency percentiles',
    description: 'p50 / p95 / p99 request duration per hour (merged quantile states). Amber at 500 ms, red at 2 s.',
    unit: 'ms',
    w: 12,
    h: 8,
    thresholds: upIsBad(500, 2000),
    sql: `
      SELECT ${hourBucket()} AS time,
        quantilesMerge(0.5, 0.95, 0.99)(latency_ms_quantiles)[1] AS p50,
        quantilesMerge(0.5, 0.95, 0.99)(latency_ms_quantiles)[2] AS p95,
        quantilesMerge(0.5, 0.95, 0.99)(latency_ms_quantiles)[3] AS p99
      FROM usage_hourly FINAL
      WHERE ${USAGE_FILTER}
      GROUP BY time
      ORDER BY time`,
    columns: ['time', 'p50', 'p95', 'p99'],
  },
  {
    source: 'clickhouse',
    viz: 'timeseries',
    title: 'Failed and refused requests',
    description: 'Failed (inference error) and refused (quota, full queue) requests per hour.',
    unit: 'short',
    w: 12,
    h: 8,
    thresholds: upIsBad(1, 100),
    sql: `
      SELECT ${hourBucket()} AS time, sum(errors) AS failed, sum(rejected) AS refused
      FROM usage_hourly FINAL
      WHERE ${USAGE_FILTER}
      GROUP BY time
      ORDER BY time`,
    columns: ['time', 'failed', 'refused'],
  },
  {
    source: 'clickhouse',
    viz: 'timeseries',
    title: 'CPU time by model',
    description: 'Inference CPU seconds per hour, per model: what proportional cost attribution charges the tenant for CPU capacity.',
    unit: 's',
    w: 12,
    h: 8,
    stacked: true,
    sql: `
      SELECT ${hourBucket()} AS time, model, sum(cpu_us) / 1e6 AS cpu_seconds
      FROM usage_hourly FINAL
      WHERE ${USAGE_FILTER}
      GROUP BY time, model
      ORDER BY time, model`,
    columns: ['time', 'model', 'cpu_seconds'],
  },
  {
    source: 'clickhouse',
    viz: 'table',
    title: 'Failures by reason',
    description: 'Failed and refused requests by model and reason (error.type: e.g. the quota that refused it, queue_full, inference_failed), from the raw requests (FINAL).',
    unit: 'short',
    w: 24,
    h: 8,
    columnUnits: { last_seen: 'dateTimeAsIso' },
    sql: `
      SELECT model, status, error_type AS reason, http_status, count() AS requests, max(ts) AS last_seen
      FROM requests FINAL
      WHERE $__timeFilter(ts)
        AND ${TENANT}
        AND ${anyOf('model', 'model')}
        AND status != 'ok'
      GROUP BY model, status, reason, http_status
      ORDER BY requests DESC, model, reason`,
    columns: ['model', 'status', 'reason', 'http_status', 'requests', 'last_seen'],
  },
];

const billing: PanelSpec[] = [
  {
    source: 'prometheus',
    viz: 'stat',
    title: 'Attributed cost, month to date',
    description: 'What serving the tenant cost this UTC month so far: its usage plus its shares of idle capacity and overhead, priced by the price book (inferledger_tenant_cost_month_to_date, computed by the API like GET /v1/tenants/{tenant}/costs; every API replica exports it, so the largest is shown).',
    unit: 'currencyUSD',
    w: 6,
    h: 8,
    // max, not sum: every API replica exports the same figure.
    queries: [{ expr: 'max(inferledger_tenant_cost_month_to_date{tenant="$tenant"})', legend: 'cost' }],
  },
  {
    source: 'clickhouse',
    viz: 'table',
    title: 'Issued statements',
    description: 'The tenant\'s frozen statements of the last 12 months before the end of the range (statements FINAL). Open months are computed on request: GET /v1/tenants/{tenant}/statements/{YYYY-MM}; attributed cost: GET /v1/tenants/{tenant}/costs.',
    unit: 'currencyUSD',
    w: 12,
    h: 8,
    columnUnits: { issued_at: 'dateTimeAsIso' },
    links: [{ board: 'billing', title: 'Billing report', vars: { tenant: '${tenant}' } }],
    sql: `
      SELECT period, plan, currency, subtotal, adjustments_total AS adjustments, total, issued_at
      FROM statements FINAL
      WHERE ${TENANT}
        AND period >= formatDateTime(addMonths($__toTime, -12), '%Y-%m', 'UTC')
        AND period <= formatDateTime($__toTime, '%Y-%m', 'UTC')
      ORDER BY period DESC`,
    columns: ['period', 'plan', 'currency', 'subtotal', 'adjustments', 'total', 'issued_at'],
  },
  {
    source: 'prometheus',
    viz: 'bargauge',
    title: 'Quota headroom',
    description: 'Share of each quota still available now (1 − inferledger_quota_usage_ratio). Red below 5 %, amber below 20 %. Limits: GET /v1/tenants/{tenant}/quotas.',
    unit: 'percentunit',
    w: 6,
    h: 8,
    min: 0,
    max: 1,
    thresholds: downIsBad(0.05, 0.2),
    queries: [{ expr: '1 - max by (quota) (inferledger_quota_usage_ratio{tenant="$tenant"})', legend: '{{quota}}' }],
  },
  {
    source: 'clickhouse',
    viz: 'table',
    title: 'Quota alerts',
    description: 'Quota threshold episodes of the tenant that overlap the range: the ratio is the usage/limit reached (1 = 100 %), used and limit as recorded when it fired.',
    unit: 'short',
    w: 24,
    h: 7,
    columnUnits: { threshold: 'percentunit', ratio: 'percentunit', starts_at: 'dateTimeAsIso', ends_at: 'dateTimeAsIso' },
    links: [{ board: 'quotas', title: 'Quotas & anomalies', vars: { tenant: '${tenant}' } }],
    sql: `
      SELECT labels['quota'] AS quota, toFloat64OrZero(labels['threshold']) AS threshold, state, severity,
        value AS ratio, annotations['used'] AS used, annotations['limit'] AS quota_limit, starts_at, ends_at
      FROM alerts FINAL
      WHERE ${TENANT}
        AND kind = 'quota'
        AND ${EPISODE_IN_RANGE}
      ORDER BY starts_at DESC, quota, threshold`,
    columns: ['quota', 'threshold', 'state', 'severity', 'ratio', 'used', 'quota_limit', 'starts_at', 'ends_at'],
  },
];

export const tenantDrilldown: BoardSpec = {
  key: 'tenant',
  description: 'One tenant: usage, latency, failures, statements and quota headroom. Money beyond issued statements (attributed cost, open-month statements) comes from the API.',
  tags: ['tenant'],
  time: { from: 'now-24h', to: 'now' },
  variables: [tenantVariable(false), modelVariable(false)],
  rows: [
    { title: 'Usage, latency, failures', panels: usage },
    { title: 'Billing and quotas', panels: billing },
  ],
};
