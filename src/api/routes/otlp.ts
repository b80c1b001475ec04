import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { KeyService } from '../../auth/key-service.ts';
import type { OtlpReceiver } from '../../ingest/otlp/receiver.ts';
import type { OtlpSender } from '../../ingest/otlp/tenancy.ts';
import { encodingOf, inflate } from '../../ingest/otlp/transport.ts';
import { AppError } from '../../errors.ts';
import { requireRole } from '../auth.ts';
import { readBodyBytes } from '../request-body.ts';
import type { AppEnv } from '../env.ts';
import { bearerSecurity, ErrorSchema, errorResponses } from '../schemas.ts';

/**
 * OTLP/HTTP receiver (SPEC §4): POST /v1/traces and /v1/metrics, protobuf or JSON, optionally
 * gzip'ed, answered in the request's encoding. Ingest keys write for their own tenant; the admin
 * key for the tenant each item names. The body is read raw (not through zod-openapi's JSON
 * validator): the OTLP decoders own validation of both encodings.
 */

export interface OtlpRouteDeps {
  keys: KeyService;
  otlp: OtlpReceiver;
  maxBodyBytes: number;
}

const SIGNALS = [
  { path: '/v1/traces', name: 'ExportTraceServiceRequest', export: 'exportTraces', rejected: 'rejectedSpans', noun: 'spans' },
  { path: '/v1/metrics', name: 'ExportMetricsServiceRequest', export: 'exportMetrics', rejected: 'rejectedDataPoints', noun: 'data points' },
] as const;

export function registerOtlpRoutes(app: OpenAPIHono<AppEnv>, deps: OtlpRouteDeps): void {
  const auth = requireRole(deps.keys, ['admin', 'ingest']);
  for (const signal of SIGNALS) {
    describeRoute(app, signal);
    app.post(signal.path, auth, async function otlpExport(c) {
      const encoding = encodingOf(c.req.header('content-type'));
      const raw = await readBodyBytes(c);
      const body = await inflate(raw, c.req.header('content-encoding'), deps.maxBodyBytes);
      const result = await deps.otlp[signal.export](senderOf(c), encoding, body);
      if (result.body instanceof Uint8Array) {
        return c.body(Buffer.from(result.body), 200, { 'Content-Type': 'application/x-protobuf' });
      }
      return c.json(result.body, 200);
    });
  }
}

function senderOf(c: Context<AppEnv>): OtlpSender {
  const principal = c.get('principal');
  if (principal.role === 'admin') return { role: 'admin' };
  if (principal.role === 'ingest' && principal.tenantId) return { role: 'ingest', tenantId: principal.tenantId };
  // requireRole admits only these two roles; an ingest key always belongs to a tenant.
  throw new AppError('forbidden', 'this key cannot send OTLP data', { code: 'wrong_role' });
}

function describeRoute(app: OpenAPIHono<AppEnv>, signal: (typeof SIGNALS)[number]): void {
  const partial = z.object({
    partialSuccess: z
      .object({ [signal.rejected]: z.string().openapi({ description: `int64: ${signal.noun} refused`, example: '2' }), errorMessage: z.string() })
      .optional(),
  });
  const binary = z.string().openapi({ format: 'binary', description: `protobuf-encoded ${signal.name} (opentelemetry-proto)` });
  app.openAPIRegistry.registerPath({
    method: 'post',
    path: signal.path,
    summary: `OTLP/HTTP ${signal.noun} export (ingest or admin key). Content-Encoding gzip accepted; the answer is in the request's encoding.`,
    security: bearerSecurity,
    request: {
      body: {
        required: true,
        content: {
          'application/x-protobuf': { schema: binary },
          'application/json': { schema: z.object({}).passthrough().openapi({ description: `${signal.name} in the OTLP/JSON mapping (hex ids, integer enums)` }) },
        },
      },
    },
    responses: {
      200: {
        description: `Accepted; partialSuccess counts the ${signal.noun} refused (another tenant's, missing tenant, invalid) and why`,
        content: { 'application/x-protobuf': { schema: binary }, 'application/json': { schema: partial } },
      },
      ...errorResponses,
      413: { description: 'Body over server.max_body_bytes (compressed or not)', content: { 'application/json': { schema: ErrorSchema } } },
      415: { description: 'Unsupported Content-Type or Content-Encoding', content: { 'application/json': { schema: ErrorSchema } } },
    },
  });
}
