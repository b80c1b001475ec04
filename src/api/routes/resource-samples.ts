import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { KeyService } from '../../auth/key-service.ts';
import { AppError, limitIssues } from '../../errors.ts';
import { checkSamples, ResourceSamplesBody, type SampleTimeWindow } from '../../ingest/resource-samples.ts';
import type { RowSink } from '../../ingest/row-sink.ts';
import { requireRole, type AuthEnv } from '../auth.ts';
import { bearerSecurity, errorResponses } from '../schemas.ts';

const Accepted = z
  .object({ accepted: z.object({ resource_samples: z.number().int(), gpu_samples: z.number().int() }) })
  .openapi('ResourceSamplesAccepted');

export interface ResourceSampleRouteDeps {
  keys: KeyService;
  /** The never-drop sink (store, else the disk spool): samples are billing inputs. */
  samples: RowSink;
  sampleWindow: () => SampleTimeWindow;
}

/**
 * `POST /v1/resource-samples` (admin): a standalone sidecar's resource samples, when it exports
 * its spans by OTLP and has no ClickHouse of the API's (see src/ingest/resource-samples.ts).
 * All or nothing: a body with one bad row writes no row. Sending a window again is harmless
 * (the tables collapse on instance, window and time).
 */
export function registerResourceSampleRoutes(app: OpenAPIHono<AuthEnv>, deps: ResourceSampleRouteDeps): void {
  const post = createRoute({
    method: 'post',
    path: '/v1/resource-samples',
    summary: "Resource samples of a sidecar that exports by OTLP (admin): the capacity cost attribution prices.",
    security: bearerSecurity,
    middleware: [requireRole(deps.keys, ['admin'])] as const,
    request: { body: { required: true, content: { 'application/json': { schema: ResourceSamplesBody } } } },
    responses: {
      200: { description: 'stored (or durably spooled)', content: { 'application/json': { schema: Accepted } } },
      ...errorResponses,
    },
  });
  app.openapi(post, async (c) => {
    const body = c.req.valid('json');
    const problems = checkSamples(body, deps.sampleWindow());
    if (problems.length) {
      throw new AppError('invalid', `${problems.length} problem(s), nothing written: ${limitIssues(problems)}`, { code: 'invalid_samples' });
    }
    await deps.samples.write('resource_samples', body.resource_samples);
    await deps.samples.write('gpu_samples', body.gpu_samples);
    return c.json({ accepted: { resource_samples: body.resource_samples.length, gpu_samples: body.gpu_samples.length } }, 200);
  });
}
