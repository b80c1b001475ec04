import { parseAccept } from 'hono/utils/accept';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import { requireTenantAccess, type KeyService } from '../../auth/key-service.ts';
import { METERS } from '../../pricing/price-book.ts';
import { renderCsv, renderFocus, type FocusContext } from '../../statements/render.ts';
import { getStatement, PERIOD_PATTERN, type StatementContext } from '../../statements/statement-service.ts';
import { requireRole } from '../auth.ts';
import type { AppEnv } from '../env.ts';
import { bearerSecurity, errorResponses, TENANT_PARAM } from '../schemas.ts';

export type StatementFormat = 'json' | 'csv' | 'focus';

/** `?format=` wins; otherwise the Accept header; JSON by default. */
/**
 * `?format=` wins; else the Accept header with its q-values (RFC 9110 §12.5.1): the most
 * preferred of JSON and CSV, `text/csv;q=0` refusing CSV; JSON when it names neither. FOCUS is
 * CSV too, so it is asked for by `?format=focus` only.
 */
export function negotiateFormat(format: StatementFormat | undefined, accept: string | undefined): StatementFormat {
  if (format) return format;
  if (!accept) return 'json';
  // Most preferred first (parseAccept sorts by q); q=0 means "not this".
  for (const { type, q } of parseAccept(accept)) {
    if (q <= 0) continue;
    const t = type.toLowerCase();
    if (t === 'text/csv') return 'csv';
    if (t === 'application/json' || t === 'application/*' || t === '*/*') return 'json';
    if (t === 'text/*') return 'csv';
  }
  return 'json';
}

const Params = z.object({
  tenant: TENANT_PARAM,
  period: z.string().regex(PERIOD_PATTERN, 'period must be a month from 1970-01 to 2099-12, as YYYY-MM').openapi({ param: { name: 'period', in: 'path' }, example: '2026-10' }),
});

const Money = z.string().openapi({ example: '12.345678', description: 'decimal amount in the currency' });

/** The JSON statement (statements/types.ts `Statement`), for the OpenAPI document. */
const StatementSchema = z
  .object({
    tenant: z.string(),
    period: z.string().openapi({ example: '2026-10' }),
    period_start: z.string().openapi({ description: 'RFC 3339, inclusive' }),
    period_end: z.string().openapi({ description: 'RFC 3339, exclusive' }),
    currency: z.string().openapi({ example: 'USD' }),
    plan: z.string(),
    status: z.enum(['open', 'issued']),
    generated_at: z.string().openapi({ description: 'open: end of the last hour with usage; issued: when it was frozen' }),
    lines: z.array(
      z.object({
        model: z.string(),
        meter: z.enum(METERS),
        tier: z.number().int().openapi({ description: '1-based tier, 0 for a flat price' }),
        price_effective_from: z.string(),
        quantity: z.number().openapi({ description: 'in `unit`' }),
        unit: z.enum(['request', '1k tokens', 'second']),
        unit_price: Money,
        amount: Money,
        included_quantity: z.number().openapi({ description: "part of `quantity` covered by the plan's allowance" }),
      }),
    ),
    subtotal: Money,
    adjustments: z.array(z.object({ period: z.string(), model: z.string(), meter: z.string(), amount: Money, description: z.string() })),
    adjustments_total: Money,
    total: Money,
  })
  .openapi('Statement');

export interface StatementRouteDeps {
  statements: StatementContext;
  focus: (tenantId: string) => FocusContext;
  keys: KeyService;
  tenantExists: (tenantId: string) => boolean;
}

export function registerStatementRoutes(app: OpenAPIHono<AppEnv>, deps: StatementRouteDeps): void {
  const route = createRoute({
    method: 'get',
    path: '/v1/tenants/{tenant}/statements/{period}',
    summary: "A tenant's usage statement for a month: JSON, CSV or FOCUS 1.2 (CSV). Closed months are frozen.",
    security: bearerSecurity,
    middleware: [requireRole(deps.keys, ['admin', 'tenant'])] as const,
    request: { params: Params, query: z.object({ format: z.enum(['json', 'csv', 'focus']).optional() }) },
    responses: {
      200: {
        description: 'statement',
        content: { 'application/json': { schema: StatementSchema }, 'text/csv': { schema: z.string().openapi({ description: 'the statement as CSV, or FOCUS 1.2 rows with ?format=focus' }) } },
      },
      ...errorResponses,
    },
  });
  app.openapi(route, async (c) => {
    const { tenant, period } = c.req.valid('param');
    requireTenantAccess(c.get('principal'), tenant, deps.tenantExists);
    const format = negotiateFormat(c.req.valid('query').format, c.req.header('accept'));
    const { statement, json } = await getStatement(deps.statements, tenant, period);
    c.header('Vary', 'Accept');
    if (format === 'json') return c.body(json, 200, { 'Content-Type': 'application/json; charset=utf-8' });
    const body = format === 'csv' ? renderCsv(statement) : renderFocus(statement, deps.focus(tenant));
    return c.body(body, 200, {
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': `attachment; filename="statement-${tenant}-${period}${format === 'focus' ? '-focus' : ''}.csv"`,
    });
  });
}
