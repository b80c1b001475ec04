import { z } from '@hono/zod-openapi';
import { MODEL_NAME_PATTERN, MODEL_NAME_RULE, TENANT_ID_PATTERN, TENANT_ID_RULE } from '../config/schema.ts';

/** Schemas shared by API routes; the OpenAPI document is generated from these. */

export const ErrorSchema = z
  .object({ error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }) })
  .openapi('Error');

export const errorResponses = {
  400: { description: 'Invalid request', content: { 'application/json': { schema: ErrorSchema } } },
  401: { description: 'Missing or invalid API key', content: { 'application/json': { schema: ErrorSchema } } },
  403: { description: 'Key lacks the role', content: { 'application/json': { schema: ErrorSchema } } },
  404: { description: 'Not found (or another tenant\'s)', content: { 'application/json': { schema: ErrorSchema } } },
  503: { description: 'Store unavailable', content: { 'application/json': { schema: ErrorSchema } } },
} as const;

export const TENANT_PARAM = z.string().regex(TENANT_ID_PATTERN, TENANT_ID_RULE).openapi({ param: { name: 'tenant', in: 'path' }, example: 'acme' });
export const TenantParams = z.object({ tenant: TENANT_PARAM });

export const ModelParams = z.object({
  model: z.string().regex(MODEL_NAME_PATTERN, MODEL_NAME_RULE).openapi({ param: { name: 'model', in: 'path' }, example: 'classifier-small' }),
});

export const bearerSecurity = [{ bearer: [] as string[] }];
