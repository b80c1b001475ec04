import { z } from '@hono/zod-openapi';
import { AppError } from '../errors.ts';
import type { TimeRange } from '../store/queries/time.ts';

/**
 * The instants `from`/`to` may name: what the rollups' DateTime columns hold (1970 to 2106), with
 * a margin. Outside it ClickHouse refuses the query (a 503 that was the caller's mistake), and a
 * range of centuries is no one's billing question.
 */
export const MIN_INSTANT_MS = 0;
export const MAX_INSTANT_MS = Date.UTC(2100, 0, 1);

/** `from`/`to`: RFC 3339 or epoch milliseconds (SPEC §7), from 1970 to 2100. */
export const instantParam = z
  .string()
  .transform((value, ctx) => {
    const ms = /^\d+$/.test(value) ? Number(value) : parseRfc3339(value);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: `"${value}" is neither RFC 3339 nor epoch milliseconds` });
      return z.NEVER;
    }
    if (!(ms >= MIN_INSTANT_MS && ms <= MAX_INSTANT_MS)) {
      ctx.addIssue({ code: 'custom', message: `"${value}" is out of range: instants are from 1970-01-01T00:00:00Z to 2100-01-01T00:00:00Z` });
      return z.NEVER;
    }
    return ms;
  });

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * RFC 3339 only: an offset is required (a bare local time would depend on the server's zone) and
 * the calendar date must exist (Date.parse rolls 2024-02-30 over to March 1).
 */
function parseRfc3339(value: string): number {
  const m = RFC3339.exec(value);
  if (!m) return NaN;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const probe = new Date(0);
  probe.setUTCFullYear(year, month - 1, day); // Date.UTC would read years 0–99 as 1900–1999
  if (probe.getUTCFullYear() !== year || probe.getUTCMonth() !== month - 1 || probe.getUTCDate() !== day) return NaN;
  return Date.parse(value);
}

/** `step`: seconds (`300`) or a duration (`30s`, `5m`, `1h`, `1d`). */
export const stepParam = z.string().transform((value, ctx) => {
  const m = /^(\d{1,7})([smhd]?)$/.exec(value);
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a step such as 60, 5m, 1h or 1d` });
    return z.NEVER;
  }
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
});

export const DEFAULT_RANGE_MS = 24 * 3600 * 1000;
export const MAX_POINTS = 10_000;
const MIN_STEP_S = 1;
/** Steps chosen for `step` when the caller gives none: the smallest with at most ~300 points. */
const AUTO_STEPS_S = [60, 300, 900, 3600, 6 * 3600, 86400];

export interface RangeInput {
  from?: number;
  to?: number;
  step?: number;
}

export interface RangeLimits {
  /** The longest range one request may price (cost endpoints); longer ones are 400 `range_too_long`. */
  maxRangeMs?: number;
  /** The response has no series: `step` plays no part (`/v1/attribution`). */
  series?: boolean;
  /** `step` must be a multiple of this (costs are priced per hour: 3600); the automatic step is one. */
  stepMultipleS?: number;
}

/** Days, for messages: "400 days", "400.0000116 days" (never rounded onto the limit it exceeds). */
const days = (ms: number) => `${Number((ms / 86_400_000).toFixed(8))} days`;

/** Resolves defaults (last 24 h) and checks the range and step; pure, `now` passed in. */
export function resolveRange(input: RangeInput, now: number, limits: RangeLimits = {}): { range: TimeRange; stepSeconds: number } {
  const to = input.to ?? now;
  // A default `from` never reaches before the first instant a caller may name (found by fuzzing:
  // `to=0` answered with a 1969 `from`).
  const from = input.from ?? Math.max(MIN_INSTANT_MS, to - DEFAULT_RANGE_MS);
  if (from >= to) throw new AppError('invalid', '`from` must be before `to`', { code: 'invalid_range' });
  if (limits.maxRangeMs !== undefined && to - from > limits.maxRangeMs) {
    throw new AppError('invalid', `the range spans ${days(to - from)}, at most ${days(limits.maxRangeMs)} per request: ask for consecutive ranges (their amounts add up exactly)`, {
      code: 'range_too_long',
    });
  }
  const spanS = (to - from) / 1000;
  const multiple = limits.stepMultipleS ?? 1;
  const stepSeconds = input.step ?? AUTO_STEPS_S.find((s) => s % multiple === 0 && spanS / s <= 300) ?? 86400;
  if (limits.series === false) return { range: { from, to }, stepSeconds };
  if (stepSeconds < MIN_STEP_S) throw new AppError('invalid', '`step` must be at least 1 second', { code: 'invalid_step' });
  if (stepSeconds % multiple !== 0) {
    throw new AppError('invalid', `\`step\` must be a whole number of ${multiple === 3600 ? 'hours (costs are priced per hour): 1h, 6h, 1d' : `${multiple} s`}, not ${stepSeconds} s`, {
      code: 'invalid_step',
    });
  }
  const points = Math.ceil(spanS / stepSeconds);
  if (points > MAX_POINTS) {
    const message =
      input.step === undefined
        ? `the range is too long for a series at daily points (${points}, at most ${MAX_POINTS}): ask for a shorter range or a larger \`step\``
        : `\`step\` too small: ${points} points in the range, at most ${MAX_POINTS}`;
    throw new AppError('invalid', message, { code: 'invalid_step' });
  }
  return { range: { from, to }, stepSeconds };
}
