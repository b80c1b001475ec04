import type { VariableSpec } from '../board.ts';
import { anyOf, equals, EPISODE_IN_RANGE, hourInRange } from '../sql.ts';

/** Template variables shared by the boards: same names everywhere, so links can carry them. */

/** Tenants with usage in the range. */
export const tenantVariable = (multi: boolean): VariableSpec => ({
  name: 'tenant',
  label: 'Tenant',
  description: 'Tenants with requests in the time range (from the hourly rollup).',
  sql: `
    SELECT DISTINCT tenant_id
    FROM usage_hourly
    WHERE ${hourInRange()}
    ORDER BY tenant_id`,
  multi,
});

/** Tenants with usage or with an alert episode in the range. */
export const alertTenantVariable: VariableSpec = {
  name: 'tenant',
  label: 'Tenant',
  description: 'Tenants with requests or an alert episode in the time range.',
  sql: `
    SELECT tenant_id FROM (
      SELECT DISTINCT tenant_id FROM usage_hourly WHERE ${hourInRange()}
      UNION DISTINCT
      SELECT DISTINCT tenant_id FROM alerts FINAL WHERE ${EPISODE_IN_RANGE}
    )
    ORDER BY tenant_id`,
  multi: true,
};

/** Models the selected tenant(s) used in the range. */
export const modelVariable = (tenantIsMulti: boolean): VariableSpec => ({
  name: 'model',
  label: 'Model',
  description: 'Models the selected tenants called in the time range (logical names, before variant routing).',
  sql: `
    SELECT DISTINCT model
    FROM usage_hourly
    WHERE ${hourInRange()}
      AND ${tenantIsMulti ? anyOf('tenant', 'tenant_id') : equals('tenant', 'tenant_id')}
    ORDER BY model`,
  multi: true,
});

/** Sidecar instances that sampled resources in the range. */
export const instanceVariable: VariableSpec = {
  name: 'instance',
  label: 'Instance',
  description: 'Sidecar instances (service.instance.id) that wrote resource samples in the time range.',
  sql: `
    SELECT DISTINCT instance_id
    FROM resource_samples
    WHERE $__timeFilter(window_start)
    ORDER BY instance_id`,
  multi: true,
};
