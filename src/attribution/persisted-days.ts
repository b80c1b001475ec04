import type { Store } from '../store/client.ts';
import { ATTRIBUTION_DAYS_TABLE, storedDayRow, storedDaysQuery, type StoredDayInsert } from '../store/queries/attribution-days.ts';

/**
 * Priced days kept in ClickHouse (`attribution_days`), under the same fingerprints as the
 * in-memory day cache (see `perUtcDay` in cost-service.ts), so that a restarted process, another
 * API replica and the next job run read a past day back instead of pricing all of its rows again:
 * at 100M stored requests a month that is the difference between about 100 s and a few seconds.
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

export interface PersistedDays<T> {
  /** The stored values of these days under exactly these fingerprints, by day start (epoch ms). */
  load(wanted: ReadonlyArray<{ day: number; fingerprint: string }>): Promise<Map<number, T>>;
  /** Keeps a priced day. */
  save(day: number, fingerprint: string, value: T): Promise<void>;
}

export interface PersistedDaysOptions<T> {
  store: Store;
  /** What the days hold (one table serves several: `attribution`, `anomaly-costs`). */
  kind: string;
  /** The version of what a stored value means: days stored under another version are misses. */
  version: number;
  codec: DayCodec<T>;
  onProblem?: (message: string) => void;
  now?: () => number;
}

const DAY_MS = 86_400_000;

export function createPersistedDays<T>(opts: PersistedDaysOptions<T>): PersistedDays<T> {
  const problem = (message: string) => opts.onProblem?.(`attribution days (${opts.kind}): ${message}`);
  const now = opts.now ?? Date.now;
  const versioned = (fingerprint: string) => `v${opts.version} | ${fingerprint}`;
  return {
    async load(wanted) {
      const out = new Map<number, T>();
      if (wanted.length === 0) return out;
      const fingerprintOf = new Map(wanted.map((w) => [dateOf(w.day), versioned(w.fingerprint)]));
      let rows;
      try {
        const query = storedDaysQuery(opts.kind, [...fingerprintOf.keys()], [...new Set(fingerprintOf.values())]);
        rows = await opts.store.query({ ...query, schema: storedDayRow });
      } catch (err) {
        problem(`reading stored days failed, pricing them instead: ${(err as Error).message}`);
        return out;
      }
      for (const row of rows) {
        // The query matches days and fingerprints separately: keep only the exact pairs.
        if (fingerprintOf.get(row.day_text) !== row.fingerprint) continue;
        const decoded = opts.codec.decode(row.payload);
        if ('error' in decoded) {
          problem(`day ${row.day_text} is stored but unreadable, pricing it instead: ${decoded.error}`);
          continue;
        }
        out.set(Date.parse(`${row.day_text}T00:00:00Z`), decoded.day);
      }
      return out;
    },
    async save(day, fingerprint, value) {
      try {
        const row: StoredDayInsert = { kind: opts.kind, day: dateOf(day), fingerprint: versioned(fingerprint), payload: opts.codec.encode(value), computed_at: new Date(now()).toISOString().replace('T', ' ').slice(0, 23) };
        await opts.store.insert(ATTRIBUTION_DAYS_TABLE, [row]);
      } catch (err) {
        problem(`keeping day ${dateOf(day)} failed (it will be priced again next time): ${(err as Error).message}`);
      }
    },
  };
}

function dateOf(dayStart: number): string {
  if (dayStart % DAY_MS !== 0) throw new RangeError(`${dayStart} is not a UTC midnight`);
  return new Date(dayStart).toISOString().slice(0, 10);
}
