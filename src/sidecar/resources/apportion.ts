/**
 * Integer largest-remainder apportionment, done in exact arithmetic.
 *
 * Weights are arbitrary positive doubles (e.g. batch × parameter count, or a FLOP estimate).
 * Floating-point quotas can floor to a sum that exceeds the total by one, which would break
 * conservation, so every weight is converted to an exact integer (a double is m × 2^e) and
 * the quotas are computed with bigint.
 */

import { AppError } from '../../errors.ts';

export interface Share {
  readonly id: string;
  readonly weight: number;
}

/**
 * Splits `total` (a non-negative safe integer) among `shares` in proportion to weight:
 * 1. each share gets floor(total × w / Σw);
 * 2. the units left over (fewer than the number of shares) go one each to the shares with
 *    the largest remainders, ties broken by ascending id (code-unit order, locale-free).
 * The result sums to `total` exactly, each part is within 1 of its exact quota, and the
 * outcome does not depend on the order of `shares`. Ids must be unique.
 */
export function apportion(total: number, shares: readonly Share[]): Map<string, number> {
  if (!Number.isSafeInteger(total) || total < 0) {
    throw misuse(`apportion: total must be a non-negative safe integer, got ${total}`);
  }
  const result = new Map<string, number>();
  if (shares.length === 0) {
    if (total !== 0) throw misuse(`apportion: cannot split ${total} among no shares`);
    return result;
  }
  for (const s of shares) {
    if (!(Number.isFinite(s.weight) && s.weight > 0)) {
      throw misuse(`apportion: weight of '${s.id}' must be a finite number > 0, got ${s.weight}`);
    }
    if (result.has(s.id)) throw misuse(`apportion: duplicate id '${s.id}'`);
    result.set(s.id, 0);
  }
  if (total === 0) return result;
  if (shares.length === 1) return result.set(shares[0]!.id, total);

  const scaled = toExactIntegers(shares.map((s) => s.weight));
  const sum = scaled.reduce((a, b) => a + b, 0n);
  const big = BigInt(total);
  const parts = shares.map((s, i) => {
    const numerator = big * scaled[i]!;
    return { id: s.id, floor: numerator / sum, remainder: numerator % sum };
  });

  let left = big;
  for (const p of parts) left -= p.floor;
  parts.sort((a, b) => (a.remainder === b.remainder ? compareIds(a.id, b.id) : a.remainder > b.remainder ? -1 : 1));
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    // `left` < parts.length by construction, so this hands out at most one extra unit each.
    result.set(p.id, Number(p.floor + (BigInt(i) < left ? 1n : 0n)));
  }
  return result;
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Scales positive finite doubles by a common power of two so that all become exact integers. */
function toExactIntegers(values: readonly number[]): bigint[] {
  const parts = values.map(decomposeDouble);
  const minExp = Math.min(...parts.map((p) => p.exp));
  return parts.map((p) => p.mantissa << BigInt(p.exp - minExp));
}

/** Returns mantissa and exponent with value === mantissa × 2^exp exactly (value > 0, finite). */
function decomposeDouble(value: number): { mantissa: bigint; exp: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const biasedExp = (hi >>> 20) & 0x7ff;
  const fraction = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (biasedExp === 0) return { mantissa: fraction, exp: -1074 }; // subnormal: no implicit bit
  return { mantissa: fraction | (1n << 52n), exp: biasedExp - 1075 };
}

function misuse(message: string): AppError {
  return new AppError('internal', message, { code: 'apportion_misuse' });
}
