import { describe, expect, it } from 'vitest';
import { formatMoney, parseRate } from '../money/money.ts';
import type { CapacityPrices, IdlePolicy } from '../pricing/price-book.ts';
import { attributeCosts, attributeCostsByHour } from './attribute-costs.ts';
import type { AttributionInput, AttributionResult, CapacityHour, UsageHour } from './types.ts';

const HOUR = 3_600_000;
const H0 = Date.UTC(2025, 0, 1);
const at = (h: number) => H0 + h * HOUR;
const GIB = 1n << 30n;
const HOUR_MS = 3_600_000n;

function price(hour: number, p: { vcpu?: string; mem?: string; gpu?: Record<string, string>; overhead?: string }): CapacityPrices {
  return {
    effective_from: at(hour),
    vcpu_hour: parseRate(p.vcpu ?? '0'),
    memory_gib_hour: parseRate(p.mem ?? '0'),
    gpu_hour: Object.fromEntries(Object.entries(p.gpu ?? {}).map(([k, v]) => [k, parseRate(v)])),
    overhead_hour: parseRate(p.overhead ?? '0'),
  };
}

const cap = (instanceId: string, hour: number, o: Partial<CapacityHour> = {}): CapacityHour => ({
  instanceId, hour: at(hour), cpuMillicoreMs: 0n, memoryByteMs: 0n, memoryUsedByteMs: 0n, gpuModel: '', gpuMs: 0n, ...o,
});
const use = (tenantId: string, instanceId: string, hour: number, o: Partial<UsageHour> = {}): UsageHour => ({
  tenantId, instanceId, hour: at(hour), model: 'm', modelVariant: 'v1', cpuUs: 0n, gpuUs: 0n, ...o,
});

/** The JSON-visible amounts, as strings, so expectations read like a statement. */
function view(r: AttributionResult) {
  return {
    capacity: formatMoney(r.capacityCost),
    overhead: formatMoney(r.overheadCost),
    idle: formatMoney(r.idleCost),
    unallocated: formatMoney(r.unallocatedIdle),
    tenants: Object.fromEntries(
      r.tenants.map((t) => [t.tenantId, [t.usageCost, t.idleShare, t.overheadShare, t.totalCost].map(formatMoney).join(' ')]),
    ),
    holds: r.conservation.holds,
  };
}

/**
 * Ground truth, by hand. One instance, 2 vCPU (2000 millicores) for exactly one hour:
 *   cpuMillicoreMs = 2000 × 3,600,000 = 7,200,000,000 (= 7,200 core-seconds available).
 *   capacity = 2 vCPU × 1 h × $0.036 = $0.072. Memory is priced 0. Overhead $0.010/h.
 * A used 2,700 CPU-seconds, B 900 (A = 3 × B):
 *   A = 2700/3600 h × $0.036 = $0.027, B = 900/3600 × $0.036 = $0.009, idle = 0.072 − 0.036 = $0.036.
 * proportional: idle 0.036 split 3:1 → A 0.027, B 0.009; overhead 0.010 → 0.0075 / 0.0025.
 *   A = 0.027 + 0.027 + 0.0075 = 0.0615, B = 0.009 + 0.009 + 0.0025 = 0.0205; Σ 0.082 = 0.072 + 0.010.
 * even: idle 0.018 each, overhead 0.005 each → A 0.050, B 0.032.
 * none: A 0.027, B 0.009, unallocated 0.036 + 0.010 = 0.046.
 * (Usage, idle share, overhead share, total per tenant.)
 */
const groundTruth = (idlePolicy: IdlePolicy): AttributionInput => ({
  from: at(0),
  to: at(1),
  now: at(1),
  capacity: [cap('i1', 0, { cpuMillicoreMs: 2000n * HOUR_MS, memoryByteMs: 4n * GIB * HOUR_MS })],
  usage: [use('A', 'i1', 0, { cpuUs: 2_700_000_000n }), use('B', 'i1', 0, { cpuUs: 900_000_000n })],
  prices: [price(-24, { vcpu: '0.036', mem: '0', overhead: '0.010' })],
  idlePolicy,
});

