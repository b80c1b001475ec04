import type { BoardSpec } from '../board.ts';
import { downIsBad, upIsBad, type PanelSpec } from '../panels.ts';
import { anyOf, EPISODE_IN_RANGE } from '../sql.ts';
import { alertTenantVariable } from './variables.ts';

/** Quota pressure and alert episodes (SPEC §6): live ratios from Prometheus, episodes from ClickHouse. */

const TENANTS = anyOf('tenant', 'tenant_id');
const EPISODES = `alerts FINAL
      WHERE ${EPISODE_IN_RANGE}
        AND ${TENANTS}`;
const TENANT_LINK = { board: 'tenant', title: 'Tenant drill-down', vars: { tenant: '${__data.fields.tenant}' } } as const;
const TIMES = { starts_at: 'dateTimeAsIso', ends_at: 'dateTimeAsIso' } as const;

const live: PanelSpec[] = [
  {
    source: 'prometheus',
    viz: 'stat',
    title: 'Firing now',
    description: 'Alerts firing now (inferledger_alerts_firing), quota and anomaly alike.',
    unit: 'short',
    w: 6,
    h: 8,
    thresholds: upIsBad(1, 5),
    queries: [{ expr: 'sum(inferledger_alerts_firing{tenant=~"$tenant"}) or vector(0)', legend: 'firing' }],
  },
  {
    source: 'prometheus',
    viz: 'timeseries',
    title: 'Quota usage ratio',
    description: 'Usage / limit of every quota with a limit (inferledger_quota_usage_ratio): 1 is the limit, where requests start being refused. Amber at 80 %, red at 100 % (the default alert thresholds).',
    unit: 'percentunit',
    w: 12,
    h: 8,
    min: 0,
    thresholds: upIsBad(0.8, 1),
    queries: [{ expr: 'max by (tenant, quota) (inferledger_quota_usage_ratio{tenant=~"$tenant"})', legend: '{{tenant}} {{quota}}' }],
  },
  {
    source: 'prometheus',
    viz: 'bargauge',
    title: 'Quota headroom',
    description: 'Share of each quota still available now (1 − usage ratio). Red below 5 %, amber below 20 %.',
    unit: 'percentunit',
    w: 6,
    h: 8,
    min: 0,
    max: 1,
    thresholds: downIsBad(0.05, 0.2),
    queries: [{ expr: '1 - max by (tenant, quota) (inferledger_quota_usage_ratio{tenant=~"$tenant"})', legend: '{{tenant}} {{quota}}' }],
  },
  {
    source: 'prometheus',
    viz: 'timeseries',
    title: 'Firing alerts by severity',
    description: 'Alerts firing over time by severity (critical pages; warning and info do not).',
    unit: 'short',
    w: 18,
    h: 7,
    stacked: true,
    queries: [{ expr: 'sum by (severity) (inferledger_alerts_firing{tenant=~"$tenant"})', legend: '{{severity}}' }],
  },
  {
    source: 'prometheus',
    viz: 'stat',
    title: 'Processes on a standby authority',
    description:
      'Sidecars and API replicas whose quota calls a standby authority answers, because the primary (quotas.authority_url) is unreachable (inferledger_quota_standby_in_use). Limits still hold, within the tolerance of a restart; bring the primary back. Only processes with standbys configured report it.',
    unit: 'short',
    w: 6,
    h: 7,
    thresholds: upIsBad(1, 1),
    queries: [{ expr: 'sum(inferledger_quota_standby_in_use) or vector(0)', legend: 'processes' }],
  },
  {
    source: 'prometheus',
    viz: 'timeseries',
    title: 'Refusals held back (Retry-After ignored)',
    description:
      'Per second, refusals a sidecar answered only after quotas.repeat_refusal_delay_ms (inferledger_refusals_paced_total): the tenant kept sending in a quota window it had already been refused in and told the reset of. Pacing keeps such a client from crowding out other tenants; a tenant here has a client that ignores Retry-After.',
    unit: 'reqps',
    w: 24,
    h: 7,
    queries: [{ expr: 'sum by (tenant) (rate(inferledger_refusals_paced_total{tenant=~"$tenant"}[$__rate_interval]))', legend: '{{tenant}}' }],
  },
];

