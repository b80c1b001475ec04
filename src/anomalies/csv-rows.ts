import { parseTimestamp } from './parse-timestamp.ts';

/**
 * Parsing of the `timestamp,value` CSV read by `anomalies detect`, one line at a time so that
 * callers can stream files of any size. A row is either parsed or a reason with its line number.
 */
export interface SeriesRow {
  line: number;
  timestampText: string;
  timestampMs: number;
  /** The value as written, echoed unchanged in the output. */
  valueText: string;
  /** NaN for a missing value ('', NaN, null): the detector scores it 0 and carries on. */
  value: number;
}

export type RowResult = { ok: true; row: SeriesRow } | { ok: false; error: string };

const MISSING = new Set(['', 'nan', 'null', 'na']);
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function checkHeader(line: string): string | undefined {
  const cols = splitFields(line.replace(/^\uFEFF/, '')).map((c) => c.toLowerCase());
  return cols.length === 2 && cols[0] === 'timestamp' && cols[1] === 'value'
    ? undefined
    : `line 1: expected the header "timestamp,value", found "${line.slice(0, 80)}"`;
}

export function parseRow(line: string, lineNumber: number, previousMs: number | undefined): RowResult {
  const [timestampText = '', valueText = '', ...rest] = splitFields(line);
  const fail = (why: string): RowResult => ({ ok: false, error: `line ${lineNumber}: ${why}: "${line.slice(0, 80)}"` });
  if (rest.length > 0 || !line.includes(',')) return fail('expected 2 columns (timestamp,value)');
  const timestampMs = parseTimestamp(timestampText);
  if (timestampMs === undefined) return fail('unparsable timestamp');
  if (previousMs !== undefined && timestampMs < previousMs) return fail('timestamp earlier than the previous row');
  const missing = MISSING.has(valueText.toLowerCase());
  const value = missing ? Number.NaN : Number(valueText);
  // Number() would also read '0x10' and '0b1'; a value in a CSV is a decimal number.
  if (!missing && (!DECIMAL.test(valueText) || !Number.isFinite(value))) return fail('unparsable value');
  return { ok: true, row: { line: lineNumber, timestampText, timestampMs, valueText, value } };
}

function splitFields(line: string): string[] {
  return line.split(',').map((f) => f.trim().replace(/^"(.*)"$/, '$1'));
}
