import { z } from 'zod';

/**
 * SQL of the `attribution_days` table (migration 0009): priced days kept across restarts and
 * shared by replicas. Days travel as 'YYYY-MM-DD' (the column is a Date, UTC).
 */

export const ATTRIBUTION_DAYS_TABLE = 'attribution_days';

/**
 * The stored values of `kind` for these days under these fingerprints (the caller pairs them up
 * exactly). The latest written wins: a day whose stored value could not be read is priced and
 * written again, and must not keep losing to the old row until a merge happens to replace it.
 */
export function storedDaysQuery(kind: string, days: readonly string[], fingerprints: readonly string[]) {
  return {
    query: `SELECT toString(day) AS day_text, fingerprint, argMax(payload, computed_at) AS payload
            FROM ${ATTRIBUTION_DAYS_TABLE}
            WHERE kind = {kind:String} AND day IN {days:Array(Date)} AND fingerprint IN {fingerprints:Array(String)}
            GROUP BY day, fingerprint`,
    params: { kind, days, fingerprints },
  };
}

export const storedDayRow = z.object({ day_text: z.string(), fingerprint: z.string(), payload: z.string() });

export interface StoredDayInsert {
  kind: string;
  day: string;
  fingerprint: string;
  payload: string;
  computed_at: string;
}
