import * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { ClickHouseQueryBuilder, CLICKHOUSE_DS, PROMETHEUS_DS } from './clickhouse-query.ts';
import { boardUrl, type BoardRef } from './links.ts';

/**
 * Panels as data: a board file lists specs, `buildPanel` turns one into a foundation-SDK panel
 * builder. Every spec carries a unit and a description; a ClickHouse spec also names the columns
 * its query returns, which test/dashboards-queries.test.ts checks against the real schema.
 */

export interface ThresholdStep {
  /** null: the base step. */
  value: number | null;
  color: string;
}

interface PanelBase {
  title: string;
  description: string;
  unit: string;
  /** Grid width (of 24) and height. */
  w: number;
  h: number;
  thresholds?: readonly ThresholdStep[];
  decimals?: number;
  min?: number;
  max?: number;
  /** Other units for some columns (tables, multi-column stats). */
  columnUnits?: Readonly<Record<string, string>>;
  /** Data links on a column's cells, e.g. tenant → the tenant drill-down. */
  cellLinks?: Readonly<Record<string, BoardRef>>;
  /** Links in the panel header. */
  links?: readonly BoardRef[];
  /** Time series: stack the series (shares of a whole). */
  stacked?: boolean;
}

export interface ClickHousePanel extends PanelBase {
  source: 'clickhouse';
  viz: 'timeseries' | 'stat' | 'table' | 'bargauge';
  sql: string;
  /** The result columns, in order. A time series returns `time` first, ascending. */
  columns: readonly string[];
}

export interface PrometheusQuery {
  expr: string;
  legend: string;
}

export interface PrometheusPanel extends PanelBase {
  source: 'prometheus';
  viz: 'timeseries' | 'stat' | 'bargauge';
  queries: readonly PrometheusQuery[];
}

export type PanelSpec = ClickHousePanel | PrometheusPanel;

export const GREEN_ONLY: readonly ThresholdStep[] = [{ value: null, color: 'green' }];

/** Thresholds of "lower is better" values: green, then amber at `warn`, red at `crit`. */
export const upIsBad = (warn: number, crit: number): readonly ThresholdStep[] => [
  { value: null, color: 'green' },
  { value: warn, color: 'orange' },
  { value: crit, color: 'red' },
];

/** Thresholds of "higher is better" values (utilisation, headroom): red below `crit`, amber below `warn`. */
export const downIsBad = (crit: number, warn: number): readonly ThresholdStep[] => [
  { value: null, color: 'red' },
  { value: crit, color: 'orange' },
  { value: warn, color: 'green' },
];

/** The subset of methods every SDK panel builder has; each returns the builder itself. */
interface CommonPanelBuilder extends cog.Builder<dashboard.Panel> {
  id(id: number): unknown;
  title(title: string): unknown;
  description(description: string): unknown;
  datasource(datasource: common.DataSourceRef): unknown;
  withTarget(target: cog.Builder<cog.Dataquery>): unknown;
  unit(unit: string): unknown;
  decimals(decimals: number): unknown;
  min(min: number): unknown;
  max(max: number): unknown;
  thresholds(thresholds: cog.Builder<dashboard.ThresholdsConfig>): unknown;
  span(w: number): unknown;
  height(h: number): unknown;
  links(links: cog.Builder<dashboard.DashboardLink>[]): unknown;
  overrideByName(name: string, properties: dashboard.DynamicConfigValue[]): unknown;
}

export function buildPanel(spec: PanelSpec, id: number): cog.Builder<dashboard.Panel> {
  const builder = vizBuilder(spec);
  builder.id(id);
  builder.title(spec.title);
  builder.description(spec.description);
  builder.unit(spec.unit);
  builder.span(spec.w);
  builder.height(spec.h);
  builder.thresholds(new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps((spec.thresholds ?? GREEN_ONLY).map((s) => ({ ...s }))));
  if (spec.decimals !== undefined) builder.decimals(spec.decimals);
  if (spec.min !== undefined) builder.min(spec.min);
  if (spec.max !== undefined) builder.max(spec.max);
  if (spec.links?.length) builder.links(spec.links.map(panelLink));
  for (const [column, unit] of Object.entries(spec.columnUnits ?? {})) builder.overrideByName(column, [{ id: 'unit', value: unit }]);
  for (const [column, ref] of Object.entries(spec.cellLinks ?? {})) {
    builder.overrideByName(column, [{ id: 'links', value: [{ title: ref.title, url: boardUrl(ref) }] }]);
  }
  if (spec.source === 'clickhouse') {
    builder.datasource({ ...CLICKHOUSE_DS });
    builder.withTarget(new ClickHouseQueryBuilder(spec.sql).refId('A').queryType(spec.viz === 'timeseries' ? 'timeseries' : 'table'));
  } else {
    builder.datasource({ ...PROMETHEUS_DS });
    spec.queries.forEach((q, i) => builder.withTarget(prometheusTarget(q, i, spec.viz === 'timeseries')));
  }
  return builder;
}

function vizBuilder(spec: PanelSpec): CommonPanelBuilder {
  switch (spec.viz) {
    case 'timeseries':
      return new timeseries.PanelBuilder()
        .lineWidth(1)
        .fillOpacity(spec.stacked ? 40 : 10)
        .showPoints(common.VisibilityMode.Never)
        .spanNulls(false)
        .stacking(new common.StackingConfigBuilder().mode(spec.stacked ? common.StackingMode.Normal : common.StackingMode.None))
        .legend(new common.VizLegendOptionsBuilder().showLegend(true).displayMode(common.LegendDisplayMode.Table).placement(common.LegendPlacement.Bottom).calcs(['mean', 'max']))
        .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending));
    case 'stat':
      return new stat.PanelBuilder()
        .graphMode(common.BigValueGraphMode.None)
        .colorMode(common.BigValueColorMode.Value)
        .textMode(common.BigValueTextMode.Auto)
        .reduceOptions(new common.ReduceDataOptionsBuilder().values(false).calcs(['lastNotNull']).fields(''));
    case 'bargauge':
      return new bargauge.PanelBuilder()
        .displayMode(common.BarGaugeDisplayMode.Gradient)
        .orientation(common.VizOrientation.Horizontal)
        .showUnfilled(true)
        .reduceOptions(new common.ReduceDataOptionsBuilder().values(spec.source === 'clickhouse').calcs(['lastNotNull']).fields(''));
    case 'table':
      return new table.PanelBuilder().cellHeight(common.TableCellHeight.Sm).showHeader(true).filterable(true);
  }
}

function prometheusTarget(q: PrometheusQuery, i: number, range: boolean): prometheus.DataqueryBuilder {
  const target = new prometheus.DataqueryBuilder()
    .datasource({ ...PROMETHEUS_DS })
    .refId(String.fromCharCode(65 + i))
    .expr(q.expr)
    .legendFormat(q.legend)
    .editorMode(prometheus.QueryEditorMode.Code);
  return range ? target.range() : target.instant();
}

function panelLink(ref: BoardRef): dashboard.DashboardLinkBuilder {
  return new dashboard.DashboardLinkBuilder(ref.title)
    .type(dashboard.DashboardLinkType.Link)
    .url(boardUrl(ref))
    .tooltip(ref.tooltip ?? ref.title)
    .icon('dashboard')
    .targetBlank(false)
    .includeVars(false)
    .keepTime(false);
}
