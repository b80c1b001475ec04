import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Registry } from 'prom-client';
import type { KeyService } from '../../auth/key-service.ts';
import { requireRole, type AuthEnv } from '../auth.ts';
import { bearerSecurity, errorResponses } from '../schemas.ts';

export interface MetricsRouteDeps {
  keys: KeyService;
  registry: Registry;
}

/**
 * `GET /metrics` (Prometheus text). SPEC §7: anyone on a separate metrics port, or admin. There is
 * no metrics port yet, so on the main port it needs an admin key: Prometheus scrapes it with
 * `authorization: { type: Bearer, credentials_file: ... }` in its scrape config.
 */
export function registerMetricsRoutes(app: OpenAPIHono<AuthEnv>, deps: MetricsRouteDeps): void {
  const route = createRoute({
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics (admin key on the main port)',
    security: bearerSecurity,
    middleware: [requireRole(deps.keys, ['admin'])] as const,
    responses: {
      200: { description: 'Prometheus text exposition format 0.0.4', content: { 'text/plain': { schema: z.string() } } },
      ...errorResponses,
    },
  });
  app.openapi(route, async (c) => {
    const text = await deps.registry.metrics();
    // Not c.text's default text/plain; charset=UTF-8: Prometheus reads the exposition version.
    return c.text(text, 200, { 'Content-Type': deps.registry.contentType });
  });
}
