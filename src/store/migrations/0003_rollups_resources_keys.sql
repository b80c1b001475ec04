-- Hourly per tenant x model rollup, read by statements and dashboards. It is recomputed from
-- `requests FINAL` for every hour that received rows (jobs/rollup), and the newest computation
-- of an (tenant, hour, model, variant, instance) group replaces the older: re-running is safe
-- and a duplicated span can never be added twice. Reads use FINAL.
CREATE TABLE IF NOT EXISTS usage_hourly {{on_cluster}} (
    tenant_id LowCardinality(String),
    hour DateTime('UTC'),
    model LowCardinality(String),
    model_variant LowCardinality(String),
    instance_id LowCardinality(String),
    requests UInt64,
    errors UInt64,
    rejected UInt64,
    cpu_us UInt64,
    gpu_us UInt64,
    input_tokens UInt64,
    output_tokens UInt64,
    input_elements UInt64,
    output_elements UInt64,
    duration_ns_sum UInt64,
    latency_ms_quantiles AggregateFunction(quantiles(0.5, 0.95, 0.99), Float64),
    computed_at DateTime64(3, 'UTC')
) ENGINE = {{engine:ReplacingMergeTree(computed_at)}}
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, hour, model, model_variant, instance_id);

-- Where the rollup job got to (ingested_at of requests), per job name.
CREATE TABLE IF NOT EXISTS job_watermarks {{on_cluster}} (
    job LowCardinality(String),
    watermark DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC')
) ENGINE = {{engine:ReplacingMergeTree(updated_at)}}
ORDER BY job;

-- What each instance held and used per sampling window (sidecar/resources). A window written
-- twice (retry) collapses on (instance_id, window_start, ts); ts is part of the key so that a
-- zero-length window (two closes in one millisecond) never replaces the window after it.
CREATE TABLE IF NOT EXISTS resource_samples {{on_cluster}} (
    ts DateTime64(3, 'UTC'),
    window_start DateTime64(3, 'UTC'),
    instance_id LowCardinality(String),
    host LowCardinality(String),
    service_name LowCardinality(String),
    cpu_capacity_millicores UInt32,
    memory_limit_bytes UInt64,
    cpu_used_us UInt64,
    inference_cpu_us UInt64,
    rss_bytes UInt64,
    gpu_count UInt8,
    gpu_model LowCardinality(String)
) ENGINE = {{engine:ReplacingMergeTree}}
PARTITION BY toYYYYMM(window_start)
ORDER BY (instance_id, window_start, ts);

CREATE TABLE IF NOT EXISTS gpu_samples {{on_cluster}} (
    ts DateTime64(3, 'UTC'),
    window_start DateTime64(3, 'UTC'),
    instance_id LowCardinality(String),
    gpu_index UInt8,
    gpu_uuid String,
    gpu_model LowCardinality(String),
    utilization_pct Nullable(Float64),
    memory_used_bytes UInt64,
    memory_total_bytes UInt64,
    power_watts Nullable(Float64)
) ENGINE = {{engine:ReplacingMergeTree}}
PARTITION BY toYYYYMM(window_start)
ORDER BY (instance_id, window_start, gpu_index);

-- API keys, stored as SHA-256 of the (high-entropy, random) key; never the key itself.
-- A revocation is a newer version of the same row.
CREATE TABLE IF NOT EXISTS api_keys {{on_cluster}} (
    key_hash FixedString(64),
    key_prefix String,
    tenant_id LowCardinality(String),
    role LowCardinality(String),
    created_at DateTime64(3, 'UTC'),
    revoked UInt8 DEFAULT 0,
    version DateTime64(3, 'UTC')
) ENGINE = {{engine:ReplacingMergeTree(version)}}
ORDER BY key_hash;
