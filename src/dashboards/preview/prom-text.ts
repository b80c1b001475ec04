import type { QueryResult } from './render.ts';

/**
 * Just enough PromQL for the previews' instant panels, evaluated on one scrape of the app's own
 * `/metrics` text (what Prometheus would hold right now): `sum(m{…})`, `… or vector(0)`,
 * `sum by (l…) (m{…})` and `1 - max by (l…) (m{…})`, with `=`, `!=`, `=~`, `!~` matchers.
 * Anything else (rates, histogram quantiles: they need history) returns undefined.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

function selector(text: string): ((s: Sample) => boolean) | undefined {
  const m = /^\s*([a-zA-Z_:][\w:]*)\s*(?:\{([^}]*)\})?\s*$/.exec(text);
  if (!m) return undefined;
  const name = m[1]!;
  const matchers = [...(m[2] ?? '').matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g)].map((x) => ({ label: x[1]!, op: x[2]!, value: x[3]! }));
  return (s) =>
    s.name === name &&
    matchers.every(({ label, op, value }) => {
      const v = s.labels[label] ?? '';
      if (op === '=') return v === value;
      if (op === '!=') return v !== value;
      const re = new RegExp(`^(?:${value})$`);
      return op === '=~' ? re.test(v) : !re.test(v);
    });
}

export function evalInstant(expr: string, samples: readonly Sample[]): QueryResult | undefined {
  let e = expr.trim();
  const orZero = / or vector\(0\)$/.test(e);
  if (orZero) e = e.replace(/ or vector\(0\)$/, '');
  const oneMinus = e.startsWith('1 - ');
  if (oneMinus) e = e.slice(4);
  const m = /^(sum|max)(?:\s+by\s*\(([^)]*)\))?\s*\((.*)\)$/.exec(e);
  if (!m) return undefined;
  const match = selector(m[3]!);
  if (!match) return undefined;
  const by = (m[2] ?? '').split(',').map((l) => l.trim()).filter((l) => l !== '');
  const groups = new Map<string, { labels: string[]; value: number }>();
  for (const s of samples.filter(match)) {
    const labels = by.map((l) => s.labels[l] ?? '');
    const key = JSON.stringify(labels);
    const g = groups.get(key);
    if (!g) groups.set(key, { labels, value: s.value });
    else g.value = m[1] === 'sum' ? g.value + s.value : Math.max(g.value, s.value);
  }
  if (groups.size === 0 && orZero && by.length === 0) groups.set('[]', { labels: [], value: 0 });
  const meta = [...by.map((l) => ({ name: l, type: 'String' })), { name: 'Value', type: 'Float64' }];
  const data = [...groups.values()]
    .sort((a, b) => a.labels.join('\0').localeCompare(b.labels.join('\0')))
    .map((g) => ({ ...Object.fromEntries(by.map((l, i) => [l, g.labels[i]])), Value: oneMinus ? 1 - g.value : g.value }));
  return { meta, data };
}
