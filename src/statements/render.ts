import { csvDocument } from './csv.ts';
import type { AdjustmentLine, Statement, StatementLine } from './types.ts';

/**
 * Statement renderers. Each is a pure function of the Statement and builds its output in a fixed
 * order (never the order of the input object's keys), so the same statement gives the same bytes
 * wherever it came from: freshly rated, read back from storage, or parsed from an API response.
 */

export { FOCUS_COLUMNS, FOCUS_MANDATORY_COLUMNS, renderFocus, type FocusContext } from './focus.ts';

const jsonLine = (l: StatementLine) => ({
  model: l.model,
  meter: l.meter,
  tier: l.tier,
  price_effective_from: l.price_effective_from,
  quantity: l.quantity,
  unit: l.unit,
  unit_price: l.unit_price,
  amount: l.amount,
  included_quantity: l.included_quantity,
});

const jsonAdjustment = (a: AdjustmentLine) => ({
  period: a.period,
  model: a.model,
  meter: a.meter,
  amount: a.amount,
  description: a.description,
});

/** SPEC §7 statement JSON plus period bounds, generation instant and adjustment detail. */
export function renderJson(s: Statement): string {
  const ordered = {
    tenant: s.tenant,
    period: s.period,
    period_start: s.period_start,
    period_end: s.period_end,
    currency: s.currency,
    plan: s.plan,
    status: s.status,
    generated_at: s.generated_at,
    lines: s.lines.map(jsonLine),
    subtotal: s.subtotal,
    adjustments: s.adjustments.map(jsonAdjustment),
    adjustments_total: s.adjustments_total,
    total: s.total,
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

export const CSV_HEADER = [
  'period', 'tenant', 'plan', 'currency', 'model', 'meter', 'tier', 'price_effective_from',
  'quantity', 'unit', 'unit_price', 'included_quantity', 'amount',
] as const;

/**
 * One row per line, then one per adjustment, then subtotal, adjustments_total and total rows.
 * Adjustment rows have no quantity or price, so: `period` is the period the adjustment corrects,
 * `meter` is "adjustment", and `unit` says what it is for ("gpu_seconds: late usage for 2026-10"),
 * which keeps the header fixed and loses nothing. Totals rows name themselves in `meter`.
 */
export function renderCsv(s: Statement): string {
  const lead = (period: string) => [period, s.tenant, s.plan, s.currency];
  const lines = s.lines.map((l) => [
    ...lead(s.period), l.model, l.meter, String(l.tier), l.price_effective_from,
    String(l.quantity), l.unit, l.unit_price, String(l.included_quantity), l.amount,
  ]);
  const adjustments = s.adjustments.map((a) => [
    ...lead(a.period), a.model, 'adjustment', '', '', '', a.meter ? `${a.meter}: ${a.description}` : a.description, '', '', a.amount,
  ]);
  const totals = (['subtotal', 'adjustments_total', 'total'] as const).map((name) => [
    ...lead(s.period), '', name, '', '', '', '', '', '', s[name],
  ]);
  return csvDocument([[...CSV_HEADER], ...lines, ...adjustments, ...totals]);
}
