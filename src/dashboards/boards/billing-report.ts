import type { BoardSpec } from '../board.ts';
import { upIsBad, type PanelSpec } from '../panels.ts';
import { anyOf, hourInRange, PERIOD_IN_RANGE } from '../sql.ts';
import { tenantVariable } from './variables.ts';

/**
 * Billing: what SQL can show honestly. Issued statements are exact Decimal money in ClickHouse;
 * attributed cost (capacity × price book, idle and overhead shares, margin) is computed by the
 * API from the versioned price book, which ClickHouse does not hold, so those panels show the
 * quantities behind it and point at GET /v1/attribution.
 */

const TENANTS = anyOf('tenant', 'tenant_id');
const STATEMENTS = `statements FINAL
      WHERE ${PERIOD_IN_RANGE}
        AND ${TENANTS}`;
const TENANT_LINK = { board: 'tenant', title: 'Tenant drill-down', vars: { tenant: '${__data.fields.tenant}' } } as const;
const ATTRIBUTION = 'Money for cost, idle, overhead and margin: GET /v1/attribution?from=…&to=… (admin).';

const revenue: PanelSpec[] = [
  {
    source: 'clickhouse',
    viz: 'stat',
    title: 'Invoiced',
    description: 'Sum of issued (frozen) statement totals for the months overlapping the range, adjustments included. Open months are not issued yet: see the tenant statements API.',
    unit: 'currencyUSD',
    w: 8,
    h: 5,
    columnUnits: { statements: 'short' },
    sql: `
      SELECT sum(total) AS invoiced, sum(adjustments_total) AS adjustments, count() AS statements
      FROM ${STATEMENTS}`,
    columns: ['invoiced', 'adjustments', 'statements'],
  },
  {
    source: 'clickhouse',
    viz: 'bargauge',
    title: 'Invoiced by tenant',
    description: 'Issued statement totals per tenant for the months overlapping the range.',
    unit: 'currencyUSD',
    w: 8,
    h: 5,
    sql: `
      SELECT tenant_id AS tenant, sum(total) AS invoiced
      FROM ${STATEMENTS}
      GROUP BY tenant
      ORDER BY invoiced DESC, tenant`,
    columns: ['tenant', 'invoiced'],
  },
  {
    source: 'clickhouse',
    viz: 'bargauge',
    title: 'Invoiced by plan',
    description: 'Issued statement totals per plan (the plan each statement was rated with).',
    unit: 'currencyUSD',
    w: 8,
    h: 5,
    sql: `
      SELECT plan, sum(total) AS invoiced
      FROM ${STATEMENTS}
      GROUP BY plan
      ORDER BY invoiced DESC, plan`,
    columns: ['plan', 'invoiced'],
  },
  {
    source: 'prometheus',
    viz: 'bargauge',
    title: 'Attributed cost by tenant, month to date',
    description: 'Cost of serving each tenant this UTC month so far (usage plus idle and overhead shares, priced by the price book), from the API (inferledger_tenant_cost_month_to_date; every API replica exports it, so the largest is shown). Compare with the open statements for the month\'s margin.',
    unit: 'currencyUSD',
    w: 24,
    h: 6,
    // max, not sum: every API replica exports the same figure (found by dogfooding: two doubled it).
    queries: [{ expr: 'max by (tenant) (inferledger_tenant_cost_month_to_date{tenant=~"$tenant"})', legend: '{{tenant}}' }],
  },
  {
    source: 'clickhouse',
    viz: 'table',
    title: 'Statements',
    description: 'Issued statements (exact Decimal amounts as frozen; body_sha256 identifies the served JSON bytes). Click a tenant for its drill-down.',
    unit: 'currencyUSD',
    w: 24,
    h: 8,
    columnUnits: { issued_at: 'dateTimeAsIso' },
    cellLinks: { tenant: TENANT_LINK },
    sql: `
      SELECT tenant_id AS tenant, period, plan, currency, subtotal, adjustments_total AS adjustments, total, issued_at, body_sha256
      FROM ${STATEMENTS}
      ORDER BY period DESC, tenant`,
    columns: ['tenant', 'period', 'plan', 'currency', 'subtotal', 'adjustments', 'total', 'issued_at', 'body_sha256'],
  },
  {
    source: 'clickhouse',
    viz: 'table',
    title: 'Revenue per CPU-hour by tenant',
    description: `Issued totals over the inference CPU-hours of the same months: compare with the vCPU-hour price of the price book to see the margin per tenant. ${ATTRIBUTION}`,
    unit: 'currencyUSD',
    w: 24,
    h: 7,
    columnUnits: { cpu_hours: 'h' },
    cellLinks: { tenant: TENANT_LINK },
    sql: `
      SELECT s.tenant AS tenant, s.invoiced AS invoiced, u.cpu_hours AS cpu_hours,
        if(u.cpu_hours = 0, 0, toFloat64(s.invoiced) / u.cpu_hours) AS revenue_per_cpu_hour
      FROM (
        SELECT tenant_id AS tenant, sum(total) AS invoiced
        FROM ${STATEMENTS}
        GROUP BY tenant
      ) AS s
      LEFT JOIN (
        SELECT tenant_id AS tenant, sum(cpu_us) / 3.6e9 AS cpu_hours
        FROM usage_hourly FINAL
        WHERE hour >= toStartOfMonth($__fromTime, 'UTC')
          AND hour < addMonths(toStartOfMonth($__toTime, 'UTC'), 1)
          AND ${TENANTS}
        GROUP BY tenant
      ) AS u ON u.tenant = s.tenant
      ORDER BY invoiced DESC, tenant`,
    columns: ['tenant', 'invoiced', 'cpu_hours', 'revenue_per_cpu_hour'],
  },
];

