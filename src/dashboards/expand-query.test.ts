import { describe, expect, it } from 'vitest';
import { ALL_VALUE, applyConditionalAll, expandMacros, expandQuery, interpolateVariables, type QueryContext, type TemplateVariable } from './expand-query.ts';

const FROM = 1_700_000_000_000;
const TO = FROM + 3_600_000;
const ctx = (variables: TemplateVariable[] = [], intervalMs = 30_000): QueryContext => ({ fromMs: FROM, toMs: TO, intervalMs, variables });

const tenant = (current: TemplateVariable['current'], allValue?: string): TemplateVariable => ({ name: 'tenant', current, options: ['acme', 'globex'], allValue });

describe('backend macros (pkg/macros/macros.go)', () => {
  it.each([
    ['$__timeFilter(ts)', 'ts >= toDateTime(1700000000) AND ts <= toDateTime(1700003600)'],
    ['$__timeFilter( hour )', 'hour >= toDateTime(1700000000) AND hour <= toDateTime(1700003600)'],
    ['$__timeFilter_ms(ts)', 'ts >= fromUnixTimestamp64Milli(1700000000000) AND ts <= fromUnixTimestamp64Milli(1700003600000)'],
    ['$__fromTime', 'toDateTime(1700000000)'],
    ['toStartOfHour($__fromTime)', 'toStartOfHour(toDateTime(1700000000))'],
    ['$__toTime', 'toDateTime(1700003600)'],
    ['$__fromTime_ms', 'fromUnixTimestamp64Milli(1700000000000)'],
    ['$__dateFilter(d)', "d >= toDate('2023-11-14') AND d <= toDate('2023-11-14')"],
    ['$__timeInterval(ts)', 'toStartOfInterval(toDateTime(ts), INTERVAL 30 second)'],
    ['$__timeInterval_ms(ts)', 'toStartOfInterval(toDateTime64(ts, 3), INTERVAL 30000 millisecond)'],
    ['count() / $__interval_s', 'count() / 30'],
  ])('%s', (sql, expected) => {
    expect(expandMacros(sql, ctx())).toBe(expected);
  });

  it('never uses an interval below one second', () => {
    expect(expandMacros('$__interval_s $__timeInterval(ts)', ctx([], 200))).toBe('1 toStartOfInterval(toDateTime(ts), INTERVAL 1 second)');
  });

  it('refuses what the plugin would not expand', () => {
    expect(() => expandMacros('$__timeGroup(ts, 1h)', ctx())).toThrow(/unknown macro \$__timeGroup/);
    expect(() => expandMacros('$__timeFilter(a, b)', ctx())).toThrow(/expects 1 argument/);
  });
});

describe('$__conditionalAll (CHDatasource.applyConditionalAll)', () => {
  const cond = '$__conditionalAll(tenant_id IN (${tenant:singlequote}), $tenant)';

  it.each([
    ['All', [ALL_VALUE], '1=1'],
    ['All (single-value form)', ALL_VALUE, '1=1'],
    ['empty', '', '1=1'],
    ['one value', ['acme'], 'tenant_id IN (${tenant:singlequote})'],
    ['two values', ['acme', 'globex'], 'tenant_id IN (${tenant:singlequote})'],
  ] as const)('%s', (_what, current, expected) => {
    expect(applyConditionalAll(`WHERE ${cond} AND x`, [tenant(current)])).toBe(`WHERE ${expected} AND x`);
  });

  it('expands every occurrence, nested parentheses included', () => {
    const sql = '$__conditionalAll(a IN (f(1, 2)), $tenant) AND $__conditionalAll(b = 1, $model)';
    const model: TemplateVariable = { name: 'model', current: ['m'], options: ['m'] };
    expect(applyConditionalAll(sql, [tenant([ALL_VALUE]), model])).toBe('1=1 AND b = 1');
  });

  it('finds the variable only in the bare $name form, like the plugin', () => {
    expect(applyConditionalAll('$__conditionalAll(x, ${tenant})', [tenant([ALL_VALUE])])).toBe('x');
  });
});

describe('template variables (Grafana templateSrv with the plugin format)', () => {
  it.each([
    ['single value, default format: raw', '$tenant', 'acme', 'acme'],
    ['single value, singlequote', '${tenant:singlequote}', 'acme', "'acme'"],
    ['quotes are escaped', '${tenant:singlequote}', "o'k", "'o\\'k'"],
    ['sqlstring doubles quotes', '${tenant:sqlstring}', "o'k", "'o''k'"],
    ['multi, default format: quoted list', '$tenant', ['acme', 'globex'], "'acme','globex'"],
    ['multi, singlequote', '${tenant:singlequote}', ['acme', 'globex'], "'acme','globex'"],
    ['multi, csv', '${tenant:csv}', ['acme', 'globex'], 'acme,globex'],
    ['[[var]] syntax', '[[tenant]]', 'acme', 'acme'],
    ['All without a custom all value: every option', '${tenant:singlequote}', [ALL_VALUE], "'acme','globex'"],
  ] as const)('%s', (_what, sql, current, expected) => {
    expect(interpolateVariables(sql, [tenant(current)])).toBe(expected);
  });

  it('leaves a custom All value unformatted', () => {
    expect(interpolateVariables('${tenant:singlequote}', [tenant([ALL_VALUE], '.*')])).toBe('.*');
  });

  it('leaves unknown names and macros alone', () => {
    expect(interpolateVariables('$nope ${nope} $__timeFilter(ts) $__interval_s', [tenant('acme')])).toBe('$nope ${nope} $__timeFilter(ts) $__interval_s');
  });
});

describe('expandQuery: the whole pipeline in the plugin order', () => {
  const sql = `SELECT $__timeInterval(ts) AS time, count() / $__interval_s AS rps
FROM requests FINAL
WHERE $__timeFilter(ts) AND $__conditionalAll(tenant_id IN (\${tenant:singlequote}), $tenant)
GROUP BY time ORDER BY time`;

  it('All: the filter disappears before the custom All value could reach the SQL', () => {
    expect(expandQuery(sql, ctx([tenant([ALL_VALUE], '.*')]))).toBe(`SELECT toStartOfInterval(toDateTime(ts), INTERVAL 30 second) AS time, count() / 30 AS rps
FROM requests FINAL
WHERE ts >= toDateTime(1700000000) AND ts <= toDateTime(1700003600) AND 1=1
GROUP BY time ORDER BY time`);
  });

  it('two tenants: a quoted IN list', () => {
    expect(expandQuery(sql, ctx([tenant(['acme', 'globex'], '.*')]))).toContain("AND tenant_id IN ('acme','globex')");
  });
});
