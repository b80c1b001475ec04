import type { Meter } from './price-book.ts';

/**
 * How each meter is measured and priced. Quantities are counted in base integer units (requests,
 * tokens, microseconds) so splitting at a tier bound is exact; a price is per pricing unit, so
 * amount = base × price / scale.
 */

export type PricingUnitLabel = 'request' | '1k tokens' | 'second';

/** Base-unit quantities of one usage row, by meter. */
export interface MeterQuantities {
  requests: bigint;
  inputTokens: bigint;
  outputTokens: bigint;
  cpuUs: bigint;
  gpuUs: bigint;
}

export interface MeterUnit {
  /** Base units per pricing unit: 1 request, 1000 tokens, 1e6 µs per second. */
  scale: bigint;
  /** log10(scale): decimals a quantity in the pricing unit can have. */
  digits: number;
  unit: PricingUnitLabel;
  /** Where the base quantity sits in MeterQuantities. */
  field: keyof MeterQuantities;
}

export const METER_UNITS: Readonly<Record<Meter, MeterUnit>> = {
  requests: { scale: 1n, digits: 0, unit: 'request', field: 'requests' },
  input_tokens: { scale: 1_000n, digits: 3, unit: '1k tokens', field: 'inputTokens' },
  output_tokens: { scale: 1_000n, digits: 3, unit: '1k tokens', field: 'outputTokens' },
  cpu_seconds: { scale: 1_000_000n, digits: 6, unit: 'second', field: 'cpuUs' },
  gpu_seconds: { scale: 1_000_000n, digits: 6, unit: 'second', field: 'gpuUs' },
};

export const baseQuantity = (q: MeterQuantities, meter: Meter): bigint => q[METER_UNITS[meter].field];
