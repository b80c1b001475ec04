/**
 * What Grafana and grafana-clickhouse-datasource do to a panel's rawSql before ClickHouse sees it,
 * in their order, so tests can run the dashboards' SQL for real:
 * 1. the plugin's frontend replaces `$__conditionalAll(cond, $var)` with `1=1` when the variable's
 *    current value is All (or empty), else with `cond` (CHDatasource.applyConditionalAll);
 * 2. Grafana interpolates template variables (`$var`, `${var}`, `${var:format}`, `[[var]]`), with the
 *    plugin's default format for multi values (`'a','b'`) and a custom All value left raw;
 * 3. the plugin's backend expands its macros (pkg/macros: `$__timeFilter(col)`,
 *    `$__fromTime`, `$__toTime`, `$__timeInterval(col)`, `$__interval_s`, and their `_ms` forms).
 * A macro this module does not know is an error, not passed through: the test must not bless SQL
 * that Grafana would send to ClickHouse half-expanded.
 */

export const ALL_VALUE = '$__all';

export interface TemplateVariable {
  name: string;
  /** The selection: a value, several values (multi), or ALL_VALUE / [ALL_VALUE]. */
  current: string | readonly string[];
  /** The options (without All): what All means when the variable has no custom allValue. */
  options: readonly string[];
  /** The custom All value, if the variable sets one (e.g. '.*'). */
  allValue?: string;
}

export interface QueryContext {
  fromMs: number;
  toMs: number;
  /** The panel's query interval (Grafana picks it from range / max data points). */
  intervalMs: number;
  variables: readonly TemplateVariable[];
}

export function expandQuery(rawSql: string, ctx: QueryContext): string {
  return expandMacros(interpolateVariables(applyConditionalAll(rawSql, ctx.variables), ctx.variables), ctx);
}

const isAll = (current: string | readonly string[]): boolean =>
  typeof current === 'string' ? current === ALL_VALUE : current.length === 1 && current[0] === ALL_VALUE;

/** Step 1, as the plugin does it: from the last occurrence backwards, arguments split at depth 1. */
export function applyConditionalAll(rawSql: string, variables: readonly TemplateVariable[]): string {
  const macro = '$__conditionalAll(';
  let sql = rawSql;
  for (let at = sql.lastIndexOf(macro); at !== -1; at = sql.lastIndexOf(macro)) {
    const args = macroArgs(sql, at + macro.length - 1);
    if (args.length !== 2) throw new Error(`$__conditionalAll needs 2 arguments, got ${args.length}: ${sql.slice(at, at + 80)}`);
    const [condition, variableArg] = args as [string, string];
    // The plugin strips the first character ('$'): `${var}` would not be found and never be All.
    const name = variableArg.trim().substring(1);
    const variable = variables.find((v) => v.name === name);
    const value = variable === undefined ? undefined : typeof variable.current === 'string' ? variable.current : variable.current.join(',');
    const phrase = value === '' || value === ALL_VALUE ? '1=1' : condition;
    sql = sql.replace(`${macro}${condition},${variableArg})`, phrase);
  }
  return sql;
}

function macroArgs(sql: string, openParen: number): string[] {
  const args: string[] = [];
  let depth = 0;
  let start = openParen + 1;
  for (let i = openParen; i < sql.length; i++) {
    const c = sql[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    if (c === ',' && depth === 1) {
      args.push(sql.slice(start, i));
      start = i + 1;
    }
    if (depth === 0) {
      args.push(sql.slice(start, i));
      return args;
    }
  }
  return [];
}

/** Grafana's template variable syntax (public/app/features/variables/utils.ts). */
const VARIABLE_REGEX = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\${(\w+)(?:\.([^:^}]+))?(?::([^}]+))?}/g;

