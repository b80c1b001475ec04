-- One row per inference request, tenant first. Fed from otel_traces by requests_mv.
--
-- No double counting (SPEC §2): a span delivered twice (exporter retry, spool replay, collector
-- redelivery) lands twice in otel_traces and twice here. ReplacingMergeTree collapses rows with
-- the same sort key, and the sort key ends in (trace_id, span_id), so duplicates share a key. We
-- never rely on background merges having happened: every read of this table uses FINAL, and
-- the rollups are recomputed from `requests FINAL` (jobs/rollup), never summed incrementally.
CREATE TABLE IF NOT EXISTS requests {{on_cluster}} (
    tenant_id LowCardinality(String),
    ts DateTime64(9, 'UTC'),
    trace_id String,
    span_id String,
    service_name LowCardinality(String),
    instance_id LowCardinality(String),
    host LowCardinality(String),
    model LowCardinality(String),
    model_variant LowCardinality(String),
    model_version LowCardinality(String),
    operation LowCardinality(String),
    status LowCardinality(String),
    error_type LowCardinality(String),
    http_status UInt16,
    batch_size UInt32,
    input_elements UInt64,
    output_elements UInt64,
    input_tokens UInt64,
    output_tokens UInt64,
    duration_ns UInt64,
    queue_ns UInt64,
    inference_ns UInt64,
    cpu_us UInt64,
    gpu_us UInt64,
    gpu_model LowCardinality(String),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_ingested_at ingested_at TYPE minmax GRANULARITY 1
) ENGINE = {{engine:ReplacingMergeTree}}
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant_id, toStartOfHour(ts), model, trace_id, span_id)
TTL toDateTime(ts) + toIntervalDay({{raw_ttl_days}})
SETTINGS ttl_only_drop_parts = 1;

-- The span -> request mapping. Attribute names: src/telemetry/attributes.ts. A request is a
-- tenant-labelled SERVER span with a gen_ai operation, so any GenAI-instrumented service that
-- sets tenant.id counts, not only our sidecar. SpanKind/StatusCode come in two spellings
-- depending on the collector version ('Server' / 'SPAN_KIND_SERVER').
CREATE MATERIALIZED VIEW IF NOT EXISTS requests_mv {{on_cluster}} TO requests AS
SELECT
    SpanAttributes['tenant.id'] AS tenant_id,
    Timestamp AS ts,
    TraceId AS trace_id,
    SpanId AS span_id,
    ServiceName AS service_name,
    ResourceAttributes['service.instance.id'] AS instance_id,
    ResourceAttributes['host.name'] AS host,
    SpanAttributes['gen_ai.request.model'] AS model,
    if(SpanAttributes['inferledger.model.variant'] != '', SpanAttributes['inferledger.model.variant'], SpanAttributes['gen_ai.request.model']) AS model_variant,
    SpanAttributes['inferledger.model.version'] AS model_version,
    SpanAttributes['gen_ai.operation.name'] AS operation,
    multiIf(
        SpanAttributes['inferledger.rejected'] = 'true', 'rejected',
        StatusCode IN ('Error', 'STATUS_CODE_ERROR'), 'error',
        'ok') AS status,
    SpanAttributes['error.type'] AS error_type,
    toUInt16OrZero(SpanAttributes['http.response.status_code']) AS http_status,
    toUInt32OrZero(SpanAttributes['inferledger.batch_size']) AS batch_size,
    toUInt64OrZero(SpanAttributes['inferledger.input_elements']) AS input_elements,
    toUInt64OrZero(SpanAttributes['inferledger.output_elements']) AS output_elements,
    toUInt64OrZero(SpanAttributes['gen_ai.usage.input_tokens']) AS input_tokens,
    toUInt64OrZero(SpanAttributes['gen_ai.usage.output_tokens']) AS output_tokens,
    Duration AS duration_ns,
    toUInt64(greatest(0, round(toFloat64OrZero(SpanAttributes['inferledger.queue_ms']) * 1000000))) AS queue_ns,
    toUInt64(greatest(0, round(toFloat64OrZero(SpanAttributes['inferledger.inference_ms']) * 1000000))) AS inference_ns,
    toUInt64(greatest(0, round(toFloat64OrZero(SpanAttributes['inferledger.cpu_seconds']) * 1000000))) AS cpu_us,
    toUInt64(greatest(0, round(toFloat64OrZero(SpanAttributes['inferledger.gpu_seconds']) * 1000000))) AS gpu_us,
    ResourceAttributes['inferledger.gpu.model'] AS gpu_model
FROM otel_traces
WHERE SpanAttributes['tenant.id'] != ''
  AND SpanAttributes['gen_ai.operation.name'] != ''
  AND SpanKind IN ('Server', 'SPAN_KIND_SERVER');
