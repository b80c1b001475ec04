/**
 * Pure layout and SQL of the queries suite's synthetic data. The statement and attribution reads
 * use the hourly rollups only (usage_hourly, capacity_hourly), so the data is loaded there: N
 * synthetic requests become rollup rows of tenants x hours x models x instances, each row holding
 * its share of the N requests. More requests means more tenants at a fixed monthly volume each
 * (REQUESTS_PER_TENANT), so one tenant's statement always reads the same number of rows while the
 * month's attribution reads all of them.
 */

export const REQUESTS_PER_TENANT = 50_000;
export const SYNTHETIC_MODELS = ['classifier-small', 'classifier-large', 'classifier-small-int8'] as const;
export const SYNTHETIC_INSTANCES = 2;
export const TENANT_PREFIX = 'bench-t';
const HOUR = 3_600_000;

export interface SyntheticLayout {
  requests: number;
  tenants: number;
  hours: number;
  /** Rollup rows per tenant: hours x models x instances. */
  rowsPerTenant: number;
  usageRows: number;
  capacityRows: number;
}

export function syntheticLayout(requests: number, periodStartMs: number, periodEndMs: number): SyntheticLayout {
  if (!Number.isInteger(requests) || requests < 1) throw new RangeError(`requests must be a positive integer, got ${requests}`);
  const hours = Math.round((periodEndMs - periodStartMs) / HOUR);
  const tenants = Math.ceil(requests / REQUESTS_PER_TENANT);
  const rowsPerTenant = hours * SYNTHETIC_MODELS.length * SYNTHETIC_INSTANCES;
  return { requests, tenants, hours, rowsPerTenant, usageRows: tenants * rowsPerTenant, capacityRows: hours * SYNTHETIC_INSTANCES };
}

/** The previous whole UTC month of `now`, as 'YYYY-MM' and its bounds. */
export function previousMonth(now: number): { period: string; start: number; end: number } {
  const d = new Date(now);
  const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const s = new Date(end - 1);
  const start = Date.UTC(s.getUTCFullYear(), s.getUTCMonth(), 1);
  return { period: `${s.getUTCFullYear()}-${String(s.getUTCMonth() + 1).padStart(2, '0')}`, start, end };
}

export const syntheticTenant = (i: number) => `${TENANT_PREFIX}${i}`;

/**
 * One INSERT ... SELECT FROM numbers(): the engine makes the rows, so loading 100M requests' worth
 * is bounded by the engine, not by JSON. Row r: tenant r / rowsPerTenant; within it, hour, model
 * and instance; requests spread so that they sum to exactly N. ~1 ms of CPU per request.
 */
export function usageRowsInsert(layout: SyntheticLayout, periodStartMs: number) {
  return {
    query: `INSERT INTO usage_hourly (tenant_id, hour, model, model_variant, instance_id, requests, errors, rejected,
                                      cpu_us, gpu_us, input_tokens, output_tokens, input_elements, output_elements,
                                      duration_ns_sum, computed_at)
            SELECT concat({prefix:String}, toString(intDiv(number, {per_tenant:UInt64}))) AS tenant_id,
                   toDateTime(intDiv({start:Int64}, 1000), 'UTC') + toIntervalHour(intDiv(number % {per_tenant:UInt64}, {combos:UInt64})) AS hour,
                   {models:Array(String)}[(number % {models_n:UInt64}) + 1] AS model,
                   model AS model_variant,
                   concat('bench-node-', toString(intDiv(number % {combos:UInt64}, {models_n:UInt64}))) AS instance_id,
                   intDiv({n:UInt64}, {total:UInt64}) + if(number < {n:UInt64} % {total:UInt64}, 1, 0) AS requests,
                   0, 0,
                   requests * (900 + number % 200) AS cpu_us,
                   0, 0, 0,
                   requests * 64, requests * 10,
                   requests * 1500000,
                   now64(3)
            FROM numbers({total:UInt64})`,
    params: {
      prefix: TENANT_PREFIX,
      per_tenant: layout.rowsPerTenant,
      start: periodStartMs,
      combos: SYNTHETIC_MODELS.length * SYNTHETIC_INSTANCES,
      models: [...SYNTHETIC_MODELS],
      models_n: SYNTHETIC_MODELS.length,
      n: layout.requests,
      total: layout.usageRows,
    },
  };
}

