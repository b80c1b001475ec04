import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { Hono, type Context } from 'hono';
import type { Registry } from 'prom-client';
import type { KeyService } from '../../auth/key-service.ts';
import { requireRole, type AuthEnv } from '../auth.ts';
import { errorBody } from '../errors.ts';
import { bearerSecurity, errorResponses } from '../schemas.ts';

export interface MetricsRouteDeps {
  keys: KeyService;
  registry: Registry;
}

/**
 * `GET /metrics` (Prometheus text). SPEC §7: anyone on the metrics port, or admin. On the main
 * port it needs an admin key (Prometheus: `authorization: { type: Bearer, credentials_file: ... }`);
 * with `server.metrics_port` set, `createMetricsPortApp` serves it there without auth.
 */
export function registerMetricsRoutes(app: OpenAPIHono<AuthEnv>, deps: MetricsRouteDeps): void {
  const route = createRoute({
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics (admin key here; no key on server.metrics_port)',
    security: bearerSecurity,
    middleware: [requireRole(deps.keys, ['admin'])] as const,
    responses: {
      200: { description: 'Prometheus text exposition format 0.0.4', content: { 'text/plain': { schema: z.string() } } },
      ...errorResponses,
    },
  });
  app.openapi(route, (c) => metricsResponse(c, deps.registry));
}

/**
 * The app of the metrics port: GET /metrics for anyone who can reach the port, and nothing else
 * (no API, no inference, no key checks), so it can be opened to the monitoring network alone.
 */
export function createMetricsPortApp(registry: Registry): Hono {
  const app = new Hono();
  app.get('/metrics', (c) => metricsResponse(c, registry));
  app.notFound((c) => c.json(errorBody('not_found', `the metrics port serves GET /metrics only, not ${c.req.method} ${c.req.path}`), 404));
  app.onError((err, c) => c.json(errorBody('internal', `metrics: ${err.message}`), 500));
  return app;
}

async function metricsResponse(c: Context, registry: Registry) {
  const text = await registry.metrics();
  // Not c.text's default text/plain; charset=UTF-8: Prometheus reads the exposition version.
  return c.text(text, 200, { 'Content-Type': registry.contentType });
}
