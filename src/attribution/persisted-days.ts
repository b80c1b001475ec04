import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { z } from 'zod';
import type { Store } from '../store/client.ts';
import { formatClickHouseTime } from '../store/queries/time.ts';
import { ATTRIBUTION_DAYS_TABLE, storedDayRow, storedDaysQuery, type StoredDayInsert } from '../store/queries/attribution-days.ts';

/**
 * Priced days kept in ClickHouse (`attribution_days`), under the same fingerprints as the
 * in-memory day cache (see `perUtcDay` in cost-service.ts), so that a restarted process, another
 * API replica and the next job run read a past day back instead of pricing all of its rows again:
 * at 100M stored requests a month that is the difference between about 115 s and 9 s (bench, 2 cores).
 *
 * A cache, never a source of truth: a day is used only under exactly the fingerprint the reader
 * computed from the rollups now, and a row that cannot be read or decoded is a miss. Neither a
 * failed read nor a failed write fails the request: the day is priced, as it would be without
 * this table, and the problem is reported through `onProblem`.
 */

export interface DayCodec<T> {
  encode(value: T): string;
  decode(text: string): { day: T } | { error: string };
}

/** A stored value's text as JSON that `schema` accepts, or why not (for codecs' `decode`). */
export function parseStored<S extends z.ZodType>(text: string, schema: S): { data: z.output<S> } | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { error: `not JSON: ${(err as Error).message}` };
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? { data: parsed.data } : { error: z.prettifyError(parsed.error) };
}

export interface PersistedDays<T> {
  /** What the days hold (`PersistedDaysOptions.kind`). */
  readonly kind: string;
  /** The stored values of these days under exactly these fingerprints, by day start (epoch ms). */
  load(wanted: ReadonlyArray<{ day: number; fingerprint: string }>): Promise<Map<number, T>>;
  /** Keeps a priced day. */
  save(day: number, fingerprint: string, value: T): Promise<void>;
}

export type KeptDayProblem = 'read_failed' | 'unreadable' | 'write_failed';

export interface PersistedDaysOptions<T> {
  store: Store;
  /** What the days hold (one table serves several: `attribution`, `anomaly-costs`). */
  kind: string;
  /** The version of what a stored value means: days stored under another version are misses. */
  version: number;
  codec: DayCodec<T>;
  /** A day that could not be read back or kept (it is priced instead); `problem` is for metrics. */
  onProblem?: (message: string, problem: KeptDayProblem) => void;
  now?: () => number;
}

const DAY_MS = 86_400_000;

export function createPersistedDays<T>(opts: PersistedDaysOptions<T>): PersistedDays<T> {
  const problem = (kind: KeptDayProblem, message: string) => opts.onProblem?.(`attribution days (${opts.kind}): ${message}`, kind);
  const now = opts.now ?? Date.now;
  const versioned = (fingerprint: string) => `v${opts.version} | ${fingerprint}`;
  return {
    kind: opts.kind,
    async load(wanted) {
      const out = new Map<number, T>();
      if (wanted.length === 0) return out;
      const fingerprintOf = new Map(wanted.map((w) => [dateOf(w.day), versioned(w.fingerprint)]));
      let rows;
      try {
        const query = storedDaysQuery(opts.kind, [...fingerprintOf.keys()], [...new Set(fingerprintOf.values())]);
        rows = await opts.store.query({ ...query, schema: storedDayRow });
      } catch (err) {
        problem('read_failed', `reading stored days failed, pricing them instead: ${(err as Error).message}`);
        return out;
      }
      for (const row of rows) {
        // The query matches days and fingerprints separately: keep only the exact pairs.
        if (fingerprintOf.get(row.day_text) !== row.fingerprint) continue;
        const text = unpack(row.payload);
        const decoded = typeof text === 'string' ? opts.codec.decode(text) : text;
        if ('error' in decoded) {
          problem('unreadable', `day ${row.day_text} is stored but unreadable, pricing it instead: ${decoded.error}`);
          continue;
        }
        out.set(Date.parse(`${row.day_text}T00:00:00Z`), decoded.day);
      }
      return out;
    },
    async save(day, fingerprint, value) {
      try {
        const row: StoredDayInsert = { kind: opts.kind, day: dateOf(day), fingerprint: versioned(fingerprint), payload: pack(opts.codec.encode(value)), computed_at: formatClickHouseTime(now()) };
        await opts.store.insert(ATTRIBUTION_DAYS_TABLE, [row]);
      } catch (err) {
        problem('write_failed', `keeping day ${dateOf(day)} failed (it will be priced again next time): ${(err as Error).message}`);
      }
    },
  };
}

/**
 * Stored values are deflated (then base64, for a String column that every format carries as is):
 * a month at 2,000 tenants is about 70 MB of JSON, and moving that out of the embedded engine
 * took about 3 s, more than everything else a restarted process does with the month. Digits and
 * repeated names deflate several-fold.
 */
function pack(text: string): string {
  return deflateRawSync(text, { level: 3 }).toString('base64');
}

/** A stored value unpacked, or why not; bounded, so a damaged row cannot inflate without limit. */
function unpack(payload: string): string | { error: string } {
  try {
    return inflateRawSync(Buffer.from(payload, 'base64'), { maxOutputLength: MAX_VALUE_BYTES }).toString('utf8');
  } catch (err) {
    return { error: `not a deflated value: ${(err as Error).message}` };
  }
}

/** Far above a day at tens of thousands of tenants (a day at 2,000 is about 2.4 MB). */
const MAX_VALUE_BYTES = 512 * 1024 * 1024;

function dateOf(dayStart: number): string {
  if (dayStart % DAY_MS !== 0) throw new RangeError(`${dayStart} is not a UTC midnight`);
  return new Date(dayStart).toISOString().slice(0, 10);
}
