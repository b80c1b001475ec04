import { divRound, formatMoney, formatRate, MICROS_PER_UNIT, parseMoney, sumMicros, type Micros, type Rate } from '../money/money.ts';
import { METERS, versionAt, type Meter, type MeterPrice, type PlanVersion } from '../pricing/price-book.ts';
import type { Adjustment, AdjustmentLine, MeteredHour, RateStatementInput, Statement, StatementLine } from './types.ts';
import { baseQuantity, formatInstant, METER_UNITS, periodBounds, quantityNumber, toBaseUnits, type MeterUnit } from './units.ts';

/**
 * Rating: a tenant's hourly usage for one month → statement lines, exactly.
 *
 *  1. Only usage hours inside the period count: [first instant of the month UTC, first instant of
 *     the next month). Rows of the same (hour, model) are summed first.
 *  2. Each meter is rated on its own. Its hours are processed chronologically, ties by model name
 *     (code-unit order, not locale order, so every machine agrees), through two counters that run
 *     over the whole period: `used` (priced quantity so far, the tier position) and `free`
 *     (allowance consumed so far). A price change splits the period at its effective instant: each
 *     hour is priced by the version in force at that hour, and both counters carry over.
 *  3. The allowance (`included`) of the version in force is consumed first: while `free` is below
 *     it, usage is free. Free usage still occupies tier positions: tier bounds count all usage in
 *     the period, free or not (as a free tier does on a graduated price list), so `included` does
 *     not shift the bands. A version with a larger allowance frees the difference; a smaller one
 *     frees nothing more.
 *  4. Graduated tiers: a tier's unit price applies to the quantity whose position falls in its band
 *     [previous up_to, up_to); a flat price is one band [0, ∞) reported as tier 0. An hour that
 *     crosses a bound is split there exactly, in integer base units.
 *  5. Lines are keyed by (model, meter, tier, plan version): quantity = Σ that model's usage in the
 *     band, included_quantity = its free part, amount = divRound((quantity − included) × unit
 *     price, scale × 1e6) in base units: rounded once per line, nowhere else. Zero-quantity lines
 *     do not exist; a line wholly covered by the allowance has amount 0.000000.
 *  6. Hours before the plan's first version, and meters a version does not price, produce no lines
 *     and do not move the counters (there is no price to place them on).
 *  7. subtotal = Σ line amounts; adjustments_total = Σ adjustments; total = subtotal +
 *     adjustments_total. All sums are of integers.
 *  8. Lines are ordered by model, meter (METERS order), price_effective_from, tier.
 */

interface Band {
  tier: number;
  lower: bigint;
  /** Exclusive; undefined for the open-ended last band. */
  upper: bigint | undefined;
  rate: Rate;
}

/** A line before rendering: exact base quantities and Micros. */
export interface RatedLine {
  model: string;
  meter: Meter;
  tier: number;
  effectiveFrom: number;
  rate: Rate;
  quantity: bigint;
  included: bigint;
  amount: Micros;
}

type Accumulator = Omit<RatedLine, 'amount'>;

const maxBig = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const minBig = (a: bigint, b: bigint): bigint => (a < b ? a : b);
const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function bandsOf(price: MeterPrice, unit: MeterUnit): Band[] {
  if (!price.tiers) return [{ tier: 0, lower: 0n, upper: undefined, rate: price.unit_price ?? 0n }];
  let lower = 0n;
  return price.tiers.map((t, i) => {
    const upper = t.up_to === undefined ? undefined : toBaseUnits(t.up_to, unit);
    const band = { tier: i + 1, lower, upper, rate: t.unit_price };
    if (upper !== undefined) lower = upper;
    return band;
  });
}

/** Rows summed per (hour, model) and sorted by hour then model: the rating order of rule 2. */
function chronological(usage: readonly MeteredHour[], start: number, end: number): MeteredHour[] {
  const byKey = new Map<string, MeteredHour>();
  for (const row of usage) {
    if (row.hour < start || row.hour >= end) continue;
    const key = JSON.stringify([row.hour, row.model]);
    const prev = byKey.get(key);
    byKey.set(key, prev ? {
      ...prev,
      requests: prev.requests + row.requests,
      inputTokens: prev.inputTokens + row.inputTokens,
      outputTokens: prev.outputTokens + row.outputTokens,
      cpuUs: prev.cpuUs + row.cpuUs,
      gpuUs: prev.gpuUs + row.gpuUs,
    } : { ...row });
  }
  return [...byKey.values()].sort((a, b) => a.hour - b.hour || compareText(a.model, b.model));
}

/** Rules 2–6 for one meter: the hours, in rating order, into accumulated lines. */
function rateMeter(meter: Meter, hours: readonly MeteredHour[], versions: readonly PlanVersion[]): Accumulator[] {
  const unit = METER_UNITS[meter];
  const lines = new Map<string, Accumulator>();
  let used = 0n;
  let free = 0n;
  for (const row of hours) {
    const qty = baseQuantity(row, meter);
    if (qty < 0n) throw new RangeError(`negative ${meter} for ${row.model} at ${formatInstant(row.hour)}`);
    const version = versionAt(versions, row.hour);
    const price = version?.meters[meter];
    if (!version || !price || qty === 0n) continue;
    const freeHere = minBig(qty, maxBig(0n, toBaseUnits(price.included, unit) - free));
    const [from, to, freeTo] = [used, used + qty, used + freeHere];
    for (const band of bandsOf(price, unit)) {
      const lo = maxBig(from, band.lower);
      const hi = band.upper === undefined ? to : minBig(to, band.upper);
      if (hi <= lo) continue;
      const key = JSON.stringify([row.model, version.effective_from, band.tier]);
      const acc = lines.get(key) ?? { model: row.model, meter, tier: band.tier, effectiveFrom: version.effective_from, rate: band.rate, quantity: 0n, included: 0n };
      acc.quantity += hi - lo;
      acc.included += maxBig(0n, minBig(hi, freeTo) - lo);
      lines.set(key, acc);
    }
    used = to;
    free += freeHere;
  }
  return [...lines.values()];
}

