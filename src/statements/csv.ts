/**
 * RFC 4180 CSV that is safe to open in a spreadsheet. Tenant and model names are chosen by
 * operators and tenants, so a cell such as `=HYPERLINK(...)` must never reach Excel as a formula.
 *
 * Neutralization follows OWASP "CSV Injection": a cell starting with `=`, `+`, `-`, `@`, tab or CR is
 * prefixed with a single quote. That includes negative numbers ("-1.500000" → "'-1.500000"): OWASP
 * prefixes them too, because a leading `-` is enough for a spreadsheet to start a formula
 * (`-2+3+cmd|...`), and telling a harmless number from a formula is exactly what spreadsheets get
 * wrong. The cost is that such a cell reads as text; machine consumers should use JSON.
 *
 * `keepPlainNumbers` exists for FOCUS only: FOCUS numeric columns must hold nothing but the number
 * (NumericFormat), and a cell that is entirely a plain decimal (`-?digits[.digits]`) cannot carry a
 * formula, so there the number stays as it is while every other cell is still neutralized.
 */

const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;
const PLAIN_DECIMAL = /^-?\d+(?:\.\d+)?$/;

export interface CsvOptions {
  keepPlainNumbers?: boolean;
}

export function csvCell(value: string, options: CsvOptions = {}): string {
  const keep = options.keepPlainNumbers === true && PLAIN_DECIMAL.test(value);
  const safe = FORMULA_START.test(value) && !keep ? `'${value}` : value;
  return NEEDS_QUOTES.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/** Records joined with CRLF, the last one terminated too (RFC 4180 allows either; one choice, always). */
export function csvDocument(records: readonly (readonly string[])[], options: CsvOptions = {}): string {
  return records.map((cells) => cells.map((c) => csvCell(c, options)).join(',')).join('\r\n') + '\r\n';
}
