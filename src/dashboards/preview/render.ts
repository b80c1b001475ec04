/**
 * A static preview of a Grafana board: one self-contained HTML page (no scripts, no external CSS,
 * charts as inline SVG), laid out by the panels' gridPos, from query results already fetched.
 * `scripts/render-previews.ts` fills it from the real app and screenshots it with headless
 * Chromium. Pure: no I/O here.
 */

export interface ResultColumn {
  name: string;
  type: string;
}

export interface QueryResult {
  meta: ResultColumn[];
  data: Array<Record<string, unknown>>;
}

export interface GridPos {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface PanelView {
  title: string;
  /** Grafana panel type: row, timeseries, stat, table, bargauge. */
  type: string;
  gridPos: GridPos;
  unit: string;
  /** Per-column units (fieldConfig.overrides byName → unit). */
  columnUnits: Record<string, string>;
  source: 'clickhouse' | 'prometheus' | 'none';
  /** One result per target (ClickHouse), or a result computed from /metrics (Prometheus). */
  results: QueryResult[];
  /** Shown instead of data: a query error, or why a Prometheus panel is not drawn. */
  note?: string;
  /** A small tag in the panel's header, e.g. "from /metrics". */
  tag?: string;
}

export interface BoardView {
  uid: string;
  title: string;
  subtitle: string;
  panels: PanelView[];
}

export const PAGE_WIDTH = 1600;
const PAD = 16;
const HEADER = 64;
const ROW_UNIT = 34;
const GAP = 6;
const COLORS = ['#73BF69', '#F2CC0C', '#8AB8FF', '#FF780A', '#F2495C', '#5794F2', '#B877D9', '#96D98D', '#FFB357', '#CA95E5'];

const NUMERIC = /^(Nullable\()?(U?Int\d+|Float\d+|Decimal)/;
const TIME = /^(Nullable\()?DateTime/;

export const isNumericType = (type: string): boolean => NUMERIC.test(type);

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** ClickHouse JSON times ("YYYY-MM-DD hh:mm:ss[.fff]", UTC here) to epoch ms. */
export function parseTime(v: unknown): number {
  return Date.parse(`${String(v).replace(' ', 'T')}Z`);
}

function num(v: unknown): number | null {
  if (v === null || v === undefined || v === '') return null;
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : null;
}

function trimNumber(n: number, digits: number): string {
  if (n === 0) return '0';
  const abs = Math.abs(n);
  const d = abs >= 100 ? Math.min(digits, 1) : abs >= 10 ? Math.min(digits, 2) : abs >= 1 ? digits : digits + 1;
  return Number(n.toFixed(Math.min(d, 6))).toString();
}

function si(n: number, suffix: string): string {
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${trimNumber(n / 1e9, 2)} B${suffix}`;
  if (abs >= 1e6) return `${trimNumber(n / 1e6, 2)} M${suffix}`;
  if (abs >= 1e3) return `${trimNumber(n / 1e3, 2)} K${suffix}`;
  if (abs > 0 && abs < 0.01) return `${Number(n.toPrecision(2))}${suffix ? ` ${suffix}` : ''}`;
  return `${trimNumber(n, 2)}${suffix ? ` ${suffix}` : ''}`;
}

function seconds(n: number): string {
  const abs = Math.abs(n);
  if (abs === 0) return '0 s';
  if (abs < 1e-3) return `${trimNumber(n * 1e6, 1)} µs`;
  if (abs < 1) return `${trimNumber(n * 1e3, 1)} ms`;
  if (abs < 120) return `${trimNumber(n, 2)} s`;
  if (abs < 7200) return `${trimNumber(n / 60, 1)} min`;
  return `${trimNumber(n / 3600, 1)} h`;
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${trimNumber(v, 1)} ${units[i]}`;
}

/** A value as Grafana would print it for the common units the boards use. */
export function formatValue(value: unknown, unit: string): string {
  if (unit === 'dateTimeAsIso') return String(value ?? '');
  const n = num(value);
  if (n === null) return value === null || value === undefined ? '–' : String(value);
  switch (unit) {
    case 'currencyUSD':
      if (n !== 0 && Math.abs(n) < 0.01) return `$${Number(n.toPrecision(2))}`;
      return `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: Math.abs(n) < 1 && n !== 0 ? 4 : 2 })}`;
    case 'percentunit':
      return `${trimNumber(n * 100, 1)}%`;
    case 'percent':
      return `${trimNumber(n, 1)}%`;
    case 's':
      return seconds(n);
    case 'ms':
      return seconds(n / 1000);
    case 'h':
      return n < 1 ? seconds(n * 3600) : `${trimNumber(n, 2)} h`;
    case 'bytes':
      return bytes(n);
    case 'watt':
      return `${trimNumber(n, 1)} W`;
    case 'reqps':
      return si(n, 'req/s');
    case 'ops':
      return si(n, 'ops/s');
    default:
      return si(n, '');
  }
}

const unitOf = (p: PanelView, column: string): string => p.columnUnits[column] ?? p.unit;

// ---------------------------------------------------------------------------------------------
// Time series: Grafana turns a long frame (time, labels…, values…) into one series per value
// column and label combination.

export interface Series {
  name: string;
  unit: string;
  points: Array<[number, number]>;
}

export function toSeries(result: QueryResult, panel: PanelView): Series[] {
  const [timeCol, ...rest] = result.meta;
  if (!timeCol || !TIME.test(timeCol.type)) return [];
  const labels = rest.filter((c) => !isNumericType(c.type));
  const values = rest.filter((c) => isNumericType(c.type));
  const byName = new Map<string, Series>();
  for (const row of result.data) {
    const t = parseTime(row[timeCol.name]);
    const labelText = labels.map((c) => String(row[c.name])).join(' ');
    for (const v of values) {
      const y = num(row[v.name]);
      if (y === null) continue;
      const name = labelText === '' ? v.name : values.length === 1 ? labelText : `${v.name} ${labelText}`;
      let s = byName.get(name);
      if (!s) byName.set(name, (s = { name, unit: unitOf(panel, v.name), points: [] }));
      s.points.push([t, y]);
    }
  }
  return [...byName.values()];
}

function niceStep(span: number, ticks: number): number {
  const raw = span / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

const hhmmss = (t: number): string => new Date(t).toISOString().slice(11, 19);
const hhmm = (t: number): string => new Date(t).toISOString().slice(11, 16);

export function lineChartSvg(series: Series[], width: number, height: number): string {
  const left = 74;
  const right = 12;
  const top = 8;
  const bottom = 22;
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return '';
  const unit = series[0]!.unit;
  let tMin = Math.min(...all.map((p) => p[0]));
  let tMax = Math.max(...all.map((p) => p[0]));
  const times = [...new Set(all.map((p) => p[0]))].sort((a, b) => a - b);
  // One timestamp (an hourly rollup with an hour of data): show the hour around it.
  const step = times.length > 1 ? Math.min(...times.slice(1).map((t, i) => t - times[i]!)) : 3_600_000;
  tMin -= step / 2;
  tMax += step / 2;
  const label = tMax - tMin > 20 * 60_000 ? hhmm : hhmmss;
  let yMax = Math.max(0, ...all.map((p) => p[1]));
  const yMin = Math.min(0, ...all.map((p) => p[1]));
  if (yMax === yMin) yMax = yMin + 1;
  const yStep = niceStep(yMax - yMin, 4);
  yMax = Math.ceil(yMax / yStep) * yStep;
  const w = width - left - right;
  const h = height - top - bottom;
  const x = (t: number) => left + ((t - tMin) / (tMax - tMin)) * w;
  const y = (v: number) => top + h - ((v - yMin) / (yMax - yMin)) * h;
  const parts: string[] = [];
  for (let v = yMin; v <= yMax + yStep / 2; v += yStep) {
    parts.push(`<line x1="${left}" x2="${left + w}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#2c3038"/>`);
    parts.push(`<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${escapeHtml(formatValue(v, unit))}</text>`);
  }
  const xTicks = Math.max(2, Math.min(6, Math.floor(w / 150)));
  for (let i = 0; i <= xTicks; i++) {
    const t = tMin + ((tMax - tMin) * i) / xTicks;
    const anchor = i === 0 ? 'start' : i === xTicks ? 'end' : 'middle';
    parts.push(`<text x="${x(t).toFixed(1)}" y="${height - 6}" text-anchor="${anchor}">${label(t)}</text>`);
  }
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    if (pts.length > 1) {
      const d = pts.map((p, j) => `${j === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
      parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    }
    if (pts.length <= 24) for (const p of pts) parts.push(`<circle cx="${x(p[0]).toFixed(1)}" cy="${y(p[1]).toFixed(1)}" r="3" fill="${color}"/>`);
  });
  return `<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-size="11" fill="#9fa7b3">${parts.join('')}</svg>`;
}

// ---------------------------------------------------------------------------------------------

function timeseriesBody(p: PanelView, w: number, h: number): string {
  const series = p.results.flatMap((r) => toSeries(r, p));
  if (series.length === 0) return empty('No data');
  const legendRows = Math.ceil(series.length / Math.max(1, Math.floor(w / 190)));
  const legendH = Math.min(legendRows, 3) * 16 + 4;
  const legend = series
    .map((s, i) => `<span class="lg"><i style="background:${COLORS[i % COLORS.length]}"></i>${escapeHtml(s.name)}</span>`)
    .join('');
  return `${lineChartSvg(series, w, h - legendH)}<div class="legend" style="height:${legendH}px">${legend}</div>`;
}

function statBody(p: PanelView, w: number, h: number): string {
  const cells: Array<{ name: string; text: string }> = [];
  for (const r of p.results) {
    const row = r.data[r.data.length - 1];
    for (const c of r.meta) {
      if (!isNumericType(c.type)) continue;
      cells.push({ name: c.name, text: row === undefined ? 'No data' : formatValue(row[c.name], unitOf(p, c.name)) });
    }
  }
  if (cells.length === 0) return empty('No data');
  const cellW = w / cells.length;
  const size = Math.max(16, Math.min(48, h * 0.42, (cellW / Math.max(...cells.map((c) => c.text.length), 3)) * 1.5));
  const showNames = cells.length > 1;
  return `<div class="stat">${cells
    .map(
      (c, i) =>
        `<div class="sv">${showNames ? `<div class="sn">${escapeHtml(c.name)}</div>` : ''}<div class="sb" style="font-size:${size.toFixed(0)}px;color:${COLORS[i % COLORS.length]}">${escapeHtml(c.text)}</div></div>`,
    )
    .join('')}</div>`;
}

export const TABLE_ROWS = 8;

function tableBody(p: PanelView, h: number): string {
  const r = p.results[0];
  if (!r || r.data.length === 0) return empty('No data');
  const fit = Math.max(1, Math.floor((h - 26) / 22));
  const rows = r.data.slice(0, Math.min(TABLE_ROWS, fit));
  const more = r.data.length - rows.length;
  const head = r.meta.map((c) => `<th class="${isNumericType(c.type) ? 'n' : ''}">${escapeHtml(c.name)}</th>`).join('');
  const body = rows
    .map(
      (row) =>
        `<tr>${r.meta
          .map((c) =>
            isNumericType(c.type)
              ? `<td class="n">${escapeHtml(formatValue(row[c.name], unitOf(p, c.name)))}</td>`
              : `<td>${escapeHtml(String(row[c.name] ?? ''))}</td>`,
          )
          .join('')}</tr>`,
    )
    .join('');
  const footer = more > 0 ? `<div class="more">+ ${more} more row${more === 1 ? '' : 's'}</div>` : '';
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>${footer}`;
}

function bargaugeBody(p: PanelView, h: number): string {
  const bars: Array<{ label: string; value: number; unit: string }> = [];
  for (const r of p.results) {
    const labels = r.meta.filter((c) => !isNumericType(c.type));
    const values = r.meta.filter((c) => isNumericType(c.type));
    for (const row of r.data) {
      const label = labels.map((c) => String(row[c.name])).join(' ');
      for (const v of values) {
        const n = num(row[v.name]);
        if (n === null) continue;
        bars.push({ label: values.length > 1 ? `${label} ${v.name}`.trim() : label || v.name, value: n, unit: unitOf(p, v.name) });
      }
    }
  }
  if (bars.length === 0) return empty('No data');
  const max = p.unit === 'percentunit' ? 1 : Math.max(...bars.map((b) => Math.abs(b.value)), 1e-12);
  const fit = Math.max(1, Math.floor(h / 26));
  const shown = bars.slice(0, fit);
  const barH = Math.max(12, Math.min(30, h / shown.length - 10));
  return `<div class="bars">${shown
    .map(
      (b, i) =>
        `<div class="bar"><div class="bl">${escapeHtml(b.label)}</div><div class="bt" style="height:${barH.toFixed(0)}px"><div class="bf" style="width:${(b.value <= 0 ? 0 : Math.max(0.5, Math.min(100, (b.value / max) * 100))).toFixed(1)}%;background:${COLORS[i % COLORS.length]}"></div></div><div class="bv">${escapeHtml(formatValue(b.value, b.unit))}</div></div>`,
    )
    .join('')}${bars.length > shown.length ? `<div class="more">+ ${bars.length - shown.length} more</div>` : ''}</div>`;
}

const empty = (text: string): string => `<div class="empty">${escapeHtml(text)}</div>`;

export function pageHeight(board: BoardView): number {
  const bottom = Math.max(0, ...board.panels.map((p) => p.gridPos.y + p.gridPos.h));
  return HEADER + bottom * ROW_UNIT + PAD * 2;
}

export function renderBoardHtml(board: BoardView): string {
  const colW = (PAGE_WIDTH - PAD * 2) / 24;
  const panels = board.panels.map((p) => {
    const left = PAD + p.gridPos.x * colW;
    const top = HEADER + p.gridPos.y * ROW_UNIT;
    const width = p.gridPos.w * colW - GAP;
    const height = p.gridPos.h * ROW_UNIT - GAP;
    const style = `left:${left.toFixed(1)}px;top:${top}px;width:${width.toFixed(1)}px;height:${height}px`;
    if (p.type === 'row') return `<div class="row" style="${style}">▾ ${escapeHtml(p.title)}</div>`;
    const innerW = Math.floor(width - 16);
    const innerH = height - 34;
    let body: string;
    if (p.note !== undefined && p.results.length === 0) body = `<div class="note">${escapeHtml(p.note)}</div>`;
    else if (p.type === 'timeseries') body = timeseriesBody(p, innerW, innerH);
    else if (p.type === 'stat') body = statBody(p, innerW, innerH);
    else if (p.type === 'table') body = tableBody(p, innerH);
    else if (p.type === 'bargauge') body = bargaugeBody(p, innerH);
    else body = empty(`(${p.type} panel not previewed)`);
    const tag = p.tag ? `<span class="tag ${p.source}">${escapeHtml(p.tag)}</span>` : '';
    return `<div class="panel ${p.source}" style="${style}"><div class="pt">${escapeHtml(p.title)}${tag}</div><div class="pb" style="height:${innerH}px">${body}</div></div>`;
  });
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(board.title)}</title><style>${CSS}</style></head>
<body style="height:${pageHeight(board)}px"><div class="hd"><b>${escapeHtml(board.title)}</b><span>${escapeHtml(board.subtitle)}</span></div>${panels.join('')}</body></html>`;
}

const CSS = `
*{box-sizing:border-box}
body{margin:0;background:#111217;color:#ccccdc;font:13px/1.3 "DejaVu Sans","Liberation Sans",Arial,sans-serif;position:relative;width:${PAGE_WIDTH}px;overflow:hidden}
.hd{position:absolute;left:${PAD}px;top:14px;right:${PAD}px;display:flex;gap:18px;align-items:baseline}
.hd b{font-size:20px;color:#e6e6f0}.hd span{color:#8e95a3;font-size:12px}
.row{position:absolute;font-weight:bold;font-size:14px;color:#e6e6f0;padding-top:8px;border-bottom:1px solid #2a2d33}
.panel{position:absolute;background:#181b1f;border:1px solid #2a2d33;border-radius:3px;overflow:hidden}
.pt{height:30px;padding:7px 8px 0;font-weight:600;font-size:13px;color:#e6e6f0;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.tag{margin-left:8px;font-weight:normal;font-size:10px;padding:1px 5px;border-radius:2px;background:#2b2540;color:#c7b8f5}
.pb{padding:0 8px;overflow:hidden;position:relative}
.empty,.note{display:flex;align-items:center;justify-content:center;height:100%;color:#8e95a3;text-align:center;padding:0 12px;font-size:12px}
.note{white-space:pre-line;border:1px dashed #3b3f47;border-radius:3px;background:#15171b;color:#a9a1c9}
.legend{display:flex;flex-wrap:wrap;gap:0 14px;font-size:11px;color:#b4b9c3;overflow:hidden;padding-top:2px}
.lg{display:inline-flex;align-items:center;gap:5px;white-space:nowrap}.lg i{display:inline-block;width:12px;height:3px;border-radius:1px}
.stat{display:flex;height:100%;align-items:center;justify-content:space-around;gap:8px}
.sv{text-align:center;min-width:0}.sn{font-size:12px;color:#9fa7b3}.sb{font-weight:600;white-space:nowrap}
table{border-collapse:collapse;width:100%;font-size:12px}
th{text-align:left;color:#6e9fff;font-weight:600;border-bottom:1px solid #2a2d33;padding:3px 6px;white-space:nowrap}
td{padding:3px 6px;border-bottom:1px solid #202329;white-space:nowrap;max-width:300px;overflow:hidden;text-overflow:ellipsis}
.n{text-align:right}
.more{color:#8e95a3;font-size:11px;padding:3px 6px}
.bars{display:flex;flex-direction:column;justify-content:space-around;height:100%;padding:2px 0}
.bar{display:flex;align-items:center;gap:8px}
.bl{width:30%;font-size:12px;color:#b4b9c3;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;text-align:right}
.bt{flex:1;background:#22252b;border-radius:2px;overflow:hidden}.bf{height:100%}
.bv{width:90px;font-weight:600;font-size:13px;color:#e6e6f0;white-space:nowrap}
`;
