import { endianness } from 'node:os';
import { z } from 'zod';
import type { Micros } from '../money/money.ts';
import { IDLE_POLICIES } from '../pricing/price-book.ts';
import type { DayAttribution } from './day-cache.ts';
import { parseStored } from './persisted-days.ts';
import type { AttributionResult, ResourceCosts, TenantAttribution } from './types.ts';

/**
 * A priced day (`DayAttribution`) as text for the `attribution_days` table and back. Pure.
 *
 * Every amount is an exact integer written as a decimal string (JSON numbers would lose digits
 * past 2^53); each tenant is a tuple, because a day at 2,000 tenants is mostly tenants; hourly
 * figures are little-endian int64 in base64 (576 bytes a tenant and day). Amounts that are sums
 * of others (a tenant's usage and total cost) are not stored but added up again on reading, so a
 * decoded day cannot disagree with itself.
 *
 * Decoding validates everything: the table is outside this process (another version wrote it, a
 * person edited it), and a value that does not decode is a cache miss, never a wrong bill.
 */

/**
 * The version of what a stored day means. Bump it whenever the engine, the merge, list revenue or
 * this format would give a different value for the same rollup rows and prices: days stored by
 * the old code then no longer match and are priced again. `day-codec.test.ts` pins a digest of a
 * fixed day so that such a change cannot go unnoticed.
 */
export const DAY_FORMAT_VERSION = 2; // 2: under `even`, a tenant with only refused requests in an hour takes no idle share

const INTEGER = /^-?\d{1,40}$/;
/** An exact integer as a decimal string. */
const integer = z.string().regex(INTEGER, 'an integer as a decimal string').transform((s) => BigInt(s));
const resources = z.tuple([integer, integer, integer]);
const text = z.string().max(1_000);

const payloadSchema = z.strictObject({
  v: z.literal(DAY_FORMAT_VERSION),
  from: z.number().int(),
  to: z.number().int(),
  idlePolicy: z.enum(IDLE_POLICIES),
  capacityCost: integer,
  capacityByResource: resources,
  overheadCost: integer,
  idleCost: integer,
  idleByResource: resources,
  unallocatedIdle: integer,
  unpriced: z.tuple([integer, integer, z.number().int().nonnegative()]),
  conservation: z.tuple([z.boolean(), integer]),
  // Checked by `tenantOf`, not by zod: a day at 2,000 tenants holds about 40,000 amounts, and
  // zod tuples with a transform per amount made reading a month back take seconds.
  tenants: z.array(z.array(z.unknown())),
  revenue: z.array(z.tuple([text, z.array(z.tuple([text, integer]))])),
  requests: z.array(z.tuple([text, integer])),
  hours: z.array(z.tuple([text, z.string().max(100_000)])),
});

type Payload = z.input<typeof payloadSchema>;

const HOUR_MS = 3_600_000;
const str = (n: bigint) => n.toString();
const resourcesOut = (r: ResourceCosts): [string, string, string] => [str(r.cpu), str(r.memory), str(r.gpu)];
const resourcesIn = ([cpu, memory, gpu]: readonly [bigint, bigint, bigint]): ResourceCosts => ({ cpu, memory, gpu });

export function encodeDay(day: DayAttribution): string {
  const r = day.result;
  if (day.tenantHours.from !== r.from || day.tenantHours.to !== r.to) throw new RangeError("a day's hourly figures must cover the day's range");
  const payload: Payload = {
    v: DAY_FORMAT_VERSION,
    from: r.from,
    to: r.to,
    idlePolicy: r.idlePolicy,
    capacityCost: str(r.capacityCost),
    capacityByResource: resourcesOut(r.capacityByResource),
    overheadCost: str(r.overheadCost),
    idleCost: str(r.idleCost),
    idleByResource: resourcesOut(r.idleByResource),
    unallocatedIdle: str(r.unallocatedIdle),
    unpriced: [str(r.unpricedUsage.cpuUs), str(r.unpricedUsage.gpuUs), r.unpricedUsage.hours],
    conservation: [r.conservation.holds, str(r.conservation.difference)],
    tenants: r.tenants.map((t) => [
      t.tenantId,
      ...resourcesOut(t.usageByResource),
      str(t.idleShare),
      str(t.overheadShare),
      t.byModel.map((m) => [m.model, m.modelVariant, str(m.usageCost), str(m.usageValue)]),
      t.byInstance.map((i) => [i.instanceId, str(i.usageCost)]),
    ]),
    revenue: [...day.revenue].map(([tenant, byModel]) => [tenant, [...byModel].map(([model, micros]) => [model, str(micros)])]),
    requests: [...day.requests].map(([tenant, n]) => [tenant, str(n)]),
    hours: [...day.tenantHours.byTenant].map(([tenant, figures]) => [tenant, int64Base64(figures)]),
  };
  return JSON.stringify(payload);
}

