import { z } from 'zod';
import { parseStored } from '../attribution/persisted-days.ts';
import type { DayCosts } from './anomaly-scan.ts';

/**
 * The anomaly scan's hourly usage costs of one day (`DayCosts`) as text for the
 * `attribution_days` table (kind `anomaly-costs`) and back. Pure. Cells are little-endian
 * float64 in base64; decoding validates everything, and anything that does not decode is a miss
 * (the scan prices the day again).
 */

/** Bump when the scan's day costs would differ for the same rollup rows and prices. */
export const DAY_COSTS_FORMAT_VERSION = 1;

const payloadSchema = z.strictObject({
  v: z.literal(DAY_COSTS_FORMAT_VERSION),
  from: z.number().int(),
  hours: z.number().int().min(0).max(24),
  cells: z.array(z.tuple([z.string().max(3_000), z.string().max(1_000)])),
});

export function encodeDayCosts(day: DayCosts): string {
  let hours: number | undefined;
  const cells: Array<[string, string]> = [];
  for (const [key, values] of day.cells) {
    if (hours !== undefined && values.length !== hours) throw new RangeError('every cell of a day has the same number of hours');
    hours = values.length;
    const bytes = Buffer.alloc(values.length * 8);
    values.forEach((v, i) => bytes.writeDoubleLE(v, i * 8));
    cells.push([key, bytes.toString('base64')]);
  }
  return JSON.stringify({ v: DAY_COSTS_FORMAT_VERSION, from: day.from, hours: hours ?? 0, cells } satisfies z.input<typeof payloadSchema>);
}

export function decodeDayCosts(text: string): { day: DayCosts } | { error: string } {
  const parsed = parseStored(text, payloadSchema);
  if ('error' in parsed) return parsed;
  const { from, hours } = parsed.data;
  const cells = new Map<string, Float64Array>();
  for (const [key, b64] of parsed.data.cells) {
    const bytes = Buffer.from(b64, 'base64');
    if (bytes.length !== hours * 8 || bytes.toString('base64') !== b64) return { error: `cell ${JSON.stringify(key)} is not ${hours} float64 values` };
    const values = new Float64Array(hours);
    for (let i = 0; i < hours; i++) values[i] = bytes.readDoubleLE(i * 8);
    cells.set(key, values);
  }
  return { day: { from, cells } };
}
