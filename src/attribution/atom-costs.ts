import { MICROS_PER_UNIT, RATE_SCALE, apportion, divRound, type Micros, type Rate } from '../money/money.ts';
import type { CapacityPrices } from '../pricing/price-book.ts';
import type { CapacityHour, ResourceCosts } from './types.ts';

/**
 * Prices one atom (instance, hour): what it held, what its tenants used, and the idle rest.
 * Each resource amount is rounded exactly once here (divRound); everything downstream of this
 * file only adds and splits exact micros, which is what lets conservation hold to the micro.
 */

/** Rates are 1e-12 of the currency, amounts 1e-6: dividing by this turns rate units into micros. */
const RATE_TO_MICROS = RATE_SCALE / MICROS_PER_UNIT;
const MS_PER_HOUR = 3_600_000n;
const US_PER_HOUR = 3_600_000_000n;
const MILLICORES_PER_CORE = 1000n;
const BYTES_PER_GIB = 1n << 30n;

const CPU_HELD_DIVISOR = MILLICORES_PER_CORE * MS_PER_HOUR * RATE_TO_MICROS;
const MEMORY_DIVISOR = BYTES_PER_GIB * MS_PER_HOUR * RATE_TO_MICROS;
const GPU_HELD_DIVISOR = MS_PER_HOUR * RATE_TO_MICROS;
const USED_US_DIVISOR = US_PER_HOUR * RATE_TO_MICROS;

/** A tenant's usage of one model variant on the atom (duplicate rows already merged). */
export interface UsageLine {
  tenantId: string;
  model: string;
  modelVariant: string;
  cpuUs: bigint;
  gpuUs: bigint;
  /** At least one of the line's rows served a request (see UsageHour.requests). */
  served?: boolean;
}

export interface PricedAtom {
  capacity: ResourceCosts;
  idle: ResourceCosts;
  /** Usage cost of each line, index-aligned with the `lines` argument. */
  lines: ResourceCosts[];
  /**
   * Usage value of each line before rounding to micros (in 1e-12 of the currency): the weights of
   * the proportional idle policy, so tenants whose usage is worth less than a micro per hour
   * still carry their true proportion instead of a rounded zero.
   */
  weights: bigint[];
}

export const ZERO_COSTS: Readonly<ResourceCosts> = Object.freeze({ cpu: 0n, memory: 0n, gpu: 0n });

export const totalOf = (c: ResourceCosts): Micros => c.cpu + c.memory + c.gpu;

/** Overhead of one hour in micros: the hourly rate, rounded once. */
export const overheadMicros = (prices: CapacityPrices): Micros => divRound(prices.overhead_hour, RATE_TO_MICROS);

/**
 * GPU price by model, else `default`, else free. Own keys only: a model named like an
 * Object.prototype member ("constructor") must not pick up a function as its price.
 */
export function gpuRate(prices: CapacityPrices, model: string): Rate {
  const table = prices.gpu_hour;
  if (Object.hasOwn(table, model)) return table[model] ?? 0n;
  if (Object.hasOwn(table, 'default')) return table['default'] ?? 0n;
  return 0n;
}

const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);

interface Held {
  cpuMillicoreMs: bigint;
  memoryByteMs: bigint;
  memoryUsedByteMs: bigint;
  gpuMs: bigint;
  /** Σ gpuMs × rate of the row's model: an instance should report one model, but if its rows
   * disagree, each is priced by its own and usage pays the GPU-time-weighted average rate. */
  gpuRateMs: bigint;
}

function sumHeld(rows: readonly CapacityHour[], prices: CapacityPrices): Held {
  const held: Held = { cpuMillicoreMs: 0n, memoryByteMs: 0n, memoryUsedByteMs: 0n, gpuMs: 0n, gpuRateMs: 0n };
  for (const r of rows) {
    held.cpuMillicoreMs += r.cpuMillicoreMs;
    held.memoryByteMs += r.memoryByteMs;
    held.memoryUsedByteMs += r.memoryUsedByteMs;
    held.gpuMs += r.gpuMs;
    held.gpuRateMs += r.gpuMs * gpuRate(prices, r.gpuModel);
  }
  return held;
}

function heldCost(held: Held, prices: CapacityPrices): ResourceCosts {
  return {
    cpu: divRound(held.cpuMillicoreMs * prices.vcpu_hour, CPU_HELD_DIVISOR),
    memory: divRound(held.memoryByteMs * prices.memory_gib_hour, MEMORY_DIVISOR),
    gpu: divRound(held.gpuRateMs, GPU_HELD_DIVISOR),
  };
}

/**
 * Used cost per resource, clamped to what was held: sampling boundaries can make measured use
 * slightly exceed capacity, and a tenant is never charged for more than the instance cost.
 * Memory has no per-request measure, so memory in use counts as used only while some tenant
 * ran CPU on the atom (it is then split by CPU time); otherwise it is idle.
 */
function usedCost(held: Held, capacity: ResourceCosts, cpuUs: bigint, gpuUs: bigint, prices: CapacityPrices): ResourceCosts {
  const cpu = min(capacity.cpu, divRound(cpuUs * prices.vcpu_hour, USED_US_DIVISOR));
  const memory = cpuUs === 0n ? 0n : min(capacity.memory, divRound(held.memoryUsedByteMs * prices.memory_gib_hour, MEMORY_DIVISOR));
  const gpu = held.gpuMs === 0n ? 0n : min(capacity.gpu, divRound(gpuUs * held.gpuRateMs, held.gpuMs * USED_US_DIVISOR));
  return { cpu, memory, gpu };
}

/** A line's CPU and GPU use priced at the rate's own precision (1e-12), unclamped and unrounded. */
function fineUsageValue(held: Held, line: UsageLine, prices: CapacityPrices): bigint {
  const cpu = (line.cpuUs * prices.vcpu_hour) / US_PER_HOUR;
  const gpu = held.gpuMs === 0n ? 0n : (line.gpuUs * held.gpuRateMs) / (held.gpuMs * US_PER_HOUR);
  return cpu + gpu;
}

/** Splits `total` by weights; an all-zero weight vector only ever comes with a zero total. */
function split(total: Micros, weights: readonly bigint[]): Micros[] {
  return apportion(total, weights) ?? weights.map(() => 0n);
}

/** `lines` must already be in a deterministic order: apportion breaks ties by index. */
export function priceAtom(rows: readonly CapacityHour[], lines: readonly UsageLine[], prices: CapacityPrices): PricedAtom {
  const held = sumHeld(rows, prices);
  const capacity = heldCost(held, prices);
  const cpuWeights = lines.map((l) => l.cpuUs);
  const gpuWeights = lines.map((l) => l.gpuUs);
  const cpuUs = cpuWeights.reduce((a, b) => a + b, 0n);
  const gpuUs = gpuWeights.reduce((a, b) => a + b, 0n);
  const used = usedCost(held, capacity, cpuUs, gpuUs, prices);
  const cpuParts = split(used.cpu, cpuWeights);
  const memoryParts = split(used.memory, cpuWeights);
  const gpuParts = split(used.gpu, gpuWeights);
  return {
    capacity,
    idle: { cpu: capacity.cpu - used.cpu, memory: capacity.memory - used.memory, gpu: capacity.gpu - used.gpu },
    lines: lines.map((_, i) => ({ cpu: cpuParts[i] ?? 0n, memory: memoryParts[i] ?? 0n, gpu: gpuParts[i] ?? 0n })),
    weights: lines.map((l) => fineUsageValue(held, l, prices)),
  };
}
