import fc from 'fast-check';
import type { UsageRecord } from '../../src/attribution/usage-table.ts';
import type { CapacityHour } from '../../src/attribution/types.ts';
import type { CapacityPrices } from '../../src/pricing/price-book.ts';

const HOUR = 3_600_000;

/** A bigint in [0, max], 0 often (zero rows are an edge case of their own). */
export const upTo = (max: bigint) => fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max }));
/** Up to $5 per unit-hour at 1e-12, with arbitrary low digits so rounding is exercised. */
export const rate = upTo(5_000_000_000_000n);

/**
 * Random rollup rows and capacity price versions for the attribution engine's property tests:
 * several instances over `hours` whole hours from `start`, duplicate and zero rows, usage up to
 * ~4× an 8-core hour (so clamping to capacity happens often), price versions before and inside
 * the range. Usage rows carry request and token counts too, for list revenue.
 */
export function attributionArbitraries(start: number, hours: number) {
  const hour = fc.integer({ min: 0, max: hours - 1 }).map((i) => start + i * HOUR);
  const capacityRow: fc.Arbitrary<CapacityHour> = fc.record({
    instanceId: fc.constantFrom('i1', 'i2', 'i3'),
    hour,
    cpuMillicoreMs: upTo(8_000n * 3_600_000n),
    memoryByteMs: upTo((64n << 30n) * 3_600_000n),
    memoryUsedByteMs: upTo((80n << 30n) * 3_600_000n),
    gpuModel: fc.constantFrom('', 'H100', 'A10G', 'L4'),
    gpuMs: upTo(4n * 3_600_000n),
  });
  const usageRow: fc.Arbitrary<UsageRecord> = fc.record({
    tenantId: fc.constantFrom('a', 'b', 'c', 'gold-1'),
    instanceId: fc.constantFrom('i1', 'i2', 'i3', 'i4'),
    hour,
    model: fc.constantFrom('m1', 'm2', 'M0'),
    modelVariant: fc.constantFrom('v1', 'v2'),
    requests: upTo(100_000n),
    inputTokens: upTo(5_000_000n),
    outputTokens: upTo(5_000_000n),
    cpuUs: upTo(120_000_000_000n),
    gpuUs: upTo(60_000_000_000n),
  });
  const priceVersion: fc.Arbitrary<CapacityPrices> = fc.record({
    effective_from: fc.integer({ min: -4, max: hours + 4 }).map((i) => start + i * HOUR),
    vcpu_hour: rate,
    memory_gib_hour: rate,
    gpu_hour: fc.dictionary(fc.constantFrom('H100', 'A10G', 'default'), rate, { maxKeys: 3 }),
    overhead_hour: rate,
  });
  return { hour, capacityRow, usageRow, priceVersion };
}
