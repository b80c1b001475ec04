import { ratioOf } from './stats.ts';
import type { BenchReport, Metric, SuiteResult } from './types.ts';

/** Pure formatting of results: the table people read and the JSON document runs are compared by. */

/** A metric with its ratio computed from value and baseline. */
export function metric(name: string, value: number | null, unit: string, baseline?: number | null, note?: string): Metric {
  const m: Metric = { name, value, unit };
  if (baseline !== undefined) {
    m.baseline = baseline;
    m.ratio = ratioOf(value, baseline);
  }
  if (note !== undefined) m.note = note;
  return m;
}

/** Up to 4 significant digits, no exponent for ordinary sizes, thousands grouped for big integers. */
export function formatNumber(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  const abs = Math.abs(n);
  if (abs >= 1000) return Math.round(n).toLocaleString('en-US');
  if (abs >= 1) return String(Number(n.toPrecision(4)));
  if (abs === 0) return '0';
  return String(Number(n.toPrecision(3)));
}

const withUnit = (n: number | null | undefined, unit: string) => (n === null || n === undefined ? '-' : unit ? `${formatNumber(n)} ${unit}` : formatNumber(n));

const formatRatio = (r: number | null | undefined) => (r === null || r === undefined ? '-' : `${formatNumber(Number(r.toPrecision(3)))}x`);

export const TABLE_HEADER = ['suite', 'metric', 'value', 'baseline', 'ratio'] as const;

/** Rows of the table: one per metric; a skipped or failed suite gets one row saying why, an ok one with a reason a note. */
export function tableRows(suites: readonly SuiteResult[]): string[][] {
  const rows: string[][] = [];
  for (const s of suites) {
    if (s.status !== 'ok') {
      rows.push([s.name, s.status, s.reason ?? '', '', '']);
      if (s.status === 'skipped') continue;
    }
    for (const m of s.metrics) rows.push([s.name, m.name, withUnit(m.value, m.unit), withUnit(m.baseline, m.unit), formatRatio(m.ratio)]);
    // A suite that ran but left something out says what, under its numbers.
    if (s.status === 'ok' && s.reason) rows.push([s.name, `note: ${s.reason}`, '', '', '']);
  }
  return rows;
}

/** A plain-text table with right-aligned numbers; also valid Markdown (pipes and a rule). */
export function formatTable(suites: readonly SuiteResult[]): string {
  const rows = [[...TABLE_HEADER], ...tableRows(suites)];
  const widths = TABLE_HEADER.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i < 2 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(rows[0]!), rule, ...rows.slice(1).map(line)].join('\n');
}

/** The JSON document: stable key order, durations rounded, everything else as measured. */
export function formatJson(report: BenchReport): string {
  const suites = report.suites.map((s) => ({
    name: s.name,
    status: s.status,
    ...(s.reason === undefined ? {} : { reason: s.reason }),
    duration_s: Math.round(s.durationS * 10) / 10,
    params: s.params,
    metrics: s.metrics,
  }));
  return `${JSON.stringify({ machine: report.machine, started_at: report.started_at, commit: report.commit, options: report.options, suites }, null, 2)}\n`;
}