describe('attributeCosts: ground truth', () => {
  it.each<[IdlePolicy, string, Record<string, string>]>([
    ['proportional', '0.000000', { A: '0.027000 0.027000 0.007500 0.061500', B: '0.009000 0.009000 0.002500 0.020500' }],
    ['even', '0.000000', { A: '0.027000 0.018000 0.005000 0.050000', B: '0.009000 0.018000 0.005000 0.032000' }],
    ['none', '0.046000', { A: '0.027000 0.000000 0.000000 0.027000', B: '0.009000 0.000000 0.000000 0.009000' }],
  ])('%s', (policy, unallocated, tenants) => {
    const r = attributeCosts(groundTruth(policy));
    expect(view(r)).toEqual({ capacity: '0.072000', overhead: '0.010000', idle: '0.036000', unallocated, tenants, holds: true });
    expect(r.capacityByResource).toEqual({ cpu: 72_000n, memory: 0n, gpu: 0n });
    expect(r.conservation.difference).toBe(0n);
  });

  it('even: a tenant whose every request was refused that hour (a row with 0 served) takes no share', () => {
    const input = groundTruth('even');
    const refusedOnly = use('C', 'i1', 0, { requests: 0n });
    const r = attributeCosts({ ...input, usage: [...input.usage, refusedOnly] });
    // As without C: A and B split idle and overhead evenly; C costs nothing.
    expect(view(r).tenants).toEqual({ A: '0.027000 0.018000 0.005000 0.050000', B: '0.009000 0.018000 0.005000 0.032000', C: '0.000000 0.000000 0.000000 0.000000' });
    expect(r.conservation.holds).toBe(true);
    // One served request on any of its rows that hour makes it active again.
    const served = attributeCosts({ ...input, usage: [...input.usage, refusedOnly, use('C', 'i1', 0, { requests: 1n, model: 'm2' })] });
    expect(formatMoney(served.tenants.find((t) => t.tenantId === 'C')!.idleShare)).toBe('0.012000');
  });

  it('charges memory in use by CPU time and leaves the rest idle', () => {
    // 4 GiB held for 1 h at $0.005/GiB-h = $0.020; 2 GiB in use = $0.010, split 3:1 by CPU → 0.0075 / 0.0025.
    const input = groundTruth('none');
    const capacity = [cap('i1', 0, { cpuMillicoreMs: 2000n * HOUR_MS, memoryByteMs: 4n * GIB * HOUR_MS, memoryUsedByteMs: 2n * GIB * HOUR_MS })];
    const r = attributeCosts({ ...input, capacity, prices: [price(0, { vcpu: '0.036', mem: '0.005' })] });
    expect(r.capacityByResource).toEqual({ cpu: 72_000n, memory: 20_000n, gpu: 0n });
    expect(r.idleByResource).toEqual({ cpu: 36_000n, memory: 10_000n, gpu: 0n });
    expect(r.tenants.map((t) => t.usageByResource.memory)).toEqual([7_500n, 2_500n]);
    // With no CPU time on the atom nobody can be said to hold the memory: all of it is idle.
    const quiet = attributeCosts({ ...input, capacity, usage: [use('A', 'i1', 0)], prices: [price(0, { mem: '0.005' })] });
    expect(quiet.idleByResource.memory).toBe(20_000n);
    expect(quiet.tenants[0]?.usageCost).toBe(0n);
  });
});

