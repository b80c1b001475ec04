-- Tables whose rows have no key to collapse on (spans, metric points) drop an insert whose every
-- row repeats a recent insert's, the way Replicated tables always do: an OTLP export re-sent to
-- another API replica or after a restart, or a spool batch replayed after a crash, is stored
-- once. ClickHouse keeps the hashes of each table's last 10,000 inserted blocks.
-- On a cluster the local tables are Replicated and deduplicate already: see renderStatements.
ALTER TABLE otel_traces {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE otel_metrics_gauge {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE otel_metrics_sum {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE otel_metrics_histogram {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE otel_metrics_exponential_histogram {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE otel_metrics_summary {{on_cluster}} MODIFY SETTING non_replicated_deduplication_window = 10000;
