import type { Micros } from '../money/money.ts';
import type { Meter, PlanVersion } from '../pricing/price-book.ts';

/**
 * Types of the statement engine. Inputs carry exact integers (bigint base units, Micros); the
 * rendered `Statement` carries money as decimal strings (SPEC §7) so that a statement read back from
 * storage or an API response is the same value that was rendered, byte for byte.
 */

/** One tenant's usage of one model during one UTC hour, in base integer units. */
export interface MeteredHour {
  /** Hour start, epoch ms (UTC). */
  hour: number;
  model: string;
  requests: bigint;
  inputTokens: bigint;
  outputTokens: bigint;
  /** CPU time in microseconds. */
  cpuUs: bigint;
  /** GPU time in microseconds. */
  gpuUs: bigint;
}

export type StatementStatus = 'open' | 'issued';

export type { PricingUnitLabel } from '../pricing/meters.ts';
import type { PricingUnitLabel } from '../pricing/meters.ts';

export interface StatementLine {
  model: string;
  meter: Meter;
  /** 1-based tier index, or 0 for a flat unit price. */
  tier: number;
  /** RFC 3339 instant the plan version that priced this line took effect. */
  price_effective_from: string;
  /** In the pricing unit: requests, 1k tokens (up to 3 decimals) or seconds (up to 6 decimals). */
  quantity: number;
  unit: PricingUnitLabel;
  /** Price per pricing unit (formatRate). */
  unit_price: string;
  /** formatMoney: (quantity - included_quantity) × unit_price, rounded once. */
  amount: string;
  /** Part of `quantity` covered by the plan's allowance (free). */
  included_quantity: number;
}

/** A rendered adjustment: money as a decimal string. */
export interface AdjustmentLine {
  /** The period ('YYYY-MM') the adjustment corrects; another period than the statement's is a correction. */
  period: string;
  model: string;
  meter: string;
  amount: string;
  description: string;
}

/** An adjustment as the engine takes it: exact Micros, positive charges more, negative credits. */
export interface Adjustment {
  period: string;
  model: string;
  meter: string;
  amount: Micros;
  description: string;
}

export interface Statement {
  tenant: string;
  /** 'YYYY-MM' (UTC month). */
  period: string;
  /** RFC 3339, inclusive. */
  period_start: string;
  /** RFC 3339, exclusive (first instant of the next month). */
  period_end: string;
  currency: string;
  plan: string;
  status: StatementStatus;
  generated_at: string;
  lines: StatementLine[];
  subtotal: string;
  adjustments: AdjustmentLine[];
  adjustments_total: string;
  total: string;
}

export interface RateStatementInput {
  tenant: string;
  period: string;
  plan: string;
  /** The plan's versions (any order; the engine sorts a copy by effective_from). */
  planVersions: readonly PlanVersion[];
  currency: string;
  usage: readonly MeteredHour[];
  adjustments: readonly Adjustment[];
  status: StatementStatus;
  /** Epoch ms; passed in so that the same request renders the same bytes. */
  generatedAt: number;
}
