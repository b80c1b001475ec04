import { OpenAPIHono } from '@hono/zod-openapi';
import type { Registry } from 'prom-client';
import type { CostContext } from '../attribution/cost-service.ts';
import type { KeyService } from '../auth/key-service.ts';
import type { FocusContext } from '../statements/render.ts';
import type { StatementContext } from '../statements/statement-service.ts';
import { limitBody } from './request-body.ts';
import { AppError } from '../errors.ts';
import type { QuotaAuthority } from '../quotas/types.ts';
import type { OtlpReceiver } from '../ingest/otlp/receiver.ts';
import type { InferenceService } from '../sidecar/inference-service.ts';
import { registerOipRoutes } from '../sidecar/http/oip-routes.ts';
import type { Store } from '../store/client.ts';
import type { AppEnv } from './env.ts';
import { errorBody, handleError, zodMessage } from './errors.ts';
import { registerHealthRoutes, type ReadinessCheck } from './routes/health.ts';
import { registerAlertRoutes } from './routes/alerts.ts';
import { registerCostRoutes } from './routes/costs.ts';
import { registerMetricsRoutes } from './routes/metrics.ts';
import { registerOtlpRoutes } from './routes/otlp.ts';
import { registerKeyRoutes } from './routes/keys.ts';
import { registerQuotaRoutes } from './routes/quotas.ts';
import { registerStatementRoutes } from './routes/statements.ts';
import { registerResourceSampleRoutes } from './routes/resource-samples.ts';
import { registerUsageRoutes } from './routes/usage.ts';
import type { RowSink } from '../ingest/row-sink.ts';
import type { SampleTimeWindow } from '../ingest/resource-samples.ts';

export interface HttpAppDeps {
  store: Store;
  keys: KeyService;
  tenantExists: (tenantId: string) => boolean;
  readiness: readonly ReadinessCheck[];
  maxBodyBytes: number;
  now: () => number;
  /** Present when this process serves inference (`up`, `sidecar`). */
  sidecar?: { inference: InferenceService; trustTenantHeader: boolean; isReady: () => boolean };
  /** Present when this process serves the tenant/admin API (`up`, `api`). */
  api?: { costs: CostContext; statements: StatementContext; focus: (tenantId: string) => FocusContext };
  /** Present when this process is the quota authority (`up`, `api`): quota status and lease endpoints. */
  quotas?: QuotaAuthority;
  /** Present when this process receives OTLP (`up`, `api`): POST /v1/traces and /v1/metrics. */
  otlp?: OtlpReceiver;
  /** Prometheus registry served at GET /metrics (admin key on the main port). */
  metrics?: Registry;
  /** Present when this process takes standalone sidecars' resource samples (`up`, `api`): POST /v1/resource-samples. */
  resourceSamples?: { sink: RowSink; window: () => SampleTimeWindow };
}

const OTLP_PATHS = new Set(['/v1/traces', '/v1/metrics']);

/** One Hono app for every process kind; which route groups exist depends on the deps given. */
export function createHttpApp(deps: HttpAppDeps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    // Validation failures of params, query or body: the product's JSON error, never Hono's default.
    defaultHook: (result, c) => {
      if (!result.success) return c.json(errorBody('invalid_request', zodMessage(result.error)), 400);
    },
  });
  app.onError(handleError);
  app.notFound((c) => {
    // A path that exists under other methods is a 405 that says which (RFC 9110 §15.5.6).
    const allowed = allowedMethods(app, c.req.path);
    if (allowed.length > 0) {
      c.header('Allow', allowed.join(', '));
      return c.json(errorBody('method_not_allowed', `${c.req.method} is not allowed on ${c.req.path}; allowed: ${allowed.join(', ')}`), 405);
    }
    return c.json(errorBody('not_found', `no route for ${c.req.method} ${c.req.path}`), 404);
  });
  app.use(
    '*',
    limitBody(deps.maxBodyBytes, () => {
      throw new AppError('payload_too_large', `request body exceeds ${deps.maxBodyBytes} bytes`);
    }),
  );
  // Only the OTLP receivers inflate a compressed body; anywhere else a gzipped JSON body would be
  // read as bytes and reported as malformed JSON, which sends the caller looking in the wrong place.
  app.use('*', async (c, next) => {
    const encoding = c.req.header('content-encoding')?.trim().toLowerCase();
    if (encoding && encoding !== 'identity' && !OTLP_PATHS.has(c.req.path)) {
      throw new AppError('unsupported_media_type', `Content-Encoding ${JSON.stringify(encoding)} is not accepted on ${c.req.path} (only the OTLP receivers take gzip): send the body uncompressed`, {
        code: 'unsupported_encoding',
      });
    }
    await next();
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });

  registerHealthRoutes(app, deps.readiness);
  if (deps.sidecar) registerOipRoutes(app, { keys: deps.keys, ...deps.sidecar });
  if (deps.api) {
    registerKeyRoutes(app, { keys: deps.keys, tenantExists: deps.tenantExists });
    registerUsageRoutes(app, deps);
    registerCostRoutes(app, { ...deps, costs: deps.api.costs });
    registerStatementRoutes(app, { ...deps, statements: deps.api.statements, focus: deps.api.focus });
    registerAlertRoutes(app, deps);
  }
  if (deps.resourceSamples) registerResourceSampleRoutes(app, { keys: deps.keys, samples: deps.resourceSamples.sink, sampleWindow: deps.resourceSamples.window });
  if (deps.otlp) registerOtlpRoutes(app, { keys: deps.keys, otlp: deps.otlp, maxBodyBytes: deps.maxBodyBytes });
  if (deps.metrics) registerMetricsRoutes(app, { keys: deps.keys, registry: deps.metrics });
  if (deps.quotas) registerQuotaRoutes(app, { ...deps, quotas: deps.quotas });
  app.doc31('/openapi.json', { openapi: '3.1.0', info: { title: 'inferledger', version: '0.1.0' } });
  return app;
}

/** The methods the app's routes (not middleware) answer on `path`, sorted; HEAD wherever GET is. */
function allowedMethods(app: OpenAPIHono<AppEnv>, path: string): string[] {
  const methods = new Set<string>();
  for (const route of app.routes) {
    if (route.method === 'ALL' || !routePattern(route.path).test(path)) continue;
    methods.add(route.method);
    if (route.method === 'GET') methods.add('HEAD');
  }
  return [...methods].sort();
}

const patterns = new Map<string, RegExp>();
/** A Hono route path (`/v1/tenants/:tenant/usage`, `:period{[0-9]{4}-[0-9]{2}}`, `*`) as a regular expression. */
function routePattern(path: string): RegExp {
  let re = patterns.get(path);
  if (!re) {
    const source = path
      .split('/')
      .map((part) => (part === '*' ? '.*' : part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/');
    // Hono matches paths strictly: `/usage/` is not `/usage`, so it is a 404 here too, not a 405.
    patterns.set(path, (re = new RegExp(`^${source}$`)));
  }
  return re;
}
