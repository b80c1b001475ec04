import type { Alert, AlertKind, AlertState, Severity } from './types.ts';

/**
 * The wire shape of an alert, shared by `GET /v1/alerts` and webhook payloads so a receiver and
 * an API client parse one format. Times are RFC 3339 (UTC, milliseconds).
 */
export interface AlertJson {
  key: string;
  kind: AlertKind;
  name: string;
  tenant: string;
  severity: Severity;
  state: AlertState;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  value: number;
  starts_at: string;
  ends_at: string | null;
  updated_at: string;
}

export function alertToJson(a: Alert): AlertJson {
  return {
    key: a.key,
    kind: a.kind,
    name: a.name,
    tenant: a.tenantId,
    severity: a.severity,
    state: a.state,
    labels: a.labels,
    annotations: a.annotations,
    value: a.value,
    starts_at: new Date(a.startsAt).toISOString(),
    ends_at: a.endsAt === undefined ? null : new Date(a.endsAt).toISOString(),
    updated_at: new Date(a.updatedAt).toISOString(),
  };
}