describe('attributeCosts: pricing', () => {
  it('prices each hour by its own version across a mid-range change', () => {
    // 2 vCPU every hour; hours 0-1 at $0.036 (0.072/h), hours 2-3 at $0.072 (0.144/h): capacity 0.432.
    // A uses 900 CPU-s in hour 1 (0.009) and hour 2 (0.018). Overhead 2 × 0.010 + 2 × 0.020 = 0.060.
    const input: AttributionInput = {
      from: at(0),
      to: at(4),
      now: at(4),
      capacity: [0, 1, 2, 3].map((h) => cap('i1', h, { cpuMillicoreMs: 2000n * HOUR_MS })),
      usage: [use('A', 'i1', 1, { cpuUs: 900_000_000n }), use('A', 'i1', 2, { cpuUs: 900_000_000n })],
      prices: [price(0, { vcpu: '0.036', overhead: '0.010' }), price(2, { vcpu: '0.072', overhead: '0.020' })],
      idlePolicy: 'none',
    };
    expect(view(attributeCosts(input))).toEqual({
      capacity: '0.432000', overhead: '0.060000', idle: '0.405000', unallocated: '0.465000',
      tenants: { A: '0.027000 0.000000 0.000000 0.027000' }, holds: true,
    });
    const first = attributeCosts({ ...input, to: at(2) });
    const second = attributeCosts({ ...input, from: at(2) });
    expect([first.capacityCost, second.capacityCost, first.overheadCost, second.overheadCost]).toEqual([144_000n, 288_000n, 20_000n, 40_000n]);
  });

  it('prices GPUs by model, falls back to default, and charges 0 with neither', () => {
    const capacity = [
      cap('i1', 0, { gpuModel: 'NVIDIA H100 80GB HBM3', gpuMs: HOUR_MS }),
      cap('i2', 0, { gpuModel: 'NVIDIA A10G', gpuMs: HOUR_MS }),
      cap('i3', 0, { gpuModel: 'constructor', gpuMs: HOUR_MS }),
    ];
    const usage = [use('A', 'i1', 0, { gpuUs: 1_800_000_000n }), use('B', 'i2', 0, { gpuUs: 900_000_000n })];
    const base = { from: at(0), to: at(1), now: at(0), capacity, usage, idlePolicy: 'none' as const };
    // H100 1 h at $2.50; A10G 1 h at default $2.00 (B used 1/4 h: $0.50); 'constructor' at default too.
    const withDefault = attributeCosts({ ...base, prices: [price(0, { gpu: { 'NVIDIA H100 80GB HBM3': '2.50', default: '2.00' } })] });
    expect(withDefault.capacityByResource.gpu).toBe(6_500_000n);
    expect(withDefault.tenants.map((t) => t.usageByResource.gpu)).toEqual([1_250_000n, 500_000n]);
    // No default: the A10G and the oddly named model cost nothing, held or used.
    const noDefault = attributeCosts({ ...base, prices: [price(0, { gpu: { 'NVIDIA H100 80GB HBM3': '2.50' } })] });
    expect(noDefault.capacityByResource.gpu).toBe(2_500_000n);
    expect(noDefault.tenants.map((t) => t.usageByResource.gpu)).toEqual([1_250_000n, 0n]);
    expect(noDefault.conservation.holds).toBe(true);
  });

  it('never charges more than capacity when measured use exceeds it', () => {
    // 7,200 core-s held; A 6,000 + B 12,000 measured → all 0.072 used, split 1:2; GPU used twice over.
    const r = attributeCosts({
      from: at(0), to: at(1), now: at(0), idlePolicy: 'proportional',
      capacity: [cap('i1', 0, { cpuMillicoreMs: 2000n * HOUR_MS, gpuModel: 'L4', gpuMs: HOUR_MS })],
      usage: [use('A', 'i1', 0, { cpuUs: 6_000_000_000n, gpuUs: 7_200_000_000n }), use('B', 'i1', 0, { cpuUs: 12_000_000_000n })],
      prices: [price(0, { vcpu: '0.036', gpu: { default: '1' } })],
    });
    expect(r.idleCost).toBe(0n);
    expect(r.tenants.map((t) => t.usageByResource)).toEqual([
      { cpu: 24_000n, memory: 0n, gpu: 1_000_000n },
      { cpu: 48_000n, memory: 0n, gpu: 0n },
    ]);
    expect(r.capacityCost).toBe(1_072_000n);
  });

  it('reports usage it cannot price: no capacity sample, or no price version yet', () => {
    const r = attributeCosts({
      from: at(0), to: at(2), now: at(2), idlePolicy: 'even',
      capacity: [cap('i1', 0, { cpuMillicoreMs: 2000n * HOUR_MS }), cap('i1', 1, { cpuMillicoreMs: 2000n * HOUR_MS })],
      usage: [
        use('A', 'i1', 0, { cpuUs: 100n }), // hour 0 is before the first version
        use('A', 'i9', 1, { cpuUs: 20n, gpuUs: 5n, model: 'm1' }), // i9 has no capacity sample
        use('A', 'i9', 1, { cpuUs: 3n, model: 'm2' }),
      ],
      prices: [price(1, { vcpu: '0.036' })],
    });
    expect(r.unpricedUsage).toEqual({ cpuUs: 123n, gpuUs: 5n, hours: 2 });
    expect(r.capacityCost).toBe(72_000n);
    expect(r.tenants[0]?.byModel.map((m) => [m.model, m.usageCost])).toEqual([['m', 0n], ['m1', 0n], ['m2', 0n]]);
    expect(r.tenants[0]?.idleShare).toBe(72_000n); // even: A was active in hour 1, so it shares that hour's idle
  });

  it('splits usage by model variant and instance, sorted, summing to the tenant usage', () => {
    const r = attributeCosts({
      ...groundTruth('proportional'),
      capacity: [cap('i2', 0, { cpuMillicoreMs: 2000n * HOUR_MS }), cap('i1', 0, { cpuMillicoreMs: 2000n * HOUR_MS })],
      usage: [
        use('A', 'i2', 0, { cpuUs: 900_000_000n, model: 'b', modelVariant: 'v2' }),
        use('A', 'i1', 0, { cpuUs: 1_800_000_000n, model: 'b', modelVariant: 'v1' }),
        use('A', 'i1', 0, { cpuUs: 900_000_000n, model: 'a' }),
      ],
    });
    const a = r.tenants[0]!;
    expect(a.byModel).toEqual([
      // usageValue is the same amount unrounded, at 1e-12: here exactly usageCost × 10^6.
      { model: 'a', modelVariant: 'v1', usageCost: 9_000n, usageValue: 9_000_000_000n },
      { model: 'b', modelVariant: 'v1', usageCost: 18_000n, usageValue: 18_000_000_000n },
      { model: 'b', modelVariant: 'v2', usageCost: 9_000n, usageValue: 9_000_000_000n },
    ]);
    expect(a.byInstance).toEqual([{ instanceId: 'i1', usageCost: 27_000n }, { instanceId: 'i2', usageCost: 9_000n }]);
    expect(a.usageCost).toBe(36_000n);
  });

  it('rejects a range that is not whole hours, and negative measurements', () => {
    expect(() => attributeCosts({ ...groundTruth('none'), from: at(0) + 1 })).toThrow(/whole hours/);
    expect(() => attributeCosts({ ...groundTruth('none'), to: at(-1) })).toThrow(/from ≤ to/);
    expect(() => attributeCosts({ ...groundTruth('none'), usage: [use('A', 'i1', 0, { cpuUs: -1n })] })).toThrow(/negative usage/);
  });
});

