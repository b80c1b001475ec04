import { z } from 'zod';
import { parseRate, type Rate } from '../money/money.ts';

/**
 * The price book (config `pricing`): what capacity costs the operator, and what tenants pay by
 * plan. Both are versioned by `effective_from`; a version applies from its instant until the next
 * one, so a change mid-period splits the period at that instant (hour granularity: attribution and
 * rating work on hourly rollups, so effective instants must fall on an hour).
 */

const decimalText = z
  .union([z.string(), z.number()])
  .transform((v) => String(v))
  .check((ctx) => {
    if (/^\d{1,18}(\.\d{1,12})?$/.test(ctx.value)) return;
    // An unquoted 0.0000001 reaches us as the number 1e-7: say so rather than blame its decimals.
    const why = /e/i.test(ctx.value)
      ? `the number ${ctx.value} is in exponent form: write amounts as quoted decimal strings, e.g. "0.0000001"`
      : 'a non-negative decimal with at most 12 decimal places, e.g. "0.0004"';
    ctx.issues.push({ code: 'custom', message: why, input: ctx.value });
  });

const rate = decimalText.transform((v): Rate => parseRate(v));

const hourInstant = z
  .string()
  .transform((v, ctx) => {
    const ms = Date.parse(v);
    if (!Number.isFinite(ms) || !/^\d{4}-\d{2}-\d{2}/.test(v)) {
      ctx.addIssue({ code: 'custom', message: `"${v}" is not an RFC 3339 date or timestamp` });
      return z.NEVER;
    }
    if (ms % 3_600_000 !== 0) {
      ctx.addIssue({ code: 'custom', message: `"${v}" must fall on a whole hour (UTC)` });
      return z.NEVER;
    }
    return ms;
  });

export const IDLE_POLICIES = ['proportional', 'even', 'none'] as const;
export type IdlePolicy = (typeof IDLE_POLICIES)[number];

const capacityVersionSchema = z.strictObject({
  effective_from: hourInstant,
  vcpu_hour: rate,
  memory_gib_hour: rate,
  /** By GPU model name as nvidia-smi reports it; `default` for any other model. */
  gpu_hour: z.record(z.string(), rate).default({}),
  /** Fixed shared cost of the platform per hour (control plane, storage, people). */
  overhead_hour: rate.default(parseRate('0')),
});

/** Meters a plan can price. Token meters are priced per 1,000 tokens. */
export const METERS = ['requests', 'input_tokens', 'output_tokens', 'cpu_seconds', 'gpu_seconds'] as const;
export type Meter = (typeof METERS)[number];

const tierSchema = z.strictObject({
  /** Upper bound of the tier in the meter's pricing unit (requests, 1k tokens, seconds); the last tier has none. */
  up_to: z.number().positive().optional(),
  unit_price: rate,
});

const meterPriceSchema = z
  .strictObject({
    unit_price: rate.optional(),
    tiers: z.array(tierSchema).min(1).optional(),
    /** Free quantity per billing period, in the pricing unit. */
    included: z.number().nonnegative().default(0),
  })
  .superRefine((m, ctx) => {
    if ((m.unit_price === undefined) === (m.tiers === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of unit_price or tiers' });
    }
    if (m.tiers) {
      m.tiers.forEach((t, i) => {
        const last = i === m.tiers!.length - 1;
        if (last && t.up_to !== undefined) ctx.addIssue({ code: 'custom', path: ['tiers', i, 'up_to'], message: 'the last tier must be open-ended (no up_to)' });
        if (!last && t.up_to === undefined) ctx.addIssue({ code: 'custom', path: ['tiers', i, 'up_to'], message: 'only the last tier may omit up_to' });
        const prev = m.tiers![i - 1]?.up_to;
        if (prev !== undefined && t.up_to !== undefined && t.up_to <= prev) {
          ctx.addIssue({ code: 'custom', path: ['tiers', i, 'up_to'], message: 'tier bounds must increase' });
        }
      });
    }
  });

const planVersionSchema = z.strictObject({
  effective_from: hourInstant,
  meters: z.partialRecord(z.enum(METERS), meterPriceSchema),
});

const byEffectiveFrom = <T extends { effective_from: number }>(versions: T[], ctx: z.RefinementCtx) => {
  const sorted = [...versions].sort((a, b) => a.effective_from - b.effective_from);
  sorted.forEach((v, i) => {
    if (i > 0 && v.effective_from === sorted[i - 1]!.effective_from) {
      ctx.addIssue({ code: 'custom', message: `two versions take effect at the same instant ${new Date(v.effective_from).toISOString()}` });
    }
  });
  return sorted;
};

export const pricingSchema = z
  .strictObject({
    /** ISO 4217 code; one currency per deployment. */
    currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 currency code such as USD').default('USD'),
    idle_policy: z.enum(IDLE_POLICIES).default('proportional'),
    capacity: z.array(capacityVersionSchema).min(1).transform(byEffectiveFrom),
    plans: z.record(z.string().min(1), z.array(planVersionSchema).min(1).transform(byEffectiveFrom)),
    /** The plan of tenants that the config does not list (e.g. created through the API). */
    default_plan: z.string().min(1).default('standard'),
  })
  .superRefine((p, ctx) => {
    if (!(p.default_plan in p.plans)) {
      ctx.addIssue({ code: 'custom', path: ['default_plan'], message: `unknown plan "${p.default_plan}"` });
    }
  });

export type PriceBook = z.infer<typeof pricingSchema>;
export type CapacityPrices = PriceBook['capacity'][number];
export type PlanVersion = PriceBook['plans'][string][number];
export type MeterPrice = z.infer<typeof meterPriceSchema>;
export type Tier = z.infer<typeof tierSchema>;

/**
 * The default price book (used when the config has none), so a fresh `up --demo` shows costs.
 * Capacity roughly at public-cloud on-demand rates; one plan, `standard`.
 */
export const DEFAULT_PRICING_INPUT = {
  currency: 'USD',
  idle_policy: 'proportional',
  capacity: [
    {
      effective_from: '2020-01-01T00:00:00Z',
      vcpu_hour: '0.04',
      memory_gib_hour: '0.005',
      gpu_hour: { default: '2.00', 'NVIDIA H100 80GB HBM3': '2.50' },
      overhead_hour: '0.02',
    },
  ],
  plans: {
    standard: [
      {
        effective_from: '2020-01-01T00:00:00Z',
        meters: {
          requests: { unit_price: '0.0001', included: 100 },
          cpu_seconds: { tiers: [{ up_to: 3600, unit_price: '0.0002' }, { unit_price: '0.00015' }] },
          gpu_seconds: { unit_price: '0.001' },
          input_tokens: { unit_price: '0.0005' },
          output_tokens: { unit_price: '0.0015' },
        },
      },
    ],
  },
} as const;

/** The version in force at `at` (epoch ms), or undefined before the first one. */
export function versionAt<T extends { effective_from: number }>(versions: readonly T[], at: number): T | undefined {
  let found: T | undefined;
  for (const v of versions) {
    if (v.effective_from <= at) found = v;
    else break;
  }
  return found;
}
