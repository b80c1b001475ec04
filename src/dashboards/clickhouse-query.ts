import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';

/**
 * The query model of the grafana-clickhouse-datasource plugin (v4), as a foundation-SDK builder:
 * the SDK ships builders for Prometheus and friends but none for ClickHouse. A v4 SQL query is
 * `{ editorType: 'sql', queryType, format, rawSql, pluginVersion }`; a query without a v4
 * `pluginVersion`, or with the v3 `queryType` 'sql'/'builder', is migrated as a v3 query by the
 * plugin, so both are always set.
 */

export const CLICKHOUSE_PLUGIN_ID = 'grafana-clickhouse-datasource';
/** The query model version: the plugin treats anything below 4.0.0 as a v3 query to migrate. */
export const CLICKHOUSE_QUERY_MODEL_VERSION = '4.0.0';

/** Datasources as provisioned by dashboards/provisioning/datasources (fixed uids). */
export const CLICKHOUSE_DS = { type: CLICKHOUSE_PLUGIN_ID, uid: 'inferledger-clickhouse' } as const satisfies DataSourceRef;
export const PROMETHEUS_DS = { type: 'prometheus', uid: 'inferledger-prometheus' } as const satisfies DataSourceRef;

/** How the plugin shapes the result (sqlds FormatQueryOption: 0 time series, 1 table). */
export type ClickHouseQueryType = 'timeseries' | 'table';
const FORMAT_OF: Record<ClickHouseQueryType, 0 | 1> = { timeseries: 0, table: 1 };

export interface ClickHouseQuery extends cog.Dataquery {
  refId: string;
  datasource: DataSourceRef;
  editorType: 'sql';
  queryType: ClickHouseQueryType;
  format: 0 | 1;
  rawSql: string;
  pluginVersion: string;
}

export class ClickHouseQueryBuilder implements cog.Builder<cog.Dataquery> {
  private readonly internal: ClickHouseQuery;

  constructor(rawSql = '') {
    this.internal = {
      refId: 'A',
      datasource: { ...CLICKHOUSE_DS },
      editorType: 'sql',
      queryType: 'table',
      format: FORMAT_OF.table,
      rawSql: normalizeSql(rawSql),
      pluginVersion: CLICKHOUSE_QUERY_MODEL_VERSION,
      // The SDK's marker for "a dataquery variant"; JSON serialisation drops it.
      _implementsDataqueryVariant: () => {},
    };
  }

  build(): ClickHouseQuery {
    return this.internal;
  }

  refId(refId: string): this {
    this.internal.refId = refId;
    return this;
  }

  datasource(datasource: DataSourceRef): this {
    this.internal.datasource = { ...datasource };
    return this;
  }

  /** Time series (one `time` column first, ascending) or table (anything else: stat, table, bar gauge). */
  queryType(queryType: ClickHouseQueryType): this {
    this.internal.queryType = queryType;
    this.internal.format = FORMAT_OF[queryType];
    return this;
  }

  rawSql(rawSql: string): this {
    this.internal.rawSql = normalizeSql(rawSql);
    return this;
  }
}

/**
 * Template literals in the board files are indented with the code: strip the common indent and
 * surrounding blank lines, so the JSON holds the SQL as one would type it into the editor.
 */
export function normalizeSql(sql: string): string {
  const lines = sql.replace(/\r\n/g, '\n').split('\n');
  while (lines.length && lines[0]!.trim() === '') lines.shift();
  while (lines.length && lines.at(-1)!.trim() === '') lines.pop();
  const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(Number.isFinite(indent) ? indent : 0).trimEnd()).join('\n');
}