/** Two instances held for every hour of the month: 2 vCPU and 4 GiB each. */
export function capacityRowsInsert(layout: SyntheticLayout, periodStartMs: number) {
  return {
    query: `INSERT INTO capacity_hourly (instance_id, hour, window_ms, cpu_millicore_ms, memory_byte_ms, memory_used_byte_ms,
                                         gpu_model, gpu_ms, cpu_used_us, inference_cpu_us, computed_at)
            SELECT concat('bench-node-', toString(number % {instances:UInt64})) AS instance_id,
                   toDateTime(intDiv({start:Int64}, 1000), 'UTC') + toIntervalHour(intDiv(number, {instances:UInt64})) AS hour,
                   3600000, 2000 * 3600000, toUInt128(4294967296) * 3600000, toUInt128(2147483648) * 3600000,
                   '', 0, 3600000000, 3000000000, now64(3)
            FROM numbers({total:UInt64})`,
    params: { instances: SYNTHETIC_INSTANCES, start: periodStartMs, total: layout.capacityRows },
  };
}

/** The engine's side alone: the same SELECT, its rows counted in the engine instead of sent out. */
export function engineOnly(spec: { query: string; params: Record<string, unknown> }) {
  return { query: `SELECT count() AS n FROM (${spec.query})`, params: spec.params };
}

/** usage_hourly / capacity_hourly rows whose hour lies in [{from}, {to}) (epoch ms). */
export const HOUR_WINDOW = `hour >= toDateTime(intDiv({from:Int64}, 1000), 'UTC') AND hour < toDateTime(intDiv({to:Int64}, 1000), 'UTC')`;

/** Usage rows of the month that this suite did not make: a real data directory, not a scratch one. */
export function foreignUsageQuery(range: { from: number; to: number }) {
  return {
    query: `SELECT count() AS n FROM usage_hourly WHERE ${HOUR_WINDOW} AND NOT startsWith(tenant_id, {prefix:String})`,
    params: { ...range, prefix: TENANT_PREFIX },
  };
}

/**
 * A previous run's synthetic rows of the month (a reused --data-dir), dropped before loading,
 * with the days priced from them (the month holds no other usage: see foreignUsageQuery), so the
 * run measures pricing, not a previous run's kept days.
 */
export function dropSyntheticCommands(range: { from: number; to: number }) {
  return [
    {
      query: `ALTER TABLE attribution_days DELETE WHERE day >= toDate(toDateTime(intDiv({from:Int64}, 1000), 'UTC')) AND day < toDate(toDateTime(intDiv({to:Int64}, 1000), 'UTC')) SETTINGS mutations_sync = 1`,
      params: { ...range },
    },
    {
      query: `ALTER TABLE usage_hourly DELETE WHERE ${HOUR_WINDOW} AND startsWith(tenant_id, {prefix:String}) SETTINGS mutations_sync = 1`,
      params: { ...range, prefix: TENANT_PREFIX },
    },
    {
      query: `ALTER TABLE capacity_hourly DELETE WHERE ${HOUR_WINDOW} AND startsWith(instance_id, 'bench-node-') SETTINGS mutations_sync = 1`,
      params: { ...range },
    },
  ];
}

/** What the month holds after loading: rows and the requests they carry. */
export function loadedTotalsQuery(range: { from: number; to: number }) {
  return {
    query: `SELECT count() AS rows, sum(requests) AS requests FROM usage_hourly FINAL WHERE ${HOUR_WINDOW} AND startsWith(tenant_id, {prefix:String})`,
    params: { ...range, prefix: TENANT_PREFIX },
  };
}
