import { apportion, sumMicros, type Micros } from '../money/money.ts';
import { versionAt, type CapacityPrices, type IdlePolicy } from '../pricing/price-book.ts';
import { ZERO_COSTS, overheadMicros, priceAtom, totalOf, type UsageLine } from './atom-costs.ts';
import type { AttributionInput, AttributionResult, CapacityHour, ResourceCosts, TenantAttribution, TenantHours, UsageHour } from './types.ts';

/**
 * The attribution engine: what the operator's capacity and overhead cost, and which tenant
 * carries which part, for the hours [from, to). Pure and synchronous; amounts are bigint micros.
 *
 * Algorithm:
 * 1. Keep capacity and usage rows with from ≤ hour < to; group them by atom (instanceId, hour),
 *    merging duplicate usage rows of one (tenant, model, variant).
 * 2. Price each atom with the capacity version in force at its hour (atom-costs.ts): held cost
 *    per resource, rounded once. An atom with no capacity row or no version costs 0 and its
 *    usage is reported as unpriced.
 * 3. Used cost per resource (rounded once, clamped to held), split over the atom's lines exactly
 *    with `apportion` (CPU and memory by cpuUs, GPU by gpuUs). Idle = held − used.
 * 4. Overhead: each whole hour h in [from, to) with h < now accrues the overhead rate of h,
 *    traffic or not.
 * 5. Per hour (never across the range, so results add up over any split at an hour boundary),
 *    idle and overhead are apportioned separately with the policy's weights: `proportional` =
 *    tenant's usage cost that hour, `even` = 1 per tenant with any usage row that hour, `none` = 0.
 *    All-zero weights leave the hour's idle and overhead unallocated (the `__idle__` line).
 * 6. Totals, and the conservation check: capacity + overhead = Σ tenant total + unallocated.
 * 7. Per tenant, usage cost by model variant and by instance (sums of its lines), sorted.
 */

const HOUR_MS = 3_600_000;
const SEP = '\u0000';

interface Atom {
  instanceId: string;
  hour: number;
  capacity: CapacityHour[];
  lines: Map<string, UsageLine>;
}

/** One hour's pool and who was active in it (tenant → usage cost that hour, 0 included). */
interface HourPool {
  idle: Micros;
  overhead: Micros;
  usageByTenant: Map<string, Micros>;
  /** Unrounded usage value per tenant (1e-12): the proportional policy's weights. */
  weightByTenant: Map<string, bigint>;
  /** Tenants that served a request this hour: the even policy's active tenants. */
  served: Set<string>;
}

interface TenantLedger {
  usage: ResourceCosts;
  idleShare: Micros;
  overheadShare: Micros;
  byModel: Map<string, { model: string; modelVariant: string; usageCost: Micros; usageValue: bigint }>;
  byInstance: Map<string, Micros>;
}

interface Ledger {
  capacity: ResourceCosts;
  idle: ResourceCosts;
  overhead: Micros;
  unallocated: Micros;
  unpriced: { cpuUs: bigint; gpuUs: bigint; hours: number };
  hours: Map<number, HourPool>;
  tenants: Map<string, TenantLedger>;
}

/** Code-unit order, not localeCompare: the output must not depend on the host's locale. */
const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const addInto = (into: ResourceCosts, c: ResourceCosts): void => {
  into.cpu += c.cpu;
  into.memory += c.memory;
  into.gpu += c.gpu;
};

function assertInput(input: AttributionInput): void {
  const { from, to } = input;
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from % HOUR_MS !== 0 || to % HOUR_MS !== 0 || from > to) {
    throw new RangeError(`attributeCosts: [from, to) must be whole hours with from ≤ to, got [${from}, ${to})`);
  }
  const negative = (values: bigint[]) => values.some((v) => v < 0n);
  for (const c of input.capacity) {
    if (negative([c.cpuMillicoreMs, c.memoryByteMs, c.memoryUsedByteMs, c.gpuMs])) {
      throw new RangeError(`attributeCosts: negative capacity for ${c.instanceId} at ${c.hour}`);
    }
  }
  for (const u of input.usage) {
    if (negative([u.cpuUs, u.gpuUs])) throw new RangeError(`attributeCosts: negative usage for ${u.tenantId} on ${u.instanceId} at ${u.hour}`);
  }
}

function atomOf(atoms: Map<string, Atom>, instanceId: string, hour: number): Atom {
  const key = `${instanceId}${SEP}${hour}`;
  let atom = atoms.get(key);
  if (!atom) {
    atom = { instanceId, hour, capacity: [], lines: new Map() };
    atoms.set(key, atom);
  }
  return atom;
}

function addLine(atom: Atom, u: UsageHour): void {
  const key = `${u.tenantId}${SEP}${u.model}${SEP}${u.modelVariant}`;
  const served = u.requests === undefined || u.requests > 0n;
  const line = atom.lines.get(key);
  if (line) {
    line.cpuUs += u.cpuUs;
    line.gpuUs += u.gpuUs;
    line.served ||= served;
  } else {
    atom.lines.set(key, { tenantId: u.tenantId, model: u.model, modelVariant: u.modelVariant, cpuUs: u.cpuUs, gpuUs: u.gpuUs, served });
  }
}