const episodes: PanelSpec[] = [
  {
    source: 'clickhouse',
    viz: 'stat',
    title: 'Alert episodes in range',
    description: 'Alert episodes overlapping the range by current state (alerts FINAL: the newest version of each episode).',
    unit: 'short',
    w: 8,
    h: 6,
    thresholds: upIsBad(1, 10),
    sql: `
      SELECT countIf(state = 'firing') AS firing, countIf(state = 'pending') AS pending, countIf(state = 'resolved') AS resolved
      FROM ${EPISODES}`,
    columns: ['firing', 'pending', 'resolved'],
  },
  {
    source: 'clickhouse',
    viz: 'timeseries',
    title: 'Alerts starting to fire',
    description: 'Transitions to firing per interval, quota vs anomaly (alert_events FINAL: each transition is recorded once).',
    unit: 'short',
    w: 16,
    h: 6,
    stacked: true,
    sql: `
      SELECT $__timeInterval(at) AS time, kind, count() AS transitions
      FROM alert_events FINAL
      WHERE $__timeFilter(at)
        AND ${TENANTS}
        AND to_state = 'firing'
      GROUP BY time, kind
      ORDER BY time, kind`,
    columns: ['time', 'kind', 'transitions'],
  },
  {
    source: 'clickhouse',
    viz: 'table',
    title: 'Alert episodes',
    description: 'Every episode overlapping the range, newest first: value is the usage ratio (quota) or the actual value (anomaly). Click a tenant for its drill-down.',
    unit: 'short',
    w: 24,
    h: 8,
    columnUnits: TIMES,
    cellLinks: { tenant: TENANT_LINK },
    sql: `
      SELECT tenant_id AS tenant, kind, name, severity, state, value, annotations['summary'] AS summary, starts_at, ends_at
      FROM ${EPISODES}
      ORDER BY starts_at DESC, tenant, name`,
    columns: ['tenant', 'kind', 'name', 'severity', 'state', 'value', 'summary', 'starts_at', 'ends_at'],
  },
  {
    source: 'clickhouse',
    viz: 'table',
    title: 'Quota breaches',
    description: 'Quota threshold crossings: ratio = usage / limit when last evaluated (1 = 100 %); used and limit as recorded; an episode ends below threshold × (1 − hysteresis) or when the quota window resets.',
    unit: 'short',
    w: 24,
    h: 8,
    columnUnits: { ...TIMES, threshold: 'percentunit', ratio: 'percentunit' },
    cellLinks: { tenant: TENANT_LINK },
    sql: `
      SELECT tenant_id AS tenant, labels['quota'] AS quota, toFloat64OrZero(labels['threshold']) AS threshold, state, severity,
        value AS ratio, annotations['used'] AS used, annotations['limit'] AS quota_limit, starts_at, ends_at
      FROM ${EPISODES}
        AND kind = 'quota'
      ORDER BY starts_at DESC, tenant, quota, threshold`,
    columns: ['tenant', 'quota', 'threshold', 'state', 'severity', 'ratio', 'used', 'quota_limit', 'starts_at', 'ends_at'],
  },
  {
    source: 'clickhouse',
    viz: 'table',
    title: 'Anomalies: expected vs actual',
    description: 'Anomaly episodes: the metric, what the detector expected and what it saw, the change, the anomaly score (0–1; 0.5 ≈ the largest deviation of the last 1000 points) and its severity.',
    unit: 'short',
    w: 16,
    h: 8,
    columnUnits: { ...TIMES, change: 'percentunit', score: 'none' },
    cellLinks: { tenant: TENANT_LINK },
    sql: `
      SELECT tenant_id AS tenant, labels['metric'] AS metric,
        toFloat64OrNull(annotations['expected']) AS expected, toFloat64OrNull(annotations['actual']) AS actual,
        toFloat64OrNull(annotations['impact_percent']) / 100 AS change, toFloat64OrNull(annotations['score']) AS score,
        annotations['anomaly_severity'] AS anomaly_severity, state, starts_at, ends_at
      FROM ${EPISODES}
        AND kind = 'anomaly'
      ORDER BY starts_at DESC, tenant, metric`,
    columns: ['tenant', 'metric', 'expected', 'actual', 'change', 'score', 'anomaly_severity', 'state', 'starts_at', 'ends_at'],
  },
  {
    source: 'clickhouse',
    viz: 'bargauge',
    title: 'Expected vs actual',
    description: 'Per anomalous tenant and metric (latest episode): the expected value against the actual one, in the metric\'s own unit.',
    unit: 'short',
    w: 8,
    h: 8,
    sql: `
      SELECT concat(tenant_id, ' ', labels['metric']) AS anomaly,
        argMax(toFloat64OrZero(annotations['expected']), starts_at) AS expected,
        argMax(toFloat64OrZero(annotations['actual']), starts_at) AS actual
      FROM ${EPISODES}
        AND kind = 'anomaly'
      GROUP BY anomaly
      ORDER BY anomaly`,
    columns: ['anomaly', 'expected', 'actual'],
  },
  {
    source: 'clickhouse',
    viz: 'timeseries',
    title: 'Refused requests by tenant',
    description: 'Requests refused per interval (status rejected: over a quota, a full queue, or the quota authority unreachable with fail-closed), from requests FINAL.',
    unit: 'short',
    w: 24,
    h: 7,
    stacked: true,
    thresholds: upIsBad(1, 100),
    sql: `
      SELECT $__timeInterval(ts) AS time, tenant_id AS tenant, count() AS refused
      FROM requests FINAL
      WHERE $__timeFilter(ts)
        AND ${TENANTS}
        AND status = 'rejected'
      GROUP BY time, tenant
      ORDER BY time, tenant`,
    columns: ['time', 'tenant', 'refused'],
  },
];

export const quotasAnomalies: BoardSpec = {
  key: 'quotas',
  description: 'Quota pressure (live), alert episodes, quota breaches, anomalies with expected vs actual, and refused requests.',
  tags: ['alerts', 'quotas'],
  time: { from: 'now-24h', to: 'now' },
  variables: [alertTenantVariable],
  rows: [
    { title: 'Live (Prometheus)', panels: live },
    { title: 'Episodes (ClickHouse)', panels: episodes },
  ],
};
