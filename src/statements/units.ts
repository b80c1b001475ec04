
/**
 * Units, periods and instants for statements. Quantities are counted in base integer units
 * (requests, tokens, microseconds) so that splitting an hour at a tier bound is exact; they become
 * numbers only for display, through a decimal string, so 0.1 s shows as 0.1 and not 0.1000000001.
 */

export { METER_UNITS, baseQuantity, type MeterUnit } from '../pricing/meters.ts';
import type { MeterUnit } from '../pricing/meters.ts';

/**
 * A config number in the pricing unit (an allowance, a tier bound) as base units. toFixed works on
 * the double's exact value, so any decimal written with at most `digits` decimals comes back exactly;
 * finer fractions (below one base unit) are dropped, as no usage can fall into them.
 */
export function toBaseUnits(value: number, unit: MeterUnit): bigint {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`quantity ${value} must be a finite non-negative number`);
  if (value >= 1e21) return BigInt(value) * unit.scale; // toFixed switches to exponent notation here
  const fixed = value.toFixed(unit.digits + 1); // one guard digit, then truncate (floor)
  return BigInt(fixed.replace('.', '')) / 10n;
}

/** Base units as an exact decimal string in the pricing unit, trailing zeros trimmed ("1.5", "3"). */
export function formatQuantity(base: bigint, unit: MeterUnit): string {
  const negative = base < 0n;
  const abs = negative ? -base : base;
  const whole = abs / unit.scale;
  const frac = (abs % unit.scale).toString().padStart(unit.digits, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}

/** For display only (SPEC §7: quantities are numbers); one rounding from an exact decimal. */
export const quantityNumber = (base: bigint, unit: MeterUnit): number => Number(formatQuantity(base, unit));

/** Inverse of quantityNumber for values it produced: exact, since they have at most `digits` decimals. */
export const quantityToBase = (quantity: number, unit: MeterUnit): bigint => toBaseUnits(quantity, unit);

const PERIOD = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** 'YYYY-MM' → [first instant of the month, first instant of the next month), epoch ms, UTC. */
export function periodBounds(period: string): { start: number; end: number } {
  const m = PERIOD.exec(period);
  if (!m) throw new RangeError(`period "${period}" is not a month in the form YYYY-MM`);
  const year = Number(m[1]);
  const month = Number(m[2]) - 1;
  // Date.UTC reads years 0–99 as 1900–1999: set the year apart so '0026-11' is not 1926.
  const at = (y: number, mo: number) => new Date(Date.UTC(2000, mo, 1)).setUTCFullYear(y + Math.floor(mo / 12), mo % 12, 1);
  return { start: at(year, month), end: at(year, month + 1) };
}

/**
 * RFC 3339 UTC without fractional seconds ('YYYY-MM-DDTHH:MM:SSZ'): the FOCUS date/time format, and
 * one spelling per instant so equal instants are equal strings. Sub-second precision is dropped.
 */
export function formatInstant(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}
