-- Migration 0008 makes ClickHouse drop an insert whose block repeats a recent one, by the hash
-- of the part it writes. A column whose values are all defaults (an empty ScopeName, an empty
-- TraceState: most rows of most exports) may be written with sparse serialization, and the very
-- first part a table takes was then hashed differently from an identical later one, so a repeat
-- of a table's first insert was stored twice (measured on the embedded engine: a fresh data
-- directory, the same block inserted three times, two rows). Without sparse serialization every
-- identical block writes identical files. The cost is nothing worth counting: such columns
-- compress to almost nothing with ZSTD either way.
ALTER TABLE otel_traces {{on_cluster}} MODIFY SETTING ratio_of_defaults_for_sparse_serialization = 1;
ALTER TABLE otel_metrics_gauge {{on_cluster}} MODIFY SETTING ratio_of_defaults_for_sparse_serialization = 1;
ALTER TABLE otel_metrics_sum {{on_cluster}} MODIFY SETTING ratio_of_defaults_for_sparse_serialization = 1;
ALTER TABLE otel_metrics_histogram {{on_cluster}} MODIFY SETTING ratio_of_defaults_for_sparse_serialization = 1;
ALTER TABLE otel_metrics_exponential_histogram {{on_cluster}} MODIFY SETTING ratio_of_defaults_for_sparse_serialization = 1;
ALTER TABLE otel_metrics_summary {{on_cluster}} MODIFY SETTING ratio_of_defaults_for_sparse_serialization = 1;
