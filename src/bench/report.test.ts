import { describe, expect, it } from 'vitest';
import { formatJson, formatNumber, formatTable, metric, TABLE_HEADER, tableRows } from './report.ts';
import type { BenchReport, SuiteResult } from './types.ts';

describe('metric', () => {
  it('computes the ratio from value and baseline, and leaves both out without a baseline', () => {
    expect(metric('p50', 3, 'ms', 1.5)).toEqual({ name: 'p50', value: 3, unit: 'ms', baseline: 1.5, ratio: 2 });
    expect(metric('rows', 10, 'rows')).toEqual({ name: 'rows', value: 10, unit: 'rows' });
    expect(metric('p99', 1, 'ticks', 0)).toMatchObject({ baseline: 0, ratio: null });
    expect(metric('x', null, 'ms', 2, 'why')).toEqual({ name: 'x', value: null, unit: 'ms', baseline: 2, ratio: null, note: 'why' });
  });
});

describe('formatNumber', () => {
  it.each([
    [null, '-'],
    [undefined, '-'],
    [0, '0'],
    [1000000, '1,000,000'],
    [12345.678, '12,346'],
    [1.23456, '1.235'],
    [0.0183456, '0.0183'],
    [-2.5, '-2.5'],
    [Number.NaN, 'NaN'],
  ])('%s -> %s', (n, want) => {
    expect(formatNumber(n)).toBe(want);
  });
});

const suites: SuiteResult[] = [
  {
    name: 'fair-sharing',
    status: 'ok',
    params: { ticks: 10 },
    durationS: 0.12,
    metrics: [metric('p99 wait', 2, 'ticks', 1), metric('refusals', 5, 'req')],
  },
  { name: 'ingest', status: 'skipped', reason: 'POST /v1/traces answers 404', params: {}, metrics: [], durationS: 0.01 },
  { name: 'queries', status: 'failed', reason: 'boom', params: {}, metrics: [], durationS: 1 },
  { name: 'memory', status: 'ok', reason: 'left one out', params: {}, metrics: [metric('rss', null, 'MiB', 100)], durationS: 1 },
];

describe('table', () => {
  it('has one row per metric and one saying why for a skipped or failed suite', () => {
    expect(tableRows(suites)).toEqual([
      ['fair-sharing', 'p99 wait', '2 ticks', '1 ticks', '2x'],
      ['fair-sharing', 'refusals', '5 req', '-', '-'],
      ['ingest', 'skipped', 'POST /v1/traces answers 404', '', ''],
      ['queries', 'failed', 'boom', '', ''],
      ['memory', 'rss', '-', '100 MiB', '-'],
      ['memory', 'note: left one out', '', '', ''],
    ]);
  });

  it('is a Markdown table with aligned columns', () => {
    const lines = formatTable(suites).split('\n');
    expect(lines).toHaveLength(2 + 6);
    expect(lines[0]!.split('|').map((c) => c.trim()).filter(Boolean)).toEqual([...TABLE_HEADER]);
    expect(lines[1]).toMatch(/^\|-+\|-+\|-+:\|-+:\|-+:\|$/);
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
  });
});

describe('formatJson', () => {
  it('writes machine, started_at, commit, options and suites with rounded durations', () => {
    const report: BenchReport = {
      machine: { cpus: 2, model: 'cpu', node: 'v20.19.0', platform: 'linux-x64' },
      started_at: '2026-11-27T21:00:00.000Z',
      commit: null,
      options: { suites: 'fair-sharing' },
      suites,
    };
    const doc = JSON.parse(formatJson(report)) as Record<string, unknown> & { suites: Array<Record<string, unknown>> };
    expect(Object.keys(doc)).toEqual(['machine', 'started_at', 'commit', 'options', 'suites']);
    expect(doc.suites[0]).toEqual({
      name: 'fair-sharing',
      status: 'ok',
      duration_s: 0.1,
      params: { ticks: 10 },
      metrics: [
        { name: 'p99 wait', value: 2, unit: 'ticks', baseline: 1, ratio: 2 },
        { name: 'refusals', value: 5, unit: 'req' },
      ],
    });
    expect(doc.suites[1]).toMatchObject({ status: 'skipped', reason: 'POST /v1/traces answers 404', metrics: [] });
  });
});
