-- Alert episodes (SPEC §6): one row per version of an episode; the newest version (updated_at)
-- is the episode's state. An alert is (tenant_id, alert_key); an episode adds starts_at, so a
-- crossing after a resolve is a row of its own. The evaluator computes the same key and
-- starts_at when it re-runs over the same state, so a repeated write collapses into the same
-- episode. Reads use FINAL and never rely on merges having happened.
CREATE TABLE IF NOT EXISTS alerts {{on_cluster}} (
    tenant_id LowCardinality(String),
    alert_key FixedString(64),
    starts_at DateTime64(3, 'UTC'),
    kind LowCardinality(String),
    name LowCardinality(String),
    severity LowCardinality(String),
    state LowCardinality(String),
    labels Map(LowCardinality(String), String),
    annotations Map(LowCardinality(String), String),
    value Float64,
    ends_at Nullable(DateTime64(3, 'UTC')),
    updated_at DateTime64(3, 'UTC')
) ENGINE = {{engine:ReplacingMergeTree(updated_at)}}
PARTITION BY toYYYYMM(starts_at)
ORDER BY (tenant_id, alert_key, starts_at);

-- State transitions, for history and audit; rows are only ever inserted. An episode enters each
-- state at most once, so the sort key ends in to_state: a transition written twice (a re-run
-- after a failed save) is the same row and reads back once with FINAL.
CREATE TABLE IF NOT EXISTS alert_events {{on_cluster}} (
    tenant_id LowCardinality(String),
    alert_key FixedString(64),
    starts_at DateTime64(3, 'UTC'),
    to_state LowCardinality(String),
    from_state LowCardinality(String),
    at DateTime64(3, 'UTC'),
    kind LowCardinality(String),
    name LowCardinality(String),
    severity LowCardinality(String),
    value Float64
) ENGINE = {{engine:ReplacingMergeTree}}
PARTITION BY toYYYYMM(starts_at)
ORDER BY (tenant_id, alert_key, starts_at, to_state);
