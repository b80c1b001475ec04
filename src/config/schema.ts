import { z } from 'zod';
import { alertsConfigSchema } from '../alerts/config.ts';
import { BEARER_TOKEN_PATTERN, BEARER_TOKEN_RULE } from '../auth/keys.ts';
import { DEFAULT_PRICING_INPUT, pricingSchema } from '../pricing/price-book.ts';
import { quotaLimitsSchema, quotasConfigSchema } from '../quotas/config.ts';

/**
 * The one configuration schema. A config file (YAML or JSON) and environment variables are
 * merged into this shape by `loadConfig`; everything downstream receives the frozen result.
 */

export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const TENANT_ID_RULE = 'tenant ids are 1-63 chars of a-z, 0-9, "_" or "-", starting with a letter or digit';
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const MODEL_NAME_RULE = 'model names are 1-128 chars of A-Z, a-z, 0-9, ".", "_" or "-"';

export const tenantIdSchema = z.string().regex(TENANT_ID_PATTERN, TENANT_ID_RULE);
export const modelNameSchema = z.string().regex(MODEL_NAME_PATTERN, MODEL_NAME_RULE);

const modelSchema = z.strictObject({
  name: modelNameSchema,
  /** ONNX file, relative to the config file's directory (or absolute). */
  path: z.string().min(1),
  version: z.string().min(1).default('1'),
  /** True for models whose input elements are tokens: spans then carry gen_ai.usage.*_tokens. */
  tokens: z.boolean().default(false),
  /**
   * Where the model runs: `cpu`, or `cuda` / `cuda:N` (onnxruntime's CUDA execution provider on
   * GPU N, default 0). CUDA needs onnxruntime-node's CUDA binaries (see the README); without
   * them the sidecar refuses to start rather than silently running on the CPU.
   */
  device: z
    .string()
    .regex(/^(cpu|cuda(:(0|[1-9][0-9]{0,2}))?)$/, 'device is "cpu", "cuda" or "cuda:N" (N the GPU index)')
    .default('cpu'),
});

const tenantSchema = z.strictObject({
  /** Plan name in pricing.plans; absent: pricing.default_plan. */
  plan: z.string().min(1).optional(),
  /** Logical model name -> name of the configured model this tenant actually runs (its variant). */
  model_variants: z.record(modelNameSchema, modelNameSchema).default({}),
  /** Models this tenant may use; empty means every configured model that is not a variant-only model. */
  models: z.array(modelNameSchema).default([]),
  /** This tenant's quota limits; absent: quotas.defaults. */
  quotas: quotaLimitsSchema.optional(),
});

/**
 * zod skips a refinement once any field has failed. Each cross-field check below runs as long as
 * the sections it reads parsed, so a problem elsewhere (server.port: "abc", or a bad webhook URL
 * next to an unknown plan) does not hide it: every problem is listed at once. Found by dogfooding:
 * one check over all sections showed 2 of 5 problems, then 3 more once those were fixed.
 */
function whenParsed(...sections: string[]) {
  // Issues that earlier checks added count too: a check whose findings another one reads runs last.
  const read = new Set(sections);
  return { when: (payload: { issues: ReadonlyArray<{ path?: ReadonlyArray<PropertyKey> }> }) => payload.issues.every((issue) => !read.has(String(issue.path?.[0]))) };
}

