-- When a sample row arrived, so the capacity rollup can find the hours to recompute.
ALTER TABLE resource_samples {{on_cluster}} ADD COLUMN IF NOT EXISTS ingested_at DateTime64(3, 'UTC') DEFAULT now64(3);

-- Hourly capacity per instance: resource x time held and used, the input of cost attribution.
-- Products like bytes x ms exceed UInt64 on large machines, hence UInt128. Recomputed per hour
-- from `resource_samples FINAL` like usage_hourly (the newest computation replaces the older).
-- A sampling window belongs to the hour in which it starts.
CREATE TABLE IF NOT EXISTS capacity_hourly {{on_cluster}} (
    instance_id LowCardinality(String),
    hour DateTime('UTC'),
    window_ms UInt64,
    cpu_millicore_ms UInt128,
    memory_byte_ms UInt128,
    memory_used_byte_ms UInt128,
    gpu_model LowCardinality(String),
    gpu_ms UInt128,
    cpu_used_us UInt64,
    inference_cpu_us UInt64,
    computed_at DateTime64(3, 'UTC')
) ENGINE = {{engine:ReplacingMergeTree(computed_at)}}
PARTITION BY toYYYYMM(hour)
ORDER BY (instance_id, hour);

-- Issued (frozen) statements: the exact bytes served for a closed period, never rewritten. If two
-- replicas issue the same period at once, the earliest issue wins (version = inverted time).
CREATE TABLE IF NOT EXISTS statements {{on_cluster}} (
    tenant_id LowCardinality(String),
    period String,
    plan LowCardinality(String),
    currency LowCardinality(String),
    subtotal Decimal(38, 6),
    adjustments_total Decimal(38, 6),
    total Decimal(38, 6),
    body String,
    body_sha256 FixedString(64),
    issued_at DateTime64(3, 'UTC'),
    version UInt64
) ENGINE = {{engine:ReplacingMergeTree(version)}}
ORDER BY (tenant_id, period);
