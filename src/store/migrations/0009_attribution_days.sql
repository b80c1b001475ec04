-- Priced days (src/attribution/persisted-days.ts): what one whole, ended UTC day's rollup rows
-- cost, kept so that a restart, another API replica or the next job run reads a day back instead
-- of pricing every row of it again. A cache, never a source of truth: a row is used only when its
-- fingerprint (format version, price book and plans, and the day's rollup rows) is exactly the
-- one the reader computes now, so late data, a price change or a new engine version simply miss.
-- The value of a (kind, day, fingerprint) is deterministic, so a repeated insert is the same row.
-- payload: the value's JSON, deflated and base64-encoded (persisted-days.ts).
-- Rows expire a while after they were written: a day asked for again is priced and written again.
CREATE TABLE IF NOT EXISTS attribution_days {{on_cluster}} (
    kind LowCardinality(String),
    day Date,
    fingerprint String,
    payload String CODEC(ZSTD(3)),
    computed_at DateTime64(3, 'UTC')
) ENGINE = {{engine:ReplacingMergeTree(computed_at)}}
PARTITION BY toYYYYMM(day)
ORDER BY (kind, day, fingerprint)
TTL toDateTime(computed_at) + toIntervalDay(100);
