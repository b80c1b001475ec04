import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { CLICKHOUSE_DS, normalizeSql } from './clickhouse-query.ts';
import { BOARD_TITLES, BOARD_UIDS, boardLinks, type BoardKey } from './links.ts';
import { buildPanel, type PanelSpec } from './panels.ts';

/**
 * A board as data (variables, rows of panel specs) and its one-way translation into a Grafana
 * dashboard through the foundation SDK. Panel ids are assigned in order, rows included, so they
 * are stable as long as the board file's order is.
 */

export interface VariableSpec {
  name: string;
  label: string;
  description: string;
  /** ClickHouse query of the options (one column), run by the plugin on each time-range change. */
  sql: string;
  /** Multi-select with an All option; every use of it in SQL goes through `anyOf` (sql.ts). */
  multi: boolean;
}

export interface RowSpec {
  title: string;
  panels: readonly PanelSpec[];
}

export interface BoardSpec {
  key: BoardKey;
  description: string;
  tags: readonly string[];
  /** Default time range, Grafana syntax. */
  time: { from: string; to: string };
  variables: readonly VariableSpec[];
  rows: readonly RowSpec[];
}

export function boardUid(spec: BoardSpec): string {
  return BOARD_UIDS[spec.key];
}

export function buildBoard(spec: BoardSpec): dashboard.Dashboard {
  const builder = new dashboard.DashboardBuilder(BOARD_TITLES[spec.key])
    .uid(BOARD_UIDS[spec.key])
    .description(spec.description)
    .tags(['inferledger', ...spec.tags])
    .timezone('utc')
    .time(spec.time)
    .refresh('1m')
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .readonly()
    .links(boardLinks(spec.key));
  for (const v of spec.variables) builder.withVariable(variable(v));
  let id = 0;
  for (const row of spec.rows) {
    builder.withRow(new dashboard.RowBuilder(row.title).id(++id).collapsed(false));
    for (const panel of row.panels) builder.withPanel(buildPanel(panel, ++id));
  }
  const board = builder.build();
  // The SDK files header links under Grafana 12's controls menu; keep them in the header bar.
  for (const link of board.links ?? []) delete link.placement;
  return board;
}

function variable(v: VariableSpec): dashboard.QueryVariableBuilder {
  const sql = normalizeSql(v.sql);
  const builder = new dashboard.QueryVariableBuilder(v.name)
    .label(v.label)
    .description(v.description)
    .datasource({ ...CLICKHOUSE_DS })
    // A plain string: every v4 plugin version runs it (newer ones also accept an object).
    .query(sql)
    .definition(sql)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc)
    .allowCustomValue(false)
    .multi(v.multi)
    .includeAll(v.multi);
  if (v.multi) {
    // Prometheus panels read the variable as a regex (`tenant=~"$tenant"`): All matches every
    // series, `other` included. ClickHouse panels never see it (see sql.ts `anyOf`).
    builder.allValue('.*').current({ text: ['All'], value: ['$__all'], selected: true });
  }
  return builder;
}
