import { recomputeHoursSelect } from '../store/queries/rollup.ts';
import { HOUR_WINDOW, SYNTHETIC_INSTANCES, SYNTHETIC_MODELS } from './queries-data.ts';

/**
 * Pure layout and SQL of the rollup suite: N requests, as SERVER spans in `otel_traces` (which
 * `requests_mv` turns into `requests` rows) and, for the baseline, as `requests` rows directly, spread over the 24 hours of yesterday (UTC: inside raw retention, so the
 * rollup job takes them) and over tenants × models × instances, then rolled up by the product's
 * own job. Tenants are `bench-r<i>`, apart from the queries suite's `bench-t<i>`, and the suite
 * deletes its rows afterwards, so a kept --data-dir stays a scratch directory for the next run.
 */

export const ROLLUP_TENANT_PREFIX = 'bench-r';
/** Raw requests per tenant: more requests means more tenants, as in the queries suite. */
export const RAW_REQUESTS_PER_TENANT = 50_000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface RollupLayout {
  requests: number;
  tenants: number;
  /** Whole hours [from, to): yesterday, UTC. */
  from: number;
  to: number;
  /** usage_hourly rows the rollup must produce: tenants × hours × models × instances (each is hit when there are enough requests). */
  expectedRows: number;
}

export function rollupLayout(requests: number, nowMs: number): RollupLayout {
  if (!Number.isInteger(requests) || requests < 1) throw new RangeError(`requests must be a positive integer, got ${requests}`);
  const to = Math.floor(nowMs / DAY) * DAY;
  const tenants = Math.ceil(requests / RAW_REQUESTS_PER_TENANT);
  const combos = tenants * 24 * SYNTHETIC_MODELS.length * SYNTHETIC_INSTANCES;
  return { requests, tenants, from: to - DAY, to, expectedRows: Math.min(requests, combos) };
}

/**
 * One INSERT ... SELECT FROM numbers(): request r goes to combination r mod (tenants × 24 hours ×
 * models × instances), so every combination gets requests once there are enough of them, at a
 * second within its hour. One request in 50 is an error and one in 100 rejected, so the rollup's
 * countIf columns have something to count. Span ids are unique, so FINAL keeps every row.
 */
export function rawRequestsInsert(layout: RollupLayout) {
  const models = SYNTHETIC_MODELS.length;
  return {
    query: `INSERT INTO requests (tenant_id, ts, trace_id, span_id, service_name, instance_id, host, model, model_variant,
                                  model_version, operation, status, error_type, http_status, batch_size,
                                  input_elements, output_elements, input_tokens, output_tokens,
                                  duration_ns, queue_ns, inference_ns, cpu_us, gpu_us, gpu_model)
            SELECT concat({prefix:String}, toString(number % {tenants:UInt64})) AS tenant_id,
                   fromUnixTimestamp64Milli(toInt64({from:Int64} + intDiv(number, {tenants:UInt64}) % 24 * 3600000 + number % 3600 * 1000), 'UTC') AS ts,
                   lower(hex(cityHash64(number, 'trace'))) AS trace_id,
                   lower(hex(cityHash64(number, 'span'))) AS span_id,
                   'inferledger-sidecar', concat('bench-node-', toString(intDiv(number, {tenants:UInt64} * 24) % {instances:UInt64})) AS instance_id,
                   instance_id,
                   {models:Array(String)}[intDiv(number, {tenants:UInt64} * 24 * {instances:UInt64}) % {models_n:UInt64} + 1] AS model,
                   model, '1', 'infer',
                   multiIf(number % 100 = 7, 'rejected', number % 50 = 3, 'error', 'ok') AS status,
                   if(status = 'error', 'RuntimeError', ''), if(status = 'ok', 200, if(status = 'rejected', 429, 500)),
                   4, 256, 40, 64, 10,
                   1500000 + number % 1000 * 1000, 20000, 1400000, 900 + number % 200, 0, ''
            FROM numbers({n:UInt64})`,
    params: {
      prefix: ROLLUP_TENANT_PREFIX,
      tenants: layout.tenants,
      from: layout.from,
      instances: SYNTHETIC_INSTANCES,
      models: [...SYNTHETIC_MODELS],
      models_n: models,
      n: layout.requests,
    },
  };
}

/** ServiceName of the suite's spans in otel_traces (what `dropRollupCommands` deletes them by). */
export const ROLLUP_SPAN_SERVICE = 'inferledger-bench-rollup';

/**
 * The same requests as `rawRequestsInsert`, as the sidecar's SERVER spans into `otel_traces`, so
 * `requests_mv` makes the `requests` rows as it does for ingested spans: one INSERT ... SELECT,
 * the attributes the view reads (tenant, model, variant, status, tokens, elements, timings, CPU),
 * an error status on one request in 50 and `inferledger.rejected` on one in 100. Deduplication is
 * off for it: a rerun on a kept --data-dir inserts the same blocks, which ClickHouse would
 * otherwise drop (migration 0008) before the view ever saw them.
 */
