import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../env.ts';

export interface ReadinessCheck {
  name: string;
  check: () => Promise<boolean>;
}

const HealthSchema = z.object({ status: z.enum(['ok', 'unavailable']), checks: z.record(z.string(), z.boolean()).optional() });

const live = createRoute({
  method: 'get',
  path: '/healthz',
  summary: 'Liveness: the process serves HTTP',
  responses: { 200: { description: 'alive', content: { 'application/json': { schema: HealthSchema } } } },
});

const ready = createRoute({
  method: 'get',
  path: '/readyz',
  summary: 'Readiness: the store answers (models load before the server listens)',
  responses: {
    200: { description: 'ready', content: { 'application/json': { schema: HealthSchema } } },
    503: { description: 'not ready', content: { 'application/json': { schema: HealthSchema } } },
  },
});

export function registerHealthRoutes(app: OpenAPIHono<AppEnv>, checks: readonly ReadinessCheck[]): void {
  app.openapi(live, (c) => c.json({ status: 'ok' as const }, 200));
  app.openapi(ready, async (c) => {
    const results = await Promise.all(checks.map(async (ch) => [ch.name, await ch.check().catch(() => false)] as const));
    const body = { checks: Object.fromEntries(results) };
    return results.every(([, ok]) => ok)
      ? c.json({ status: 'ok' as const, ...body }, 200)
      : c.json({ status: 'unavailable' as const, ...body }, 503);
  });
}