export const configSchema = z
  .strictObject({
    data_dir: z.string().min(1).default('./data'),
    // Checked against what a request can present, or the process starts with a key nobody can use.
    admin_key: z.string().regex(BEARER_TOKEN_PATTERN, `admin_key must be ${BEARER_TOKEN_RULE}`).optional(),
    clickhouse: z
      .strictObject({
        url: z.string().url().optional(),
        cluster: z.string().regex(/^[A-Za-z0-9_]+$/).optional(),
        /** Days of raw spans kept in otel_traces / requests; rollups are kept longer. */
        raw_ttl_days: z.number().int().positive().default(30),
      })
      .default({ raw_ttl_days: 30 }),
    server: z
      .strictObject({
        port: z.number().int().min(0).max(65535).default(8080),
        host: z.string().min(1, 'a host to listen on, e.g. 0.0.0.0 (all interfaces) or 127.0.0.1').default('0.0.0.0'),
        max_body_bytes: z.number().int().positive().default(8 * 1024 * 1024),
        /**
         * A second listener (same host) that serves only GET /metrics, without auth, for Prometheus.
         * Unset: /metrics is served on the main port to admin keys only. Any process kind (up, api,
         * sidecar) opens it; 0 picks a free port.
         */
        metrics_port: z.number().int().min(0).max(65535).optional(),
        /**
         * OTLP/gRPC listener (same host; the OTel default is 4317) for `up` and `api`, serving the
         * trace and metrics Export services with the same keys and rules as POST /v1/traces and
         * /v1/metrics. Unset: no gRPC listener.
         */
        otlp_grpc_port: z.number().int().min(0).max(65535).optional(),
        /** Distinct tenant label values per metric family; further tenants are folded into "other". */
        metrics_max_tenants: z.number().int().nonnegative().default(50),
      })
      .default({ port: 8080, host: '0.0.0.0', max_body_bytes: 8 * 1024 * 1024, metrics_max_tenants: 50 }),
    sidecar: z
      .strictObject({
        port: z.number().int().min(0).max(65535).default(8081),
        /** Accept X-Tenant-Id from a trusted gateway in front (requires the gateway's ingest/admin key). */
        trust_tenant_header: z.boolean().default(false),
        /** Inferences run at once; further requests wait in the admission queue. */
        max_concurrency: z.number().int().positive().default(4),
        max_queue: z.number().int().nonnegative().default(256),
        /** Resource sampling window in seconds. */
        sample_interval_s: z.number().positive().default(10),
        instance_id: z.string().min(1).optional(),
        /**
         * Read GPUs from NVIDIA's DCGM exporter at this URL (e.g. http://localhost:9400/metrics)
         * instead of running nvidia-smi: for containers without the driver tools, on nodes where
         * the GPU Operator runs an exporter.
         */
        dcgm_exporter_url: z
          .string()
          .url()
          .refine((u) => /^https?:\/\//i.test(u), 'an http:// or https:// URL such as http://localhost:9400/metrics')
          .optional(),
      })
      .default({ port: 8081, trust_tenant_header: false, max_concurrency: 4, max_queue: 256, sample_interval_s: 10 }),
    telemetry: z
      .strictObject({
        /** `clickhouse`: spans written straight to ClickHouse; `otlp`: OTLP/HTTP protobuf to OTEL_EXPORTER_OTLP_ENDPOINT. */
        exporter: z.enum(['clickhouse', 'otlp']).default('clickhouse'),
        service_name: z.string().min(1).default('inferledger-sidecar'),
        batch_delay_ms: z.number().int().positive().default(1000),
        max_batch_size: z.number().int().positive().default(512),
        /**
         * Fsync each request's span to a journal (grouped) before its response is sent, so a
         * crash of the process loses no served request: the spool with the `clickhouse` exporter,
         * `otlp-journal/` in the data dir with `otlp`.
         */
        journal: z.boolean().default(true),
      })
      .default({ exporter: 'clickhouse', service_name: 'inferledger-sidecar', batch_delay_ms: 1000, max_batch_size: 512, journal: true }),
    models: z.array(modelSchema).default([]),
    quotas: quotasConfigSchema,
    alerts: alertsConfigSchema,
    /** Who bills whom, as statements (and FOCUS rows) name it. */
    billing: z
      .strictObject({
        provider_name: z.string().min(1).default('inferledger'),
        invoice_issuer_name: z.string().min(1).default('inferledger'),
        service_name: z.string().min(1).default('AI Inference'),
        /** A month's statement is issued (frozen) this long after the month ends, leaving time for late data. */
        close_grace_hours: z.number().int().nonnegative().default(2),
      })
      .default({ provider_name: 'inferledger', invoice_issuer_name: 'inferledger', service_name: 'AI Inference', close_grace_hours: 2 }),
    /** Capacity prices, plans and the idle policy; see pricing/price-book.ts. */
    // Each key missing from the section takes its default (the capacity prices and the plans
    // included), as the configuration table documents: `pricing: { idle_policy: even }` is valid.
    pricing: z.preprocess(
      (v) => (v === undefined || v === null ? DEFAULT_PRICING_INPUT : typeof v === 'object' && !Array.isArray(v) ? { ...DEFAULT_PRICING_INPUT, ...v } : v),
      pricingSchema,
    ),
    tenants: z.record(tenantIdSchema, tenantSchema).default({}),
  })
  .superRefine(
    (cfg, ctx) => {
      const names = new Set(cfg.models.map((m) => m.name));
      // Tenants that failed to parse are left out; the others are checked.
      const broken = new Set(ctx.issues.filter((i) => i.path?.[0] === 'tenants').map((i) => String(i.path?.[1])));
      for (const [tenant, t] of Object.entries(cfg.tenants ?? {})) {
        if (broken.has(tenant)) continue;
        if (t.plan !== undefined && !(t.plan in cfg.pricing.plans)) {
          ctx.addIssue({ code: 'custom', path: ['tenants', tenant, 'plan'], message: `unknown plan "${t.plan}" (pricing.plans has: ${Object.keys(cfg.pricing.plans).join(', ')})` });
        }
        for (const [logical, variant] of Object.entries(t.model_variants)) {
          if (!names.has(variant))
            ctx.addIssue({ code: 'custom', path: ['tenants', tenant, 'model_variants', logical], message: `unknown model "${variant}"` });
        }
        t.models.forEach((m, i) => {
          if (!names.has(m)) ctx.addIssue({ code: 'custom', path: ['tenants', tenant, 'models', i], message: `unknown model "${m}"` });
        });
      }
    },
    whenParsed('pricing', 'models'),
  )
  .superRefine((cfg, ctx) => {
    // A weight for a misspelt plan would leave the real plan at weight 1 without a word.
    for (const plan of Object.keys(cfg.quotas.plan_weights)) {
      if (!(plan in cfg.pricing.plans)) {
        ctx.addIssue({ code: 'custom', path: ['quotas', 'plan_weights', plan], message: `unknown plan "${plan}" (pricing.plans has: ${Object.keys(cfg.pricing.plans).join(', ')})` });
      }
    }
  }, whenParsed('quotas', 'pricing'))
  .superRefine((cfg, ctx) => {
    // Checked here, not in alerts/config.ts: the tenant id rule lives in this module. Also next to
    // another problem of the same webhook (its URL), so the value may be only partly parsed.
    const webhooks: unknown = cfg.alerts?.webhooks;
    if (!Array.isArray(webhooks)) return;
    webhooks.forEach((w: { tenants?: unknown } | undefined, i) => {
      if (!Array.isArray(w?.tenants)) return;
      w.tenants.forEach((t: unknown, j) => {
        if (typeof t === 'string' && !TENANT_ID_PATTERN.test(t)) ctx.addIssue({ code: 'custom', path: ['alerts', 'webhooks', i, 'tenants', j], message: TENANT_ID_RULE });
      });
    });
  }, whenParsed())
  .superRefine(
    (cfg, ctx) => {
      if (cfg.clickhouse.cluster !== undefined && cfg.clickhouse.url === undefined) {
        ctx.addIssue({ code: 'custom', path: ['clickhouse', 'cluster'], message: 'a cluster needs a ClickHouse server: set clickhouse.url (CLICKHOUSE_URL) too; the embedded engine is one node' });
      }
    },
    whenParsed('clickhouse'),
  )
  .superRefine((cfg, ctx) => {
    const names = new Set<string>();
    cfg.models.forEach((m, i) => {
      if (names.has(m.name)) ctx.addIssue({ code: 'custom', path: ['models', i, 'name'], message: `duplicate model "${m.name}"` });
      names.add(m.name);
    });
  }, whenParsed('models'));

export type Config = z.infer<typeof configSchema>;
export type ModelConfig = Config['models'][number];
export type TenantConfig = Config['tenants'][string];