function groupAtoms(input: AttributionInput): Map<string, Atom> {
  const inRange = (hour: number) => input.from <= hour && hour < input.to;
  const atoms = new Map<string, Atom>();
  for (const c of input.capacity) if (inRange(c.hour)) atomOf(atoms, c.instanceId, c.hour).capacity.push(c);
  for (const u of input.usage) if (inRange(u.hour)) addLine(atomOf(atoms, u.instanceId, u.hour), u);
  return atoms;
}

function poolOf(ledger: Ledger, hour: number): HourPool {
  let pool = ledger.hours.get(hour);
  if (!pool) {
    pool = { idle: 0n, overhead: 0n, usageByTenant: new Map(), weightByTenant: new Map(), served: new Set() };
    ledger.hours.set(hour, pool);
  }
  return pool;
}

function tenantOf(ledger: Ledger, tenantId: string): TenantLedger {
  let t = ledger.tenants.get(tenantId);
  if (!t) {
    t = { usage: { ...ZERO_COSTS }, idleShare: 0n, overheadShare: 0n, byModel: new Map(), byInstance: new Map() };
    ledger.tenants.set(tenantId, t);
  }
  return t;
}

function chargeLine(ledger: Ledger, pool: HourPool, instanceId: string, line: UsageLine, cost: ResourceCosts, weight = 0n): void {
  const amount = totalOf(cost);
  const t = tenantOf(ledger, line.tenantId);
  addInto(t.usage, cost);
  const modelKey = `${line.model}${SEP}${line.modelVariant}`;
  const m = t.byModel.get(modelKey) ?? { model: line.model, modelVariant: line.modelVariant, usageCost: 0n, usageValue: 0n };
  m.usageValue += weight;
  m.usageCost += amount;
  t.byModel.set(modelKey, m);
  t.byInstance.set(instanceId, (t.byInstance.get(instanceId) ?? 0n) + amount);
  pool.usageByTenant.set(line.tenantId, (pool.usageByTenant.get(line.tenantId) ?? 0n) + amount);
  pool.weightByTenant.set(line.tenantId, (pool.weightByTenant.get(line.tenantId) ?? 0n) + weight);
  if (line.served !== false) pool.served.add(line.tenantId);
}

function settleAtom(ledger: Ledger, atom: Atom, prices: readonly CapacityPrices[]): void {
  const lines = [...atom.lines.values()].sort(
    (a, b) => compareText(a.tenantId, b.tenantId) || compareText(a.model, b.model) || compareText(a.modelVariant, b.modelVariant),
  );
  const pool = poolOf(ledger, atom.hour);
  const version = atom.capacity.length > 0 ? versionAt(prices, atom.hour) : undefined;
  if (!version) {
    for (const line of lines) {
      ledger.unpriced.cpuUs += line.cpuUs;
      ledger.unpriced.gpuUs += line.gpuUs;
      chargeLine(ledger, pool, atom.instanceId, line, ZERO_COSTS);
    }
    if (lines.length > 0) ledger.unpriced.hours += 1;
    return;
  }
  const priced = priceAtom(atom.capacity, lines, version);
  addInto(ledger.capacity, priced.capacity);
  addInto(ledger.idle, priced.idle);
  pool.idle += totalOf(priced.idle);
  lines.forEach((line, i) => chargeLine(ledger, pool, atom.instanceId, line, priced.lines[i] ?? ZERO_COSTS, priced.weights[i]));
}

/** Overhead is a fixed cost of running the platform: it accrues for every started hour. */
function accrueOverhead(ledger: Ledger, input: AttributionInput, prices: readonly CapacityPrices[]): void {
  for (let hour = input.from; hour < input.to && hour < input.now; hour += HOUR_MS) {
    const version = versionAt(prices, hour);
    const amount = version ? overheadMicros(version) : 0n;
    if (amount === 0n) continue;
    poolOf(ledger, hour).overhead += amount;
    ledger.overhead += amount;
  }
}

function weightOf(policy: IdlePolicy, usageValue: bigint, served: boolean): bigint {
  switch (policy) {
    case 'proportional':
      return usageValue;
    case 'even':
      // A tenant whose every request was refused used nothing: no share of what others left idle.
      return served ? 1n : 0n;
    case 'none':
      return 0n;
  }
}