export function rawSpansInsert(layout: RollupLayout) {
  return {
    query: `INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
                                     ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage)
            SELECT fromUnixTimestamp64Milli(toInt64({from:Int64} + intDiv(number, {tenants:UInt64}) % 24 * 3600000 + number % 3600 * 1000), 'UTC'),
                   lower(hex(cityHash64(number, 'trace'))),
                   lower(hex(cityHash64(number, 'span'))),
                   '', '', 'POST /v2/models/{model}/infer', 'Server', {service:String},
                   map('service.instance.id', instance, 'host.name', instance),
                   'inferledger', '1',
                   map('tenant.id', concat({prefix:String}, toString(number % {tenants:UInt64})),
                       'gen_ai.request.model', model, 'inferledger.model.variant', model, 'inferledger.model.version', '1',
                       'gen_ai.operation.name', 'infer',
                       'inferledger.rejected', if(number % 100 = 7, 'true', 'false'),
                       'error.type', if(number % 100 != 7 AND number % 50 = 3, 'RuntimeError', ''),
                       'http.response.status_code', multiIf(number % 100 = 7, '429', number % 50 = 3, '500', '200'),
                       'inferledger.batch_size', '4', 'inferledger.input_elements', '256', 'inferledger.output_elements', '40',
                       'gen_ai.usage.input_tokens', '64', 'gen_ai.usage.output_tokens', '10',
                       'inferledger.queue_ms', '0.02', 'inferledger.inference_ms', '1.4',
                       'inferledger.cpu_seconds', toString((900 + number % 200) / 1000000), 'inferledger.gpu_seconds', '0'),
                   1500000 + number % 1000 * 1000,
                   if(number % 100 != 7 AND number % 50 = 3, 'Error', 'Unset'), ''
            FROM (SELECT number,
                         concat('bench-node-', toString(intDiv(number, {tenants:UInt64} * 24) % {instances:UInt64})) AS instance,
                         {models:Array(String)}[intDiv(number, {tenants:UInt64} * 24 * {instances:UInt64}) % {models_n:UInt64} + 1] AS model
                  FROM numbers({n:UInt64}))
            SETTINGS insert_deduplicate = 0`,
    params: {
      service: ROLLUP_SPAN_SERVICE,
      prefix: ROLLUP_TENANT_PREFIX,
      tenants: layout.tenants,
      from: layout.from,
      instances: SYNTHETIC_INSTANCES,
      models: [...SYNTHETIC_MODELS],
      models_n: SYNTHETIC_MODELS.length,
      n: layout.requests,
    },
  };
}

/** What the rollup made of the suite's tenants: rows, and every request counted once. */
export function rolledUpTotalsQuery(layout: RollupLayout) {
  return {
    query: `SELECT count() AS row_count, sum(requests + rejected) AS request_count, sum(rejected) AS rejected_count, sum(errors) AS error_count
            FROM usage_hourly FINAL WHERE ${HOUR_WINDOW} AND startsWith(tenant_id, {prefix:String})`,
    params: { from: layout.from, to: layout.to, prefix: ROLLUP_TENANT_PREFIX },
  };
}

/** The rejected and error requests `rawRequestsInsert` makes (its multiIf, counted). */
export function expectedStatusCounts(requests: number): { rejected: number; errors: number } {
  // Numbers below `requests` in a residue class; number % 100 = 7 never has number % 50 = 3, so
  // no request is counted in both.
  const count = (mod: number, rest: number) => (requests > rest ? Math.floor((requests - 1 - rest) / mod) + 1 : 0);
  return { rejected: count(100, 7), errors: count(50, 3) };
}

/** The recompute's SELECT over the suite's hours alone, its rows counted in the engine: the baseline. */
export function recomputeSelectOnly(layout: RollupLayout) {
  const hours = Array.from({ length: 24 }, (_, i) => layout.from + i * HOUR);
  const q = recomputeHoursSelect(hours);
  return { query: `SELECT count() AS n FROM (${q.query})`, params: q.params };
}

/** Deletes the suite's spans, raw requests and their rollups (a kept --data-dir stays a scratch directory). */
export function dropRollupCommands(layout: RollupLayout) {
  const params = { from: layout.from, to: layout.to, prefix: ROLLUP_TENANT_PREFIX, service: ROLLUP_SPAN_SERVICE };
  return [
    {
      query: `ALTER TABLE otel_traces DELETE WHERE ServiceName = {service:String}
                AND Timestamp >= fromUnixTimestamp64Milli({from:Int64}) AND Timestamp < fromUnixTimestamp64Milli({to:Int64}) SETTINGS mutations_sync = 1`,
      params,
    },
    {
      query: `ALTER TABLE requests DELETE WHERE startsWith(tenant_id, {prefix:String})
                AND ts >= fromUnixTimestamp64Milli({from:Int64}) AND ts < fromUnixTimestamp64Milli({to:Int64}) SETTINGS mutations_sync = 1`,
      params,
    },
    { query: `ALTER TABLE usage_hourly DELETE WHERE startsWith(tenant_id, {prefix:String}) AND ${HOUR_WINDOW} SETTINGS mutations_sync = 1`, params },
  ];
}
