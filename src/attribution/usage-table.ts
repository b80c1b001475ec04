import type { MeterQuantities } from '../pricing/meters.ts';
import type { UsageHour } from './types.ts';

/**
 * Usage rows of a range kept in columns, one span of hours (a chunk) at a time, so that month
 * attribution holds ~60 bytes per row outside the JS heap instead of several parsed objects per
 * row inside it. The engine still takes plain `UsageHour` rows: `usageRecordsOf` materialises
 * the rows of a few hours at a time, and those are garbage as soon as that span is priced.
 */

const HOUR_MS = 3_600_000;
const MAX_U64 = (1n << 64n) - 1n;

/** One usage row with its quantities: the engine's input and list revenue's input in one object. */
export interface UsageRecord extends UsageHour, MeterQuantities {
  requests: bigint;
}

/** The rows of the hours [from, to), grouped by hour; strings are indices into `UsageTable.strings`. */
export interface UsageChunk {
  from: number;
  to: number;
  /** Rows of the hour `from + h·1h` are [hourStart[h], hourStart[h + 1]). */
  hourStart: Uint32Array;
  tenant: Uint32Array;
  instance: Uint32Array;
  model: Uint32Array;
  variant: Uint32Array;
  requests: BigUint64Array;
  inputTokens: BigUint64Array;
  outputTokens: BigUint64Array;
  cpuUs: BigUint64Array;
  gpuUs: BigUint64Array;
  /**
   * The rows themselves, in hour order, when the builder was asked to keep them: a table read for
   * one day and priced at once would otherwise build every row's object a second time.
   */
  rows?: readonly UsageRecord[];
}

export interface UsageTable {
  /** Every tenant, instance, model and variant name, once. */
  strings: string[];
  /** Sorted by `from`, not overlapping. */
  chunks: UsageChunk[];
}

export interface UsageTableBuilder {
  /** Adds the rows of [from, to); every row's hour must be a whole hour inside it. */
  add(from: number, to: number, rows: readonly UsageRecord[]): void;
  table(): UsageTable;
}

export interface UsageTableOptions {
  /** Keep each chunk's row objects too (`UsageChunk.rows`): for a table priced once, right away. */
  keepRows?: boolean;
}

export function usageTableBuilder(options: UsageTableOptions = {}): UsageTableBuilder {
  const strings: string[] = [];
  const ids = new Map<string, number>();
  const chunks: UsageChunk[] = [];
  const intern = (s: string): number => {
    let id = ids.get(s);
    if (id === undefined) {
      id = strings.length;
      strings.push(s);
      ids.set(s, id);
    }
    return id;
  };
  return {
    add(from, to, rows) {
      const last = chunks[chunks.length - 1];
      if (from % HOUR_MS !== 0 || to % HOUR_MS !== 0 || from > to || (last && from < last.to)) {
        throw new RangeError(`usage table: chunk [${from}, ${to}) must be whole hours after the previous one`);
      }
      chunks.push(chunkOf(from, to, rows, intern, options.keepRows ?? false));
    },
    table: () => ({ strings, chunks }),
  };
}

function chunkOf(from: number, to: number, rows: readonly UsageRecord[], intern: (s: string) => number, keepRows: boolean): UsageChunk {
  const hours = (to - from) / HOUR_MS;
  const n = rows.length;
  const hourStart = new Uint32Array(hours + 1);
  for (const r of rows) {
    if (r.hour % HOUR_MS !== 0 || r.hour < from || r.hour >= to) throw new RangeError(`usage table: row hour ${r.hour} is not a whole hour in [${from}, ${to})`);
    hourStart[(r.hour - from) / HOUR_MS + 1]! += 1;
  }
  for (let h = 1; h <= hours; h++) hourStart[h]! += hourStart[h - 1]!;
  const chunk: UsageChunk = {
    from,
    to,
    hourStart,
    tenant: new Uint32Array(n),
    instance: new Uint32Array(n),
    model: new Uint32Array(n),
    variant: new Uint32Array(n),
    requests: new BigUint64Array(n),
    inputTokens: new BigUint64Array(n),
    outputTokens: new BigUint64Array(n),
    cpuUs: new BigUint64Array(n),
    gpuUs: new BigUint64Array(n),
  };
  const kept = keepRows ? new Array<UsageRecord>(n) : undefined;
  if (kept) chunk.rows = kept;
  // Counting sort by hour: rows usually arrive in hour order already, and any order is correct.
  const next = hourStart.slice(0, hours);
  for (const r of rows) {
    const i = next[(r.hour - from) / HOUR_MS]!++;
    if (kept) kept[i] = r;
    chunk.tenant[i] = intern(r.tenantId);
    chunk.instance[i] = intern(r.instanceId);
    chunk.model[i] = intern(r.model);
    chunk.variant[i] = intern(r.modelVariant);
    chunk.requests[i] = u64(r.requests);
    chunk.inputTokens[i] = u64(r.inputTokens);
    chunk.outputTokens[i] = u64(r.outputTokens);
    chunk.cpuUs[i] = u64(r.cpuUs);
    chunk.gpuUs[i] = u64(r.gpuUs);
  }
  return chunk;
}

/** The rollup's counters are UInt64: anything else would be stored wrapped, so it is refused. */
function u64(v: bigint): bigint {
  if (v < 0n || v > MAX_U64) throw new RangeError(`usage table: ${v} is not a UInt64 quantity`);
  return v;
}

/** The rows with from ≤ hour < to, materialised (hour order; order within an hour unspecified). */
export function usageRecordsOf(table: UsageTable, from: number, to: number): UsageRecord[] {
  const out: UsageRecord[] = [];
  const s = table.strings;
  for (const c of table.chunks) {
    if (c.to <= from || c.from >= to) continue;
    const first = Math.max(0, (Math.max(from, c.from) - c.from) / HOUR_MS);
    const end = (Math.min(to, c.to) - c.from) / HOUR_MS;
    if (c.rows) {
      for (let i = c.hourStart[first]!; i < c.hourStart[end]!; i++) out.push(c.rows[i]!);
      continue;
    }
    for (let i = c.hourStart[first]!, h = first; i < c.hourStart[end]!; i++) {
      while (i >= c.hourStart[h + 1]!) h++;
      out.push({
        tenantId: s[c.tenant[i]!]!,
        instanceId: s[c.instance[i]!]!,
        hour: c.from + h * HOUR_MS,
        model: s[c.model[i]!]!,
        modelVariant: s[c.variant[i]!]!,
        requests: c.requests[i]!,
        inputTokens: c.inputTokens[i]!,
        outputTokens: c.outputTokens[i]!,
        cpuUs: c.cpuUs[i]!,
        gpuUs: c.gpuUs[i]!,
      });
    }
  }
  return out;
}

/** Requests per tenant over the whole table, or the hours [from, to) of it, straight from the columns. */
export function requestsByTenant(table: UsageTable, from = Number.NEGATIVE_INFINITY, to = Number.POSITIVE_INFINITY): Map<string, bigint> {
  const byId = new Map<number, bigint>();
  for (const c of table.chunks) {
    if (c.to <= from || c.from >= to) continue;
    const first = c.hourStart[Math.max(0, (Math.max(from, c.from) - c.from) / HOUR_MS)]!;
    const end = c.hourStart[(Math.min(to, c.to) - c.from) / HOUR_MS]!;
    for (let i = first; i < end; i++) byId.set(c.tenant[i]!, (byId.get(c.tenant[i]!) ?? 0n) + c.requests[i]!);
  }
  return new Map([...byId].map(([id, n]) => [table.strings[id]!, n]));
}
