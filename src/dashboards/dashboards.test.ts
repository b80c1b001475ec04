import { describe, expect, it } from 'vitest';
import { buildBoard } from './board.ts';
import { CLICKHOUSE_DS, CLICKHOUSE_PLUGIN_ID, PROMETHEUS_DS } from './clickhouse-query.ts';
import { ALL_VALUE, applyConditionalAll } from './expand-query.ts';
import { BOARDS, generateDashboardFiles } from './generate.ts';
import { BOARD_UIDS } from './links.ts';

/** The generated boards, checked as Grafana JSON: structure, units, descriptions, links, SQL hygiene. */

interface Json {
  [key: string]: unknown;
}
const boards = generateDashboardFiles()
  .filter((f) => f.path.endsWith('.json'))
  .map((f) => JSON.parse(f.content) as Json);
const uids = new Set(boards.map((b) => b.uid as string));

const panelsOf = (b: Json) => (b.panels as Json[]).filter((p) => p.type !== 'row');
const targetsOf = (p: Json) => (p.targets as Json[] | undefined) ?? [];
const isClickHouse = (p: Json) => (p.datasource as Json).type === CLICKHOUSE_PLUGIN_ID;
const variablesOf = (b: Json) => ((b.templating as Json).list as Json[] | undefined) ?? [];

/** Every URL of a board: header links, panel links, data links in field overrides. */
function urlsOf(b: Json): string[] {
  const urls = (b.links as Json[]).map((l) => l.url as string);
  for (const p of panelsOf(b)) {
    for (const l of (p.links as Json[] | undefined) ?? []) urls.push(l.url as string);
    for (const o of ((p.fieldConfig as Json).overrides as Json[]) ?? []) {
      for (const prop of o.properties as Json[]) if (prop.id === 'links') for (const l of prop.value as Json[]) urls.push(l.url as string);
    }
  }
  return urls;
}

const RMT_TABLES = 'requests|usage_hourly|capacity_hourly|statements|alerts|alert_events|resource_samples|gpu_samples';

describe('the generated boards', () => {
  it('are the five boards of SPEC §8 with stable uids, deterministic output', () => {
    expect([...uids].sort()).toEqual(Object.values(BOARD_UIDS).sort());
    expect(generateDashboardFiles()).toEqual(generateDashboardFiles());
    expect(BOARDS.map((b) => buildBoard(b).uid)).toEqual([...uids]);
  });

  describe.each(boards.map((b) => [b.title as string, b] as const))('%s', (_title, b) => {
    const panels = panelsOf(b);

    it('has at least 8 panels, unique ids, unique titles', () => {
      expect(panels.length).toBeGreaterThanOrEqual(8);
      const ids = (b.panels as Json[]).map((p) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      const titles = panels.map((p) => p.title);
      expect(new Set(titles).size).toBe(titles.length);
    });

    it.each(panels.map((p) => [p.title as string, p] as const))('panel "%s" has a description, a unit, thresholds and a datasource', (_t, p) => {
      expect((p.description as string).length).toBeGreaterThan(20);
      const defaults = (p.fieldConfig as Json).defaults as Json;
      expect(defaults.unit).toMatch(/^\w+$/);
      const steps = (defaults.thresholds as Json).steps as Json[];
      expect(steps[0]).toMatchObject({ value: null });
      expect([CLICKHOUSE_DS, PROMETHEUS_DS]).toContainEqual(p.datasource);
      expect(targetsOf(p).length).toBeGreaterThan(0);
      for (const t of targetsOf(p)) expect(t.datasource).toEqual(p.datasource);
    });

    it('links only to boards that exist, and to every other board', () => {
      for (const url of urlsOf(b)) expect(uids.has(url.match(/^\/d\/([\w-]+)/)?.[1] ?? ''), url).toBe(true);
      const header = new Set((b.links as Json[]).map((l) => (l.url as string).slice(3)));
      expect(header).toEqual(new Set([...uids].filter((u) => u !== b.uid)));
    });

    it('ClickHouse targets use the plugin v4 SQL query model, shaped for their panel', () => {
      for (const p of panels.filter(isClickHouse)) {
        const [t, ...more] = targetsOf(p);
        expect(more).toEqual([]);
        const series = p.type === 'timeseries';
        expect(t).toMatchObject({ editorType: 'sql', pluginVersion: '4.0.0', queryType: series ? 'timeseries' : 'table', format: series ? 0 : 1, refId: 'A' });
      }
    });

    it('ClickHouse panel SQL reads replacing tables with FINAL and is bounded by the time range', () => {
      for (const p of panels.filter(isClickHouse)) {
        const sql = targetsOf(p)[0]!.rawSql as string;
        expect(sql, p.title as string).not.toMatch(new RegExp(`\\bFROM\\s+(${RMT_TABLES})\\b(?!\\s+FINAL)`));
        expect(sql, p.title as string).toMatch(/\$__timeFilter\(|\$__fromTime|\$__toTime/);
      }
    });

    it('variables reach ClickHouse only quoted, multi-value ones only inside $__conditionalAll', () => {
      const vars = variablesOf(b);
      const all = vars.map((v) => ({ name: v.name as string, current: [ALL_VALUE], options: [] }));
      const sqls = [...vars.map((v) => v.query as string), ...panels.filter(isClickHouse).map((p) => targetsOf(p)[0]!.rawSql as string)];
      for (const sql of sqls) {
        const outside = applyConditionalAll(sql, all);
        for (const v of vars) {
          const uses = [...outside.matchAll(new RegExp(`\\$\\{?${v.name as string}\\b[^}\\s,)]*\\}?`, 'g'))].map((m) => m[0]);
          if (v.multi) expect(uses, `${v.name as string} outside $__conditionalAll`).toEqual([]);
          else for (const use of uses) expect(use).toBe(`\${${v.name as string}:singlequote}`);
        }
      }
    });

    it('ClickHouse variables refresh with the time range and never accept free text', () => {
      for (const v of variablesOf(b)) {
        expect(v).toMatchObject({ type: 'query', datasource: CLICKHOUSE_DS, refresh: 2, allowCustomValue: false });
        expect(v.query).toMatch(/^SELECT /);
        if (v.multi) expect(v).toMatchObject({ includeAll: true, allValue: '.*', current: { value: [ALL_VALUE] } });
      }
    });
  });
});