/** Idle and overhead are apportioned separately so that each tenant's two shares are exact. */
function shareHour(ledger: Ledger, pool: HourPool, policy: IdlePolicy, hours?: HourRecorder): void {
  const tenantIds = [...pool.usageByTenant.keys()].sort(compareText);
  const weights = tenantIds.map((id) => weightOf(policy, pool.weightByTenant.get(id) ?? 0n, pool.served.has(id)));
  const idle = apportion(pool.idle, weights);
  const overhead = apportion(pool.overhead, weights);
  if (!idle || !overhead) ledger.unallocated += pool.idle + pool.overhead;
  tenantIds.forEach((id, i) => {
    const idleShare = idle?.[i] ?? 0n;
    const overheadShare = overhead?.[i] ?? 0n;
    if (idle && overhead) {
      const t = tenantOf(ledger, id);
      t.idleShare += idleShare;
      t.overheadShare += overheadShare;
    }
    hours?.record(id, pool.usageByTenant.get(id) ?? 0n, idleShare, overheadShare);
  });
}

const INT64_MAX = (1n << 63n) - 1n;

function int64(micros: Micros, tenantId: string): Micros {
  if (micros < 0n || micros > INT64_MAX) throw new RangeError(`attributeCosts: an hour's cost of ${micros} micros for ${tenantId} is out of range`);
  return micros;
}

/** Writes tenants' hourly figures into typed arrays (which wrap silently, hence the range check). */
interface HourRecorder {
  at(hour: number): void;
  record(tenantId: string, usage: Micros, idleShare: Micros, overheadShare: Micros): void;
  result(): TenantHours;
}

function hourRecorder(from: number, to: number): HourRecorder {
  const slots = ((to - from) / HOUR_MS) * 3;
  const byTenant = new Map<string, BigInt64Array>();
  let base = 0;
  return {
    at(hour) {
      base = ((hour - from) / HOUR_MS) * 3;
    },
    record(tenantId, usage, idleShare, overheadShare) {
      let row = byTenant.get(tenantId);
      if (!row) byTenant.set(tenantId, (row = new BigInt64Array(slots)));
      row[base] = int64(usage, tenantId);
      row[base + 1] = int64(idleShare, tenantId);
      row[base + 2] = int64(overheadShare, tenantId);
    },
    result: () => ({ from, to, byTenant }),
  };
}

function tenantResult(tenantId: string, t: TenantLedger): TenantAttribution {
  const usageCost = totalOf(t.usage);
  return {
    tenantId,
    usageCost,
    usageByResource: { ...t.usage },
    idleShare: t.idleShare,
    overheadShare: t.overheadShare,
    totalCost: usageCost + t.idleShare + t.overheadShare,
    byModel: [...t.byModel.values()].sort((a, b) => compareText(a.model, b.model) || compareText(a.modelVariant, b.modelVariant)),
    byInstance: [...t.byInstance.entries()]
      .sort(([a], [b]) => compareText(a, b))
      .map(([instanceId, usageCost]) => ({ instanceId, usageCost })),
  };
}

function buildResult(input: AttributionInput, ledger: Ledger): AttributionResult {
  const tenants = [...ledger.tenants.entries()].sort(([a], [b]) => compareText(a, b)).map(([id, t]) => tenantResult(id, t));
  const capacityCost = totalOf(ledger.capacity);
  const charged = sumMicros(tenants.map((t) => t.totalCost)) + ledger.unallocated;
  const difference = capacityCost + ledger.overhead - charged;
  return {
    from: input.from,
    to: input.to,
    idlePolicy: input.idlePolicy,
    capacityCost,
    capacityByResource: ledger.capacity,
    overheadCost: ledger.overhead,
    idleCost: totalOf(ledger.idle),
    idleByResource: ledger.idle,
    unallocatedIdle: ledger.unallocated,
    tenants,
    unpricedUsage: ledger.unpriced,
    conservation: { holds: difference === 0n, difference },
  };
}

export function attributeCosts(input: AttributionInput): AttributionResult {
  return settle(input);
}

/** `attributeCosts`, plus each tenant's figures per hour (for cost series; they sum to the result's). */
export function attributeCostsByHour(input: AttributionInput): { result: AttributionResult; tenantHours: TenantHours } {
  const hours = hourRecorder(input.from, input.to);
  const result = settle(input, hours);
  return { result, tenantHours: hours.result() };
}

function settle(input: AttributionInput, hours?: HourRecorder): AttributionResult {
  assertInput(input);
  // The contract says sorted; a copy sorted here costs nothing and makes versionAt safe regardless.
  const prices = [...input.prices].sort((a, b) => a.effective_from - b.effective_from);
  const ledger: Ledger = {
    capacity: { ...ZERO_COSTS },
    idle: { ...ZERO_COSTS },
    overhead: 0n,
    unallocated: 0n,
    unpriced: { cpuUs: 0n, gpuUs: 0n, hours: 0 },
    hours: new Map(),
    tenants: new Map(),
  };
  for (const atom of groupAtoms(input).values()) settleAtom(ledger, atom, prices);
  accrueOverhead(ledger, input, prices);
  for (const [hour, pool] of ledger.hours) {
    hours?.at(hour);
    shareHour(ledger, pool, input.idlePolicy, hours);
  }
  return buildResult(input, ledger);
}
