import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CLICKHOUSE_PLUGIN_ID } from '../../src/dashboards/clickhouse-query.ts';
import { ALL_VALUE, type TemplateVariable } from '../../src/dashboards/expand-query.ts';

/**
 * The committed dashboards/*.json as Grafana loads them, reduced to what the query tests need:
 * every ClickHouse variable query and panel target, found by datasource type (not by trusting
 * the generator), and the selections a user can make on each board.
 */

export const DASHBOARDS_DIR = resolve(import.meta.dirname, '../../dashboards');

export interface JsonTarget {
  refId?: string;
  rawSql?: string;
  expr?: string;
  format?: number;
  queryType?: string;
  datasource?: { type?: string; uid?: string };
}

export interface JsonPanel {
  id: number;
  type: string;
  title?: string;
  gridPos?: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string };
  targets?: JsonTarget[];
  fieldConfig?: {
    defaults?: { unit?: string };
    overrides?: Array<{ matcher?: { id?: string; options?: unknown }; properties?: Array<{ id?: string; value?: unknown }> }>;
  };
}

export interface JsonVariable {
  name: string;
  type: string;
  query?: string | { rawSql?: string };
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
  datasource?: { type?: string };
}

export interface DashboardJson {
  uid: string;
  title: string;
  panels: JsonPanel[];
  templating: { list?: JsonVariable[] };
}

export interface ClickHouseVariable {
  name: string;
  sql: string;
  multi: boolean;
  allValue: string | undefined;
}

export interface ClickHouseTarget {
  panelId: number;
  panelTitle: string;
  panelType: string;
  refId: string;
  sql: string;
  /** 0: time series, 1: table. */
  format: number;
}

export function readDashboards(dir = DASHBOARDS_DIR): DashboardJson[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as DashboardJson);
}

const isClickHouse = (ds: { type?: string } | undefined) => ds?.type === CLICKHOUSE_PLUGIN_ID;

export function clickHouseVariables(d: DashboardJson): ClickHouseVariable[] {
  return (d.templating.list ?? [])
    .filter((v) => v.type === 'query' && isClickHouse(v.datasource))
    .map((v) => ({
      name: v.name,
      sql: typeof v.query === 'string' ? v.query : (v.query?.rawSql ?? ''),
      multi: v.multi === true,
      allValue: v.includeAll ? v.allValue : undefined,
    }));
}

export function clickHouseTargets(d: DashboardJson): ClickHouseTarget[] {
  return d.panels.flatMap((p) =>
    (p.targets ?? [])
      .filter((t) => isClickHouse(t.datasource ?? p.datasource))
      .map((t) => ({ panelId: p.id, panelTitle: p.title ?? '', panelType: p.type, refId: t.refId ?? '', sql: t.rawSql ?? '', format: t.format ?? -1 })),
  );
}

/** How a user can set a board's variables: Grafana's defaults, one value each, two values each. */
export type Selection = 'defaults' | 'first' | 'two';
export const SELECTIONS: readonly Selection[] = ['defaults', 'first', 'two'];

/** The variable's value under a selection, given its options (the result of its query). */
export function select(v: ClickHouseVariable, options: readonly string[], selection: Selection): TemplateVariable {
  const base = { name: v.name, options, allValue: v.allValue };
  if (!v.multi) return { ...base, current: options[0] ?? '' };
  switch (selection) {
    case 'defaults':
      return { ...base, current: [ALL_VALUE] };
    case 'first':
      return { ...base, current: options.slice(0, 1) };
    case 'two':
      return { ...base, current: options.slice(0, 2) };
  }
}
