import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { KeyService } from '../../auth/key-service.ts';
import { AppError } from '../../errors.ts';
import { clientGoneSignal } from './client-gone.ts';
import { readBodyText } from '../../api/request-body.ts';
import { bearerSecurity, errorResponses, ModelParams } from '../../api/schemas.ts';
import { preciseNow, type InferenceService } from '../inference-service.ts';
import { resolveTenant, type SidecarEnv } from './tenant-auth.ts';

/** Open Inference Protocol v2 (KServe / Triton REST) over the inference service. */

const TensorSpec = z.object({ name: z.string(), datatype: z.string(), shape: z.array(z.number()) });
const ModelSummary = z.object({ name: z.string(), versions: z.array(z.string()), platform: z.string() });
const ModelMetadata = ModelSummary.extend({ inputs: z.array(TensorSpec), outputs: z.array(TensorSpec) }).openapi('ModelMetadata');
const InferResponse = z
  .object({
    model_name: z.string(),
    model_version: z.string(),
    id: z.string().optional(),
    outputs: z.array(TensorSpec.extend({ data: z.array(z.unknown()) })),
  })
  .openapi('InferResponse');

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });

/** Shared by the plain and the version-scoped routes, so their OpenAPI descriptions cannot drift apart. */
const READY_RESPONSES = { 200: json(z.object({ name: z.string(), ready: z.boolean() }), 'ready'), ...errorResponses };
const INFER_RESPONSES = {
  200: json(InferResponse, 'outputs'),
  ...errorResponses,
  429: json(z.object({ error: z.object({ code: z.string(), message: z.string() }) }), 'saturated or over quota; see Retry-After'),
};

export interface OipRouteDeps {
  keys: KeyService;
  inference: InferenceService;
  trustTenantHeader: boolean;
  isReady: () => boolean;
}

export function registerOipRoutes(app: OpenAPIHono<SidecarEnv>, deps: OipRouteDeps): void {
  const auth = resolveTenant(deps.keys, deps.trustTenantHeader);
  const authed = { security: bearerSecurity, middleware: auth };

  app.openapi(createRoute({ method: 'get', path: '/v2/health/live', responses: { 200: json(z.object({ live: z.boolean() }), 'live') } }), (c) =>
    c.json({ live: true }, 200),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v2/health/ready',
      responses: { 200: json(z.object({ ready: z.boolean() }), 'ready'), 503: json(z.object({ ready: z.boolean() }), 'not ready') },
    }),
    (c) => (deps.isReady() ? c.json({ ready: true }, 200) : c.json({ ready: false }, 503)),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v2',
      summary: 'Server metadata (OIP): name, version, extensions',
      responses: { 200: json(z.object({ name: z.string(), version: z.string(), extensions: z.array(z.string()) }), 'server metadata') },
    }),
    (c) => c.json({ name: 'inferledger', version: SERVER_VERSION, extensions: [] }, 200),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v2/models',
      summary: 'Extension: the models the caller may use',
      ...authed,
      responses: { 200: json(z.object({ models: z.array(ModelSummary) }), 'models'), ...errorResponses },
    }),
    (c) => c.json({ models: deps.inference.listModels(c.get('tenantId')) }, 200),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v2/models/{model}',
      summary: 'Model metadata: inputs and outputs with datatype and shape (-1 = dynamic)',
      ...authed,
      request: { params: ModelParams },
      responses: { 200: json(ModelMetadata, 'metadata'), ...errorResponses },
    }),
    (c) => c.json(deps.inference.modelMetadata(c.get('tenantId'), c.req.valid('param').model), 200),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v2/models/{model}/ready',
      ...authed,
      request: { params: ModelParams },
      responses: READY_RESPONSES,
    }),
    (c) => {
      const { model } = c.req.valid('param');
      deps.inference.modelMetadata(c.get('tenantId'), model); // 404 when unknown to this tenant
      return c.json({ name: model, ready: deps.isReady() }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v2/models/{model}/infer',
      summary: 'Run inference: body {"inputs":[{"name","shape","datatype","data"}]} (validated against the model metadata)',
      ...authed,
      request: { params: ModelParams },
      responses: INFER_RESPONSES,
    }),
    async (c) => {
      // From here, not from after the body was read and parsed: a large request's upload and
      // parse are part of the latency its client sees, and of what usage and /metrics report.
      const receivedAt = preciseNow();
      const body = await readInferBody(c);
      return c.json(await deps.inference.infer(c.get('tenantId'), c.req.valid('param').model, body, receivedAt, connectionOf(c), clientGoneSignal(c)), 200);
    },
  );

  // Version-scoped forms of the same routes (tritonclient and KServe clients that pin a version):
  // each model serves one version, so another version is model_not_found, never "no route".
  const versioned = (tenantId: string, model: string, version: string) => {
    const metadata = deps.inference.modelMetadata(tenantId, model);
    if (!metadata.versions.includes(version)) {
      throw new AppError('not_found', `version "${version}" of model "${model}" not found (serving: ${metadata.versions.join(', ')})`, { code: 'model_not_found' });
    }
    return metadata;
  };
  app.openapi(
    createRoute({ method: 'get', path: '/v2/models/{model}/versions/{version}', ...authed, request: { params: VersionParams }, responses: { 200: json(ModelMetadata, 'metadata'), ...errorResponses } }),
    (c) => {
      const { model, version } = c.req.valid('param');
      return c.json(versioned(c.get('tenantId'), model, version), 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v2/models/{model}/versions/{version}/ready',
      ...authed,
      request: { params: VersionParams },
      responses: READY_RESPONSES,
    }),
    (c) => {
      const { model, version } = c.req.valid('param');
      versioned(c.get('tenantId'), model, version);
      return c.json({ name: model, ready: deps.isReady() }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v2/models/{model}/versions/{version}/infer',
      ...authed,
      request: { params: VersionParams },
      responses: INFER_RESPONSES,
    }),
    async (c) => {
      const receivedAt = preciseNow();
      const { model, version } = c.req.valid('param');
      versioned(c.get('tenantId'), model, version);
      const body = await readInferBody(c);
      return c.json(await deps.inference.infer(c.get('tenantId'), model, body, receivedAt, connectionOf(c), clientGoneSignal(c)), 200);
    },
  );
}

const SERVER_VERSION = '0.1.0';
const VersionParams = ModelParams.extend({ version: z.string().min(1).max(64).openapi({ param: { name: 'version', in: 'path' }, example: '1' }) });

/** Triton's binary-tensor extension (a JSON header, then raw bytes) is refused by name, not as malformed JSON. */
async function readInferBody(c: Context): Promise<unknown> {
  if (c.req.header('inference-header-content-length') !== undefined) {
    throw new AppError('unsupported_media_type', 'binary tensor data (Inference-Header-Content-Length) is not supported: send a JSON body with the tensors in "data"', {
      code: 'binary_data_unsupported',
    });
  }
  const text = await readBodyText(c);
  if (text.trim() === '') throw new AppError('invalid', 'request body is empty: expected a JSON inference request', { code: 'invalid_json' });
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new AppError('invalid', `request body is not valid JSON: ${(err as Error).message}`, { code: 'invalid_json' });
  }
}

/** The TCP connection under node-server (`c.env.incoming.socket`); undefined elsewhere (tests through `app.request`). */
function connectionOf(c: Context): object | undefined {
  const socket = (c.env as { incoming?: { socket?: unknown } } | undefined)?.incoming?.socket;
  return typeof socket === 'object' && socket !== null ? socket : undefined;
}
