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
 * Today's ended hours are kept the same way, each under its own fingerprint, so that a restart
 * does not price today again either.
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

/** A whole UTC day or a whole hour (its start and end, epoch ms) and the fingerprint of its inputs. */
export interface KeptPiece {
  from: number;
  to: number;
  fingerprint: string;
}

export interface PersistedDays<T> {
  /** What the days hold (`PersistedDaysOptions.kind`). */
  readonly kind: string;
  /** The stored value of each wanted piece under exactly its fingerprint (undefined: a miss), in order. */
  load(wanted: readonly KeptPiece[]): Promise<Array<T | undefined>>;
  /** Keeps priced pieces (one insert for all of them). */
  save(priced: ReadonlyArray<KeptPiece & { value: T }>): Promise<void>;
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

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * Rows are keyed by the piece's UTC date and a fingerprint. A day's is the caller's fingerprint
 * under the format version, as it always was; an hour's also names the hour, so a day and its
 * hours (a day's first hour starts when the day does) are different rows.
 */
function rowKeyOf(piece: KeptPiece, version: number): { date: string; fingerprint: string; name: string } {
  const date = new Date(piece.from).toISOString().slice(0, 10);
  if (piece.from % DAY_MS === 0 && piece.to - piece.from === DAY_MS) return { date, fingerprint: `v${version} | ${piece.fingerprint}`, name: `day ${date}` };
  if (piece.from % HOUR_MS === 0 && piece.to - piece.from === HOUR_MS) {
    const hour = new Date(piece.from).toISOString().slice(11, 13);
    return { date, fingerprint: `v${version} | hour ${hour} | ${piece.fingerprint}`, name: `hour ${date} ${hour}:00` };
  }
  throw new RangeError(`[${piece.from}, ${piece.to}) is neither a whole UTC day nor a whole hour`);
}

export function createPersistedDays<T>(opts: PersistedDaysOptions<T>): PersistedDays<T> {
  const problem = (kind: KeptDayProblem, message: string) => opts.onProblem?.(`attribution days (${opts.kind}): ${message}`, kind);
  const now = opts.now ?? Date.now;
  return {
    kind: opts.kind,
    async load(wanted) {
      const out: Array<T | undefined> = wanted.map(() => undefined);
      if (wanted.length === 0) return out;
      const keys = wanted.map((piece) => rowKeyOf(piece, opts.version));
      const indexOf = new Map(keys.map((k, i) => [`${k.date} ${k.fingerprint}`, i]));
      let rows;
      try {
        const query = storedDaysQuery(opts.kind, [...new Set(keys.map((k) => k.date))], [...new Set(keys.map((k) => k.fingerprint))]);
        rows = await opts.store.query({ ...query, schema: storedDayRow });
      } catch (err) {
        problem('read_failed', `reading stored days failed, pricing them instead: ${(err as Error).message}`);
        return out;
      }
      for (const row of rows) {
        // The query matches dates and fingerprints separately: keep only the exact pairs.
        const i = indexOf.get(`${row.day_text} ${row.fingerprint}`);
        if (i === undefined) continue;
        const text = unpack(row.payload);
        const decoded = typeof text === 'string' ? opts.codec.decode(text) : text;
        if ('error' in decoded) {
          problem('unreadable', `${keys[i]!.name} is stored but unreadable, pricing it instead: ${decoded.error}`);
          continue;
        }
        out[i] = decoded.day;
      }
      return out;
    },
    async save(priced) {
      if (priced.length === 0) return;
      const keys = priced.map((piece) => rowKeyOf(piece, opts.version));
      try {
        const computedAt = formatClickHouseTime(now());
        const rows = priced.map((p, i): StoredDayInsert => ({ kind: opts.kind, day: keys[i]!.date, fingerprint: keys[i]!.fingerprint, payload: pack(opts.codec.encode(p.value)), computed_at: computedAt }));
        await opts.store.insert(ATTRIBUTION_DAYS_TABLE, rows);
      } catch (err) {
        const names = keys.map((k) => k.name);
        problem('write_failed', `keeping ${names.length > 2 ? `${names[0]} … ${names[names.length - 1]} (${names.length})` : names.join(' and ')} failed (it will be priced again next time): ${(err as Error).message}`);
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
