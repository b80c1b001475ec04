import { divRound, MICROS_PER_UNIT, RATE_SCALE, type Micros, type Rate } from '../money/money.ts';
import { baseQuantity, METER_UNITS, type MeterQuantities } from './meters.ts';
import { METERS, versionAt, type MeterPrice, type PlanVersion } from './price-book.ts';

/** The list (undiscounted, first-tier) unit price of a meter. */
export function listUnitPrice(price: MeterPrice): Rate {
  return price.unit_price ?? price.tiers?.[0]?.unit_price ?? 0n;
}

const RATE_TO_MICROS = RATE_SCALE / MICROS_PER_UNIT;

/**
 * Revenue at list price for the margin view: quantity × list unit price of the plan version in
 * force at each hour, before allowances and tier discounts (those belong to the statement of a
 * whole billing period, which an arbitrary range is not). Rounded per (hour, meter), so revenue
 * over a range is the exact sum of its hours.
 */
export function listRevenue(planVersions: readonly PlanVersion[], rows: ReadonlyArray<MeterQuantities & { hour: number }>): Micros {
  let total = 0n;
  for (const row of rows) {
    const version = versionAt(planVersions, row.hour);
    if (!version) continue;
    for (const meter of METERS) {
      const price = version.meters[meter];
      const quantity = baseQuantity(row, meter);
      if (!price || quantity === 0n) continue;
      total += divRound(quantity * listUnitPrice(price), METER_UNITS[meter].scale * RATE_TO_MICROS);
    }
  }
  return total;
}