/** Step 2. Unknown names stay as written, like Grafana leaves them. */
export function interpolateVariables(sql: string, variables: readonly TemplateVariable[]): string {
  return sql.replace(VARIABLE_REGEX, (match: string, bare?: string, bracket?: string, bracketFormat?: string, braced?: string, _path?: string, bracedFormat?: string) => {
    const name = bare ?? bracket ?? braced;
    const variable = variables.find((v) => v.name === name);
    if (!variable) return match;
    const format = bracketFormat ?? bracedFormat;
    if (isAll(variable.current)) {
      // Grafana does not format a custom All value (unless asked for text/percentencode).
      if (variable.allValue !== undefined) return variable.allValue;
      return formatValue(variable.options, format);
    }
    return formatValue(variable.current, format);
  });
}

function formatValue(value: string | readonly string[], format: string | undefined): string {
  const values = typeof value === 'string' ? [value] : value;
  switch (format) {
    case undefined:
      // The plugin's format(): arrays quoted and comma-joined, a single value raw.
      return typeof value === 'string' ? value : `'${values.join("','")}'`;
    case 'singlequote':
      return values.map((v) => `'${v.replace(/'/g, "\\'")}'`).join(',');
    case 'doublequote':
      return values.map((v) => `"${v.replace(/"/g, '\\"')}"`).join(',');
    case 'sqlstring':
      return values.map((v) => `'${v.replace(/'/g, "''")}'`).join(',');
    case 'csv':
    case 'raw':
      return values.join(',');
    case 'pipe':
      return values.join('|');
    default:
      throw new Error(`variable format "${format}" is not emulated`);
  }
}

/** Step 3: the plugin's backend macros (pkg/macros/macros.go). */
const MACROS: Record<string, (args: string[], ctx: QueryContext) => string> = {
  fromTime: (_, c) => dateTime(c.fromMs),
  toTime: (_, c) => dateTime(c.toMs),
  fromTime_ms: (_, c) => dateTime64(c.fromMs),
  toTime_ms: (_, c) => dateTime64(c.toMs),
  timeFilter: (a, c) => `${one(a, 'timeFilter')} >= ${dateTime(c.fromMs)} AND ${a[0]} <= ${dateTime(c.toMs)}`,
  timeFilter_ms: (a, c) => `${one(a, 'timeFilter_ms')} >= ${dateTime64(c.fromMs)} AND ${a[0]} <= ${dateTime64(c.toMs)}`,
  dateFilter: (a, c) => `${one(a, 'dateFilter')} >= ${date(c.fromMs)} AND ${a[0]} <= ${date(c.toMs)}`,
  timeInterval: (a, c) => `toStartOfInterval(toDateTime(${one(a, 'timeInterval')}), INTERVAL ${intervalSeconds(c)} second)`,
  timeInterval_ms: (a, c) => `toStartOfInterval(toDateTime64(${one(a, 'timeInterval_ms')}, 3), INTERVAL ${Math.max(Math.floor(c.intervalMs), 1)} millisecond)`,
  interval_s: (_, c) => String(intervalSeconds(c)),
};

const MACRO_REGEX = /\$__(\w+)(?:\(([^()]*)\))?/g;

export function expandMacros(sql: string, ctx: QueryContext): string {
  return sql.replace(MACRO_REGEX, (_match: string, name: string, rawArgs?: string) => {
    const macro = MACROS[name];
    if (!macro) throw new Error(`unknown macro $__${name}: Grafana would send it to ClickHouse unexpanded`);
    return macro(rawArgs === undefined ? [] : rawArgs.split(',').map((a) => a.trim()), ctx);
  });
}

function one(args: string[], name: string): string {
  if (args.length !== 1 || args[0] === '') throw new Error(`$__${name} expects 1 argument, got ${args.length}`);
  return args[0]!;
}

const intervalSeconds = (c: QueryContext) => Math.max(Math.floor(c.intervalMs / 1000), 1);
const dateTime = (ms: number) => `toDateTime(${Math.floor(ms / 1000)})`;
const dateTime64 = (ms: number) => `fromUnixTimestamp64Milli(${Math.floor(ms)})`;
const date = (ms: number) => `toDate('${new Date(ms).toISOString().slice(0, 10)}')`;