const usage: PanelSpec[] = [
  {
    source: 'clickhouse',
    viz: 'table',
    title: 'Billable usage by tenant and model',
    description: 'The quantities that statements price (usage_hourly FINAL over the range): requests, CPU and GPU seconds, tokens. Rated money per line: the tenant statement.',
    unit: 'short',
    w: 24,
    h: 8,
    columnUnits: { cpu_seconds: 's', gpu_seconds: 's' },
    cellLinks: { tenant: TENANT_LINK },
    sql: `
      SELECT tenant_id AS tenant, model, sum(requests) AS requests, sum(cpu_us) / 1e6 AS cpu_seconds,
        sum(gpu_us) / 1e6 AS gpu_seconds, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens
      FROM usage_hourly FINAL
      WHERE ${hourInRange()}
        AND ${TENANTS}
      GROUP BY tenant, model
      ORDER BY tenant, model`,
    columns: ['tenant', 'model', 'requests', 'cpu_seconds', 'gpu_seconds', 'input_tokens', 'output_tokens'],
  },
  {
    source: 'clickhouse',
    viz: 'bargauge',
    title: 'Share of inference CPU by tenant',
    description: `Each tenant's share of all inference CPU time in the range: the key by which proportional attribution splits idle capacity and overhead. ${ATTRIBUTION}`,
    unit: 'percentunit',
    w: 12,
    h: 8,
    min: 0,
    max: 1,
    sql: `
      SELECT tenant_id AS tenant,
        sum(cpu_us) / greatest(1, (SELECT sum(cpu_us) FROM usage_hourly FINAL WHERE ${hourInRange()})) AS cpu_share
      FROM usage_hourly FINAL
      WHERE ${hourInRange()}
        AND ${TENANTS}
      GROUP BY tenant
      ORDER BY cpu_share DESC, tenant`,
    columns: ['tenant', 'cpu_share'],
  },
  {
    source: 'clickhouse',
    viz: 'stat',
    title: 'Idle and overhead share of CPU capacity',
    description: `Of the vCPU time the sidecars held (capacity_hourly FINAL, all tenants): idle = not used at all, overhead = used outside inference (runtime, I/O), inference = charged to tenants as usage. Amber above 50 % idle. ${ATTRIBUTION}`,
    unit: 'percentunit',
    w: 12,
    h: 8,
    thresholds: upIsBad(0.5, 0.8),
    sql: `
      SELECT
        greatest(0, 1 - sum(cpu_used_us) / greatest(1, sum(cpu_millicore_ms))) AS idle_share,
        greatest(0, (toFloat64(sum(cpu_used_us)) - sum(inference_cpu_us)) / greatest(1, sum(cpu_millicore_ms))) AS overhead_share,
        sum(inference_cpu_us) / greatest(1, sum(cpu_millicore_ms)) AS inference_share
      FROM capacity_hourly FINAL
      WHERE ${hourInRange()}`,
    columns: ['idle_share', 'overhead_share', 'inference_share'],
  },
];

export const billingReport: BoardSpec = {
  key: 'billing',
  description: `Issued statements (exact), attributed cost month to date, billable usage, and the capacity split behind cost attribution. ${ATTRIBUTION}`,
  tags: ['billing'],
  time: { from: 'now-6M/M', to: 'now' },
  variables: [tenantVariable(true)],
  rows: [
    { title: 'Statements and revenue', panels: revenue },
    { title: 'Usage and capacity split', panels: usage },
  ],
};