const amountOf = (acc: Accumulator): Micros =>
  divRound((acc.quantity - acc.included) * acc.rate, METER_UNITS[acc.meter].scale * MICROS_PER_UNIT);

const lineOrder = (a: RatedLine, b: RatedLine): number =>
  compareText(a.model, b.model) ||
  METERS.indexOf(a.meter) - METERS.indexOf(b.meter) ||
  a.effectiveFrom - b.effectiveFrom ||
  a.tier - b.tier;

/** Rules 1–6 and 8: exact lines, not yet rendered. */
export function rateLines(usage: readonly MeteredHour[], versions: readonly PlanVersion[], period: string): RatedLine[] {
  const { start, end } = periodBounds(period);
  const sortedVersions = [...versions].sort((a, b) => a.effective_from - b.effective_from);
  const hours = chronological(usage, start, end);
  return METERS.flatMap((meter) => rateMeter(meter, hours, sortedVersions))
    .map((acc) => ({ ...acc, amount: amountOf(acc) }))
    .sort(lineOrder);
}

export function renderLine(line: RatedLine): StatementLine {
  const unit = METER_UNITS[line.meter];
  return {
    model: line.model,
    meter: line.meter,
    tier: line.tier,
    price_effective_from: formatInstant(line.effectiveFrom),
    quantity: quantityNumber(line.quantity, unit),
    unit: unit.unit,
    unit_price: formatRate(line.rate),
    amount: formatMoney(line.amount),
    included_quantity: quantityNumber(line.included, unit),
  };
}

export const renderAdjustment = (a: Adjustment): AdjustmentLine => ({
  period: a.period,
  model: a.model,
  meter: a.meter,
  amount: formatMoney(a.amount),
  description: a.description,
});

/** An AdjustmentLine (e.g. from diffForAdjustments or storage) as rateStatement takes it. */
export const toAdjustment = (a: AdjustmentLine): Adjustment => ({ ...a, amount: parseMoney(a.amount) });

/** A tenant's statement for one month: rules 1–8, rendered with money as decimal strings. */
export function rateStatement(input: RateStatementInput): Statement {
  const { start, end } = periodBounds(input.period);
  const lines = rateLines(input.usage, input.planVersions, input.period);
  const subtotal = sumMicros(lines.map((l) => l.amount));
  const adjustmentsTotal = sumMicros(input.adjustments.map((a) => a.amount));
  return {
    tenant: input.tenant,
    period: input.period,
    period_start: formatInstant(start),
    period_end: formatInstant(end),
    currency: input.currency,
    plan: input.plan,
    status: input.status,
    generated_at: formatInstant(input.generatedAt),
    lines: lines.map(renderLine),
    subtotal: formatMoney(subtotal),
    adjustments: input.adjustments.map(renderAdjustment),
    adjustments_total: formatMoney(adjustmentsTotal),
    total: formatMoney(subtotal + adjustmentsTotal),
  };
}

function amountsByModelMeter(entries: Iterable<{ model: string; meter: string; amount: string }>, sign: 1n | -1n, into: Map<string, Micros>): void {
  for (const e of entries) {
    const key = JSON.stringify([e.model, e.meter]);
    into.set(key, (into.get(key) ?? 0n) + sign * parseMoney(e.amount));
  }
}

const meterRank = (meter: string): number => {
  const i = METERS.indexOf(meter as Meter);
  return i < 0 ? METERS.length : i;
};

/**
 * A closed period is frozen (SPEC §5): late data never rewrites the issued statement. This is what
 * the next period carries instead: per (model, meter), recomputed − issued − what earlier
 * adjustments for that period already carried; only non-zero differences, ordered by model, meter.
 */
export function diffForAdjustments(issued: Statement, recomputed: Statement, alreadyAdjusted: readonly AdjustmentLine[]): AdjustmentLine[] {
  if (issued.tenant !== recomputed.tenant || issued.period !== recomputed.period || issued.currency !== recomputed.currency) {
    throw new RangeError('diffForAdjustments: both statements must be for the same tenant, period and currency');
  }
  const diff = new Map<string, Micros>();
  amountsByModelMeter(recomputed.lines, 1n, diff);
  amountsByModelMeter(issued.lines, -1n, diff);
  amountsByModelMeter(alreadyAdjusted.filter((a) => a.period === issued.period), -1n, diff);
  return [...diff.entries()]
    .filter(([, amount]) => amount !== 0n)
    .map(([key, amount]) => {
      const [model, meter] = JSON.parse(key) as [string, string];
      return { period: issued.period, model, meter, amount: formatMoney(amount), description: `late usage for ${issued.period}` };
    })
    .sort((a, b) => compareText(a.model, b.model) || meterRank(a.meter) - meterRank(b.meter) || compareText(a.meter, b.meter));
}
