import type { Meter } from './price-book.ts';

/**
 * How each meter is measured (base unit, integer) and priced (pricing unit). Quantities travel in
 * base units as bigint; a price is per pricing unit, so amount = base × price / scale.
 */
export const METER_UNITS: Readonly<Record<Meter, { unit: string; baseUnitsPerPricingUnit: bigint }>> = {
  requests: { unit: 'request', baseUnitsPerPricingUnit: 1n },
  input_tokens: { unit: '1k tokens', baseUnitsPerPricingUnit: 1000n },
  output_tokens: { unit: '1k tokens', baseUnitsPerPricingUnit: 1000n },
  cpu_seconds: { unit: 'second', baseUnitsPerPricingUnit: 1_000_000n }, // measured in µs
  gpu_seconds: { unit: 'second', baseUnitsPerPricingUnit: 1_000_000n }, // measured in µs
};

/** Base-unit quantities of one usage row, by meter. */
export interface MeterQuantities {
  requests: bigint;
  inputTokens: bigint;
  outputTokens: bigint;
  cpuUs: bigint;
  gpuUs: bigint;
}

export function quantityOf(q: MeterQuantities, meter: Meter): bigint {
  switch (meter) {
    case 'requests':
      return q.requests;
    case 'input_tokens':
      return q.inputTokens;
    case 'output_tokens':
      return q.outputTokens;
    case 'cpu_seconds':
      return q.cpuUs;
    case 'gpu_seconds':
      return q.gpuUs;
  }
}