describe('attributeCosts: edge cases', () => {
  const base = groundTruth('proportional');
  const usageOnly = { ...base, capacity: [] };
  const capacityOnly = { ...base, usage: [] };
  const beforePrices = { ...base, prices: [price(10, { vcpu: '0.036', overhead: '0.010' })] };
  const nowBeforeFrom = { ...base, now: at(-1) };
  const T = (a: string, b: string) => ({ A: a, B: b });
  const zeroA = '0.000000 0.000000 0.000000 0.000000';

  it.each<[string, IdlePolicy, AttributionInput, string, string, Record<string, string>]>([
    ['no capacity at all', 'proportional', usageOnly, '0.000000', '0.010000', T(zeroA, zeroA)],
    ['no capacity at all', 'even', usageOnly, '0.000000', '0.000000', T('0.000000 0.000000 0.005000 0.005000', '0.000000 0.000000 0.005000 0.005000')],
    ['no capacity at all', 'none', usageOnly, '0.000000', '0.010000', T(zeroA, zeroA)],
    ['no usage at all', 'proportional', capacityOnly, '0.072000', '0.082000', {}],
    ['no usage at all', 'even', capacityOnly, '0.072000', '0.082000', {}],
    ['no usage at all', 'none', capacityOnly, '0.072000', '0.082000', {}],
    ['a range before the first price version', 'proportional', beforePrices, '0.000000', '0.000000', T(zeroA, zeroA)],
    ['a range before the first price version', 'even', beforePrices, '0.000000', '0.000000', T(zeroA, zeroA)],
    ['now before from', 'proportional', nowBeforeFrom, '0.072000', '0.000000', T('0.027000 0.027000 0.000000 0.054000', '0.009000 0.009000 0.000000 0.018000')],
    ['now before from', 'none', nowBeforeFrom, '0.072000', '0.036000', T('0.027000 0.000000 0.000000 0.027000', '0.009000 0.000000 0.000000 0.009000')],
  ])('%s (%s)', (_name, idlePolicy, input, capacity, unallocated, tenants) => {
    const r = attributeCosts({ ...input, idlePolicy });
    const v = view(r);
    expect({ capacity: v.capacity, unallocated: v.unallocated, tenants: v.tenants, holds: v.holds }).toEqual({ capacity, unallocated, tenants, holds: true });
  });

  it('reports usage on hours with no capacity as unpriced, and overhead only for started hours', () => {
    expect(attributeCosts(usageOnly).unpricedUsage).toEqual({ cpuUs: 3_600_000_000n, gpuUs: 0n, hours: 1 });
    expect(attributeCosts(beforePrices).unpricedUsage.hours).toBe(1);
    expect(attributeCosts(nowBeforeFrom).overheadCost).toBe(0n);
    expect(attributeCosts({ ...base, from: at(0), to: at(0) }).tenants).toEqual([]);
  });
});

