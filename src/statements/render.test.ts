import { describe, expect, it } from 'vitest';
import { parseMoney, sumMicros } from '../money/money.ts';
import { CSV_HEADER, renderCsv, renderFocus, renderJson } from './render.ts';
import { adjustment, BEFORE, flat, parseCsv, rate, tiered, usageAt, version } from './test-support.ts';
import type { Statement } from './types.ts';

const versions = [version(BEFORE, { requests: tiered([[100, '0.01'], [undefined, '0.005']], 10), gpu_seconds: flat('0.001') })];
const statement = rate(
  [usageAt(0, 'resnet', { requests: 150n, gpuUs: 2_500_000n }), usageAt(3, 'bert', { requests: 5n })],
  versions,
  [adjustment('-0.250000'), adjustment('1.000000', { period: '2026-10', model: '', meter: '', description: 'goodwill' })],
);

/** The same statement with every object's keys in reverse order, as a store might hand it back. */
function reversedKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(reversedKeys) as T;
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reversedKeys(v)])) as T;
}

const hostile = (s: Statement): Statement => ({
  ...s,
  tenant: '=cmd()',
  plan: '+1',
  lines: s.lines.map((l, i) => ({ ...l, model: ['@x', 'a,"b"\nc', '-1'][i % 3]! })),
});

describe('renderJson', () => {
  it('is byte-identical for the same statement, whatever its key order', () => {
    const json = renderJson(statement);
    expect(renderJson(statement)).toBe(json);
    expect(renderJson(reversedKeys(statement))).toBe(json);
    expect(renderJson(JSON.parse(json) as Statement)).toBe(json);
  });

  it('has the SPEC §7 keys in a fixed order, 2-space indent and a trailing newline', () => {
    const json = renderJson(statement);
    expect(Object.keys(JSON.parse(json) as object)).toEqual([
      'tenant', 'period', 'period_start', 'period_end', 'currency', 'plan', 'status', 'generated_at',
      'lines', 'subtotal', 'adjustments', 'adjustments_total', 'total',
    ]);
    expect(Object.keys((JSON.parse(json) as Statement).lines[0]!)).toEqual([
      'model', 'meter', 'tier', 'price_effective_from', 'quantity', 'unit', 'unit_price', 'amount', 'included_quantity',
    ]);
    expect(json.startsWith('{\n  "tenant": "acme",\n')).toBe(true);
    expect(json.endsWith('}\n')).toBe(true);
  });
});

describe('renderCsv', () => {
  const rows = parseCsv(renderCsv(statement));

  it('is byte-identical for the same statement, whatever its key order', () => {
    expect(renderCsv(reversedKeys(statement))).toBe(renderCsv(statement));
  });

  it('has the header, one row per line, per adjustment, then the totals', () => {
    expect(rows[0]).toEqual([...CSV_HEADER]);
    expect(rows.map((r) => r[5])).toEqual(['meter', 'requests', 'requests', 'requests', 'gpu_seconds', 'adjustment', 'adjustment', 'subtotal', 'adjustments_total', 'total']);
    // bert's hour comes after resnet's 150 requests, so it lands in tier 2 and gets no allowance.
    expect(rows[1]).toEqual(['2026-10', 'acme', 'standard', 'USD', 'bert', 'requests', '2', '2026-01-01T00:00:00Z', '5', 'request', '0.005', '0', '0.025000']);
    expect(rows[2]).toEqual(['2026-10', 'acme', 'standard', 'USD', 'resnet', 'requests', '1', '2026-01-01T00:00:00Z', '100', 'request', '0.01', '10', '0.900000']);
    expect(rows.at(-1)).toEqual(['2026-10', 'acme', 'standard', 'USD', '', 'total', '', '', '', '', '', '', statement.total]);
  });

  it('neutralizes negative amounts and says what an adjustment is for', () => {
    const adj = rows.find((r) => r[5] === 'adjustment')!;
    expect(adj).toEqual(['2026-09', 'acme', 'standard', 'USD', 'resnet', 'adjustment', '', '', '', 'requests: late usage for 2026-09', '', '', "'-0.250000"]);
  });

  it('neutralizes formulas and quotes commas, quotes and newlines in names', () => {
    const csv = renderCsv(hostile(statement));
    const parsed = parseCsv(csv);
    expect(parsed[1]!.slice(0, 5)).toEqual(['2026-10', "'=cmd()", "'+1", 'USD', "'@x"]);
    expect(parsed.map((r) => r[4])).toContain('a,"b"\nc');
    expect(parsed.map((r) => r[4])).toContain("'-1");
    for (const cell of parsed.flat()) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
    expect(csv).toContain('"a,""b""\nc"');
  });
});

describe('sums across formats', () => {
  it('FOCUS BilledCost adds up to the statement total', () => {
    const ctx = { providerName: 'p', publisherName: 'p', invoiceIssuerName: 'p', billingAccountId: 'b', billingAccountName: 'b', serviceName: 's', serviceCategory: 'AI and Machine Learning' } as const;
    const [header, ...rows] = parseCsv(renderFocus(statement, ctx));
    const billed = header!.indexOf('BilledCost');
    expect(sumMicros(rows.map((r) => parseMoney(r[billed]!)))).toBe(parseMoney(statement.total));
  });
});
