import { z } from 'zod';
import type { Alert, AlertFilter, Transition } from '../types.ts';

/**
 * SQL builders and row mappings of the `alerts` / `alert_events` tables (migration 0005). Pure:
 * each returns `{ query, params }`; values only ever travel as bound parameters.
 */

const COLUMNS = `tenant_id, alert_key, kind, name, severity, state, labels, annotations, value,
       toUnixTimestamp64Milli(starts_at) AS starts_ms,
       toUnixTimestamp64Milli(ends_at) AS ends_ms,
       toUnixTimestamp64Milli(updated_at) AS updated_ms`;

export const alertRow = z.object({
  tenant_id: z.string(),
  alert_key: z.string(),
  kind: z.enum(['quota', 'anomaly']),
  name: z.string(),
  severity: z.enum(['info', 'warning', 'critical']),
  state: z.enum(['pending', 'firing', 'resolved']),
  labels: z.record(z.string(), z.string()),
  annotations: z.record(z.string(), z.string()),
  value: z.coerce.number(),
  starts_ms: z.coerce.number(),
  ends_ms: z.coerce.number().nullable(),
  updated_ms: z.coerce.number(),
});
export type AlertRow = z.infer<typeof alertRow>;

/** Open episodes and those resolved since `resolvedSince`: the evaluator's previous state. */
export function activeAlertsQuery(resolvedSince: number) {
  return {
    query: `SELECT ${COLUMNS}
            FROM alerts FINAL
            WHERE state != 'resolved' OR ends_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')
            ORDER BY tenant_id, alert_key, starts_at`,
    params: { since: resolvedSince },
  };
}

/**
 * Episodes overlapping [from, to): started before `to` and not ended before `from`, so an alert
 * firing for days shows in today's range. Open episodes (pending, firing) come first, then the
 * newest: an anomaly episode starts at its hour, earlier than the quota episodes of the minutes
 * since, and must not fall behind a page of resolved ones. The optional filters are fixed SQL
 * fragments; only their values are parameters.
 */
export function listAlertsQuery(f: AlertFilter) {
  const where = [
    'starts_at < fromUnixTimestamp64Milli({to:Int64}, \'UTC\')',
    '(ends_at IS NULL OR ends_at >= fromUnixTimestamp64Milli({from:Int64}, \'UTC\'))',
  ];
  const params: Record<string, unknown> = { from: f.from, to: f.to, limit: f.limit };
  if (f.tenantId !== undefined) {
    where.unshift('tenant_id = {tenant:String}');
    params.tenant = f.tenantId;
  }
  if (f.state !== undefined) {
    where.push('state = {state:String}');
    params.state = f.state;
  }
  return {
    query: `SELECT ${COLUMNS}
            FROM alerts FINAL
            WHERE ${where.join('\n              AND ')}
            ORDER BY state = 'resolved', starts_at DESC, tenant_id, alert_key
            LIMIT {limit:UInt32}`,
    params,
  };
}

export function alertFromRow(r: AlertRow): Alert {
  const alert: Alert = {
    key: r.alert_key,
    kind: r.kind,
    tenantId: r.tenant_id,
    name: r.name,
    severity: r.severity,
    state: r.state,
    labels: r.labels,
    annotations: r.annotations,
    value: r.value,
    startsAt: r.starts_ms,
    updatedAt: r.updated_ms,
  };
  if (r.ends_ms !== null) alert.endsAt = r.ends_ms;
  return alert;
}

/** ISO 8601 with milliseconds: read exactly by DateTime64(3) (best_effort input format). */
const iso = (ms: number): string => new Date(ms).toISOString();

export function alertToRow(a: Alert) {
  return {
    tenant_id: a.tenantId,
    alert_key: a.key,
    starts_at: iso(a.startsAt),
    kind: a.kind,
    name: a.name,
    severity: a.severity,
    state: a.state,
    labels: a.labels,
    annotations: a.annotations,
    value: a.value,
    ends_at: a.endsAt === undefined ? null : iso(a.endsAt),
    updated_at: iso(a.updatedAt),
  };
}

export function transitionToRow(t: Transition) {
  return {
    tenant_id: t.tenantId,
    alert_key: t.key,
    starts_at: iso(t.startsAt),
    to_state: t.to,
    from_state: t.from ?? '',
    at: iso(t.at),
    kind: t.kind,
    name: t.name,
    severity: t.severity,
    value: t.value,
  };
}