describe('attributeCosts: proportional weights below a micro', () => {
  it('shares idle by true usage even when each usage cost rounds to zero micros', () => {
    // 2 vCPU for an hour at $0.036/vCPU-h = 72,000 micros; A uses 300 µs, B 100 µs of CPU:
    // each worth ~3e-9 and ~1e-9 dollars, 0 micros after rounding, but still a 3:1 proportion.
    const r = attributeCosts({
      from: at(0),
      to: at(1),
      now: at(0),
      capacity: [cap('i', 0, { cpuMillicoreMs: 2000n * HOUR_MS })],
      usage: [use('a', 'i', 0, { cpuUs: 300n }), use('b', 'i', 0, { cpuUs: 100n })],
      prices: [price(0, { vcpu: '0.036' })],
      idlePolicy: 'proportional',
    });
    expect(r.tenants.map((t) => [t.tenantId, formatMoney(t.usageCost), formatMoney(t.idleShare)])).toEqual([
      ['a', '0.000000', '0.054000'],
      ['b', '0.000000', '0.018000'],
    ]);
    expect(r.unallocatedIdle).toBe(0n);
  });
});

describe('attributeCostsByHour', () => {
  const input = (overhead: string): AttributionInput => ({
    from: at(0),
    to: at(2),
    now: at(2),
    capacity: [cap('i-1', 1, { cpuMillicoreMs: 1000n * HOUR_MS })],
    usage: [use('a', 'i-1', 1, { cpuUs: 1_000_000n })],
    prices: [price(0, { vcpu: '0.036', overhead })],
    idlePolicy: 'proportional',
  });

  it("puts each figure at its hour: the tenant's usage, idle and overhead shares of hour 1, nothing in hour 0", () => {
    const { result, tenantHours } = attributeCostsByHour(input('0.01'));
    const a = result.tenants.find((t) => t.tenantId === 'a')!;
    // Hour 0 had no usage: its overhead stayed unallocated, and the row is zero there.
    expect([...tenantHours.byTenant.get('a')!]).toEqual([0n, 0n, 0n, a.usageCost, a.idleShare, 10_000n]);
  });

  it('refuses an hour too large for its 64-bit slot instead of wrapping it', () => {
    // 10^13 an hour is 10^19 micros, past 2^63 − 1: BigInt64Array would store it negative.
    expect(() => attributeCostsByHour(input('10000000000000'))).toThrow(/out of range/);
    expect(attributeCosts(input('10000000000000')).overheadCost).toBe(2n * 10n ** 19n);
  });
});
