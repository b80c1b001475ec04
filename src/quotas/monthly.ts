import { formatMoney, parseMoney, type Micros } from '../money/money.ts';
import type { QuotaLimits } from './config.ts';
import type { MonthlyKind } from './types.ts';

/**
 * Monthly quotas (pure): CPU seconds, GPU seconds and spend of a tenant's month so far, compared
 * with its limits. Usage is kept in exact integer units (microseconds, micros of currency) so a
 * limit of 250.00 blocks at 250.000000 and not at 249.9999999 or 250.0000001.
 */

export const MONTHLY_KINDS = ['cpu_seconds_per_month', 'gpu_seconds_per_month', 'spend_per_month'] as const satisfies readonly MonthlyKind[];

/** A tenant's usage of the month so far, as measured in ClickHouse. */
export interface MonthToDate {
  cpuUs: bigint;
  gpuUs: bigint;
  /** The open statement's total; absent when nobody asked (the tenant has no spend limit). */
  spend?: Micros;
}

export interface MonthlyUsage {
  kind: MonthlyKind;
  limit: number | string;
  used: number | string;
  ratio: number;
  exhausted: boolean;
}

const ZERO: MonthToDate = { cpuUs: 0n, gpuUs: 0n, spend: 0n };

/** Seconds from config as exact microseconds (toFixed reads the double's decimal exactly enough). */
export function secondsToMicros(seconds: number): bigint {
  return BigInt(seconds.toFixed(6).replace('.', ''));
}

const microsToSeconds = (us: bigint): number => Number(us) / 1e6;

/** Every configured monthly quota of a tenant with its usage; a tenant absent from usage used nothing. */
export function evaluateMonthly(limits: QuotaLimits, usage: MonthToDate | undefined): MonthlyUsage[] {
  const u = usage ?? ZERO;
  const out: MonthlyUsage[] = [];
  for (const kind of MONTHLY_KINDS) {
    const limit = limits[kind];
    if (limit === undefined) continue;
    out.push(kind === 'spend_per_month' ? spendUsage(String(limit), u.spend ?? 0n) : secondsUsage(kind, Number(limit), kind === 'cpu_seconds_per_month' ? u.cpuUs : u.gpuUs));
  }
  return out;
}

function secondsUsage(kind: MonthlyKind, limit: number, usedUs: bigint): MonthlyUsage {
  const limitUs = secondsToMicros(limit);
  return { kind, limit, used: microsToSeconds(usedUs), ratio: ratioOf(usedUs, limitUs), exhausted: usedUs >= limitUs };
}

function spendUsage(limitText: string, spent: Micros): MonthlyUsage {
  const limit = parseMoney(limitText);
  return { kind: 'spend_per_month', limit: formatMoney(limit), used: formatMoney(spent), ratio: ratioOf(spent, limit), exhausted: spent >= limit };
}

/** used / limit for alert thresholds: a float is fine here, the block decision above is exact. */
function ratioOf(used: bigint, limit: bigint): number {
  return limit <= 0n ? 0 : Number(used) / Number(limit);
}