/** The day `text` holds, or an error saying why it cannot be used (the caller prices the day instead). */
export function decodeDay(text: string): { day: DayAttribution } | { error: string } {
  const parsed = parseStored(text, payloadSchema);
  if ('error' in parsed) return parsed;
  const p = parsed.data;
  const hours = (p.to - p.from) / HOUR_MS;
  if (!Number.isInteger(hours) || hours < 0) return { error: `[${p.from}, ${p.to}) is not whole hours` };
  const byTenant = new Map<string, BigInt64Array>();
  for (const [tenant, b64] of p.hours) {
    const figures = int64FromBase64(b64);
    if (figures?.length !== 3 * hours) return { error: `tenant ${tenant}: hourly figures are not 3 × ${hours} int64 values` };
    byTenant.set(tenant, figures);
  }
  let tenants: TenantAttribution[];
  try {
    tenants = p.tenants.map(tenantOf);
  } catch (err) {
    if (err instanceof Refused) return { error: err.message };
    throw err;
  }
  const result: AttributionResult = {
    from: p.from,
    to: p.to,
    idlePolicy: p.idlePolicy,
    capacityCost: p.capacityCost,
    capacityByResource: resourcesIn(p.capacityByResource),
    overheadCost: p.overheadCost,
    idleCost: p.idleCost,
    idleByResource: resourcesIn(p.idleByResource),
    unallocatedIdle: p.unallocatedIdle,
    tenants,
    unpricedUsage: { cpuUs: p.unpriced[0], gpuUs: p.unpriced[1], hours: p.unpriced[2] },
    conservation: { holds: p.conservation[0], difference: p.conservation[1] },
  };
  return {
    day: {
      result,
      revenue: new Map(p.revenue.map(([tenant, byModel]) => [tenant, new Map<string, Micros>(byModel)])),
      requests: new Map(p.requests),
      tenantHours: { from: p.from, to: p.to, byTenant },
    },
  };
}

/** Thrown by the tenant checks below; `decodeDay` turns it into a refusal. */
class Refused extends Error {}

const bigintAt = (value: unknown, where: string): bigint => {
  if (typeof value !== 'string' || !INTEGER.test(value)) throw new Refused(`${where}: not an integer as a decimal string`);
  return BigInt(value);
};
const textAt = (value: unknown, where: string): string => {
  if (typeof value !== 'string' || value.length > 1_000) throw new Refused(`${where}: not a name`);
  return value;
};
const tupleAt = (value: unknown, length: number, where: string): unknown[] => {
  if (!Array.isArray(value) || value.length !== length) throw new Refused(`${where}: not a list of ${length}`);
  return value;
};
const listAt = (value: unknown, where: string): unknown[] => {
  if (!Array.isArray(value)) throw new Refused(`${where}: not a list`);
  return value;
};

/** [tenant, cpu, memory, gpu, idle share, overhead share, [[model, variant, usage cost, usage value]], [[instance, usage cost]]] */
function tenantOf(value: unknown[], i: number): TenantAttribution {
  const at = `tenants[${i}]`;
  const [id, cpuText, memoryText, gpuText, idleText, overheadText, models, instances] = tupleAt(value, 8, at);
  const tenantId = textAt(id, at);
  const [cpu, memory, gpu, idleShare, overheadShare] = [cpuText, memoryText, gpuText, idleText, overheadText].map((v) => bigintAt(v, `${at} (${tenantId})`)) as [bigint, bigint, bigint, bigint, bigint];
  const usageCost = cpu + memory + gpu;
  return {
    tenantId,
    usageCost,
    usageByResource: { cpu, memory, gpu },
    idleShare,
    overheadShare,
    totalCost: usageCost + idleShare + overheadShare,
    byModel: listAt(models, `${at} models`).map((m, j) => {
      const where = `${at} models[${j}]`;
      const [model, variant, cost, usageValue] = tupleAt(m, 4, where);
      return { model: textAt(model, where), modelVariant: textAt(variant, where), usageCost: bigintAt(cost, where), usageValue: bigintAt(usageValue, where) };
    }),
    byInstance: listAt(instances, `${at} instances`).map((x, j) => {
      const where = `${at} instances[${j}]`;
      const [instanceId, cost] = tupleAt(x, 2, where);
      return { instanceId: textAt(instanceId, where), usageCost: bigintAt(cost, where) };
    }),
  };
}

/**
 * Little-endian whatever the host's byte order, so a day written on one machine reads on any. On
 * a little-endian host (every platform Node runs on in practice) the array's bytes are used as
 * they are: a month at 2,000 tenants holds 4.5 million hourly figures.
 */
const HOST_IS_LITTLE_ENDIAN = endianness() === 'LE';

export function int64Base64(values: BigInt64Array): string {
  if (HOST_IS_LITTLE_ENDIAN) return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');
  const bytes = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => bytes.writeBigInt64LE(v, i * 8));
  return bytes.toString('base64');
}

export function int64FromBase64(b64: string): BigInt64Array | undefined {
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.length % 8 !== 0 || bytes.toString('base64') !== b64) return undefined;
  const out = new BigInt64Array(bytes.length / 8);
  if (HOST_IS_LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes);
  else for (let i = 0; i < out.length; i++) out[i] = bytes.readBigInt64LE(i * 8);
  return out;
}
