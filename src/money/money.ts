/**
 * Exact money, in integers. Amounts are `Micros` (1e-6 of the currency unit, bigint): every sum,
 * split and comparison is exact and never touches floating point. Unit prices need more
 * precision than amounts ($0.0000025 per request), so they are `Rate`s at 1e-12.
 * Rounding happens in exactly one place (`divRound`, half-to-even), where a rational amount becomes
 * an amount of micros; from then on values only add up or split (`apportion`), both exact.
 */

export type Micros = bigint;
export type Rate = bigint;

export const MICROS_PER_UNIT = 1_000_000n;
export const RATE_SCALE = 1_000_000_000_000n;
const RATE_DIGITS = 12;
const MICRO_DIGITS = 6;

const DECIMAL = /^(-)?(\d{1,18})(?:\.(\d+))?$/;

function parseScaled(text: string, digits: number, what: string): bigint {
  const m = DECIMAL.exec(text.trim());
  if (!m) throw new RangeError(`${what}: "${text}" is not a decimal number`);
  const [, sign, whole, frac = ''] = m;
  if (frac.length > digits && /[1-9]/.test(frac.slice(digits))) {
    throw new RangeError(`${what}: "${text}" has more than ${digits} decimal places`);
  }
  const value = BigInt(whole!) * 10n ** BigInt(digits) + BigInt((frac.slice(0, digits) || '0').padEnd(digits, '0'));
  return sign ? -value : value;
}

function formatScaled(value: bigint, digits: number): string {
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const scale = 10n ** BigInt(digits);
  const whole = abs / scale;
  const frac = (abs % scale).toString().padStart(digits, '0');
  return `${negative ? '-' : ''}${whole}.${frac}`;
}

/** "12.345678" -> 12345678n; more than 6 significant decimals is an error, never a silent round. */
export const parseMoney = (text: string): Micros => parseScaled(text, MICRO_DIGITS, 'amount');
/** Always six decimals ("0.000000"), so equal amounts are equal strings. */
export const formatMoney = (micros: Micros): string => formatScaled(micros, MICRO_DIGITS);

/** A unit price with up to 12 decimals. */
export const parseRate = (text: string): Rate => parseScaled(text, RATE_DIGITS, 'price');
/** A unit price for display: 12 decimals with trailing zeros trimmed (at least 2 kept). */
export function formatRate(rate: Rate): string {
  const full = formatScaled(rate, RATE_DIGITS);
  return full.replace(/(\.\d{2}\d*?)0+$/, '$1');
}

/** n / d rounded half to even (banker's rounding: no bias over many lines). d > 0. */
export function divRound(n: bigint, d: bigint): bigint {
  if (d <= 0n) throw new RangeError('divRound: divisor must be positive');
  const q = n / d;
  const r = n % d;
  const twice = 2n * (r < 0n ? -r : r);
  if (twice < d) return q;
  if (twice > d) return n < 0n ? q - 1n : q + 1n;
  const away = n < 0n ? q - 1n : q + 1n;
  return q % 2n === 0n ? q : away;
}

/**
 * Splits `total` into parts proportional to `weights`, exactly: Σ parts === total. Largest
 * remainder method, ties to the lower index, so the result is deterministic. All weights zero
 * (or none): undefined, the caller decides where the total goes.
 */
export function apportion(total: bigint, weights: readonly bigint[]): bigint[] | undefined {
  if (total < 0n) throw new RangeError('apportion: total must be non-negative');
  const sum = weights.reduce((a, w) => {
    if (w < 0n) throw new RangeError('apportion: weights must be non-negative');
    return a + w;
  }, 0n);
  if (sum === 0n) return undefined;
  const parts = weights.map((w) => (total * w) / sum);
  let left = total - parts.reduce((a, p) => a + p, 0n);
  const order = weights
    .map((w, i) => ({ i, rem: (total * w) % sum }))
    .sort((a, b) => (a.rem === b.rem ? a.i - b.i : a.rem > b.rem ? -1 : 1));
  for (const { i } of order) {
    if (left === 0n) break;
    parts[i]! += 1n;
    left -= 1n;
  }
  return parts;
}

export const sumMicros = (values: Iterable<Micros>): Micros => {
  let s = 0n;
  for (const v of values) s += v;
  return s;
};
