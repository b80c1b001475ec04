import { validateDetailed } from 'node-cron';
import { z } from 'zod';

/** Alert routing and evaluation (SPEC §6). */

/** Where notifications are POSTed: any other scheme could never be delivered, only retried. */
const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//i.test(u), 'an http:// or https:// URL');

const webhookSchema = z.strictObject({
  url: httpUrl,
  /** HMAC-SHA256 key for the `X-Inferledger-Signature` header; share it with the receiver. */
  secret: z.string().min(16, 'webhook secrets must be at least 16 characters'),
  /** Only alerts of these tenants (all when absent). */
  tenants: z.array(z.string()).optional(),
});

/**
 * What tells webhooks apart: where they post and for which tenants (not the secret, which may be
 * rotated). Two with the same identity are refused; each identity has its own outbox folder.
 */
export function webhookIdentity(w: { url: string; tenants?: readonly string[] }): string {
  return `${w.url}\n${w.tenants === undefined ? '*' : [...w.tenants].sort().join(',')}`;
}

export const alertsConfigSchema = z
  .strictObject({
    /** Quota usage ratios that raise an alert, once per crossing. */
    quota_thresholds: z
      .array(z.number().positive().max(10))
      .min(1)
      .refine((ts) => new Set(ts).size === ts.length, 'each threshold once (a repeated one would be one alert under two names)')
      .default([0.8, 1]),
    /** A quota alert resolves when usage falls below threshold × (1 − hysteresis) or the period resets. */
    hysteresis: z.number().min(0).max(0.5).default(0.05),
    /** node-cron expression (seconds first) of the evaluation job. */
    evaluate_cron: z
      .string()
      .superRefine((expression, ctx) => {
        // Checked with node-cron itself, so a typo is a config error at start, not a crash in the scheduler.
        const { valid, errors } = validateDetailed(expression);
        if (!valid) ctx.addIssue({ code: 'custom', message: `not a cron expression (seconds first): ${errors.map((e) => e.message).join('; ')}` });
        else for (const problem of oversizedSteps(expression)) ctx.addIssue({ code: 'custom', message: problem });
      })
      .default('*/15 * * * * *'),
    /** An anomaly condition must hold this long before its alert fires (pending → firing). */
    anomaly_for_s: z.number().nonnegative().default(0),
    /**
     * Anomaly score at or above which a point is anomalous. The detector's 0.5 means "the largest
     * deviation of its last 1000 points"; 0.7 is well beyond that (a 6x spike in hourly requests
     * scores about 0.74), so on-call is paged for the unusual, not the merely new.
     */
    anomaly_threshold: z.number().min(0).max(1).default(0.7),
    webhooks: z
      .array(webhookSchema)
      .superRefine((hooks, ctx) => {
        // Two with the same URL and tenants would be one receiver paged twice, sharing one outbox.
        const seen = new Map<string, number>();
        hooks.forEach((w, i) => {
          const key = webhookIdentity(w);
          const first = seen.get(key);
          if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i], message: `repeats webhooks[${first}] (same url and tenants): merge them` });
          else seen.set(key, i);
        });
      })
      .default([]),
    alertmanager: z
      .strictObject({
        /** Base URL, e.g. http://alertmanager:9093 (alerts go to /api/v2/alerts). */
        url: httpUrl,
        /** Alertmanager forgets an alert not re-sent within this time; we re-send firing alerts more often. */
        resend_s: z.number().positive().default(60),
      })
      .optional(),
    /** Delivery retries per alert notification, with exponential backoff. */
    max_retries: z.number().int().nonnegative().default(5),
  })
  .prefault({});
export type AlertsConfig = z.infer<typeof alertsConfigSchema>;

const CRON_FIELDS = [
  { name: 'second', max: 59 },
  { name: 'minute', max: 59 },
  { name: 'hour', max: 23 },
  { name: 'day of month', max: 31 },
  { name: 'month', max: 12 },
  { name: 'day of week', max: 7 },
] as const;

/**
 * Steps larger than their field, which node-cron accepts and reads as "the first value only":
 * found by dogfooding, a step of 75 in the seconds field evaluated once a minute, not every 75 s.
 */
function oversizedSteps(expression: string): string[] {
  const fields = expression.trim().split(/\s+/);
  const named = fields.length === 5 ? CRON_FIELDS.slice(1) : CRON_FIELDS;
  const out: string[] = [];
  fields.forEach((field, i) => {
    for (const part of field.split(',')) {
      const step = /\/(\d+)$/.exec(part)?.[1];
      const spec = named[i];
      if (step !== undefined && spec && Number(step) > spec.max) {
        out.push(`the step ${step} in the ${spec.name} field is larger than the field (0-${spec.max}): it would run at the first value only; a cron step cannot span fields`);
      }
    }
  });
  return out;
}

/**
 * Start-up notes for webhooks whose `tenants` name a tenant nobody knows (not in the config, no
 * key): a typo there sends that tenant's alerts nowhere, silently. Found by dogfooding. A note,
 * not a refusal: a tenant may yet appear (its key made later, or fed by a collector).
 */
export function unknownWebhookTenantNotes(webhooks: readonly { tenants?: readonly string[] }[], known: ReadonlySet<string>): string[] {
  return webhooks.flatMap((w, i) =>
    (w.tenants ?? [])
      .filter((t) => !known.has(t))
      .map((t) => `note: alerts.webhooks[${i}].tenants names "${t}", a tenant not in the config and holding no key: this webhook gets its alerts only once it exists (a typo?)`),
  );
}
