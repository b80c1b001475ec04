import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AppError } from '../errors.ts';
import type { PriceBook } from '../pricing/price-book.ts';
import type { Store } from '../store/client.ts';
import { usageHourRow, usageHoursQuery, type UsageHourRow } from '../store/queries/costs.ts';
import { issuedStatementQuery, issuedStatementRow, issuedStatementsBetweenQuery, issuedTermsQuery, issuedTermsRow } from '../store/queries/statements.ts';
import { diffForAdjustments, rateStatement, toAdjustment } from './rate-usage.ts';
import { renderJson } from './render.ts';
import type { AdjustmentLine, MeteredHour, Statement } from './types.ts';
import { periodBounds } from './units.ts';

/**
 * Statements for a tenant and month. An open month is computed on request from the hourly rollup.
 * A closed month (ended more than `closeGraceHours` ago) is issued once and frozen: its exact JSON
 * bytes are stored and served from then on. Usage that arrives for a frozen month later shows up
 * as an adjustment in the next statement issued, never as an edit of the old one.
 */

export interface StatementContext {
  store: Store;
  pricing: PriceBook;
  planOf: (tenantId: string) => string;
  closeGraceHours: number;
  now: () => number;
}

export interface ServedStatement {
  statement: Statement;
  /** The JSON bytes: stored ones for an issued statement, so every fetch is byte-identical. */
  json: string;
}

/** How far back an issued month is re-checked for late usage. */
const ADJUSTMENT_LOOKBACK_MONTHS = 12;
const HOUR = 3_600_000;
/** A month in the span every instant of the API lies in (1970 to 2099, as `from`/`to`). */
const HOUR_MS = 3_600_000;

export const PERIOD_PATTERN = /^(19[7-9]\d|20\d\d)-(0[1-9]|1[0-2])$/;
/** Sorts after every 'YYYY-MM' (as text): the open upper bound of a period range. */
const AFTER_EVERY_PERIOD = '9999-99';

export async function getStatement(ctx: StatementContext, tenantId: string, period: string): Promise<ServedStatement> {
  const { start, end } = periodBounds(period);
  const now = ctx.now();
  if (start > now) throw new AppError('not_found', `period ${period} has not started`, { code: 'period_not_started' });

  const issued = await readIssued(ctx.store, tenantId, period);
  if (issued) return issued;

  const closed = end + ctx.closeGraceHours * HOUR <= now;
  const statement = await computeStatement(ctx, tenantId, period, closed ? 'issued' : 'open', now);
  if (!closed) return { statement, json: renderJson(statement) };
  await storeIssued(ctx.store, statement, now);
  // Another replica may have issued the same month a moment earlier: serve whichever is stored.
  const stored = await readIssued(ctx.store, tenantId, period);
  if (!stored) throw new AppError('unavailable', `statement ${tenantId}/${period} was issued but cannot be read back`);
  return stored;
}

async function computeStatement(
  ctx: StatementContext,
  tenantId: string,
  period: string,
  status: Statement['status'],
  now: number,
  opts: { plan?: string; withAdjustments: boolean } = { withAdjustments: true },
): Promise<Statement> {
  const { start, end } = periodBounds(period);
  const rows = await ctx.store.query({ ...usageHoursQuery({ from: start, to: end }, tenantId), schema: usageHourRow });
  const plan = opts.plan ?? ctx.planOf(tenantId);
  const adjustments = opts.withAdjustments ? await lateUsageAdjustments(ctx, tenantId, period) : [];
  return rateStatement({
    tenant: tenantId,
    period,
    plan,
    planVersions: ctx.pricing.plans[plan] ?? [],
    currency: ctx.pricing.currency,
    usage: toMeteredHours(rows),
    adjustments: adjustments.map(toAdjustment),
    status,
    // An open statement is stamped with the end of the latest hour its data covers ("usage up to
    // here"), not the clock (nor the rollup's computed_at, which a harmless recompute moves): the
    // same data gives the same bytes. With no usage yet, the month's start. An issued one carries
    // the moment it was frozen.
    generatedAt: status === 'issued' ? now : rows.length ? rows.reduce((m, r) => Math.max(m, r.hour_ms), start) + HOUR_MS : start,
  });
}

/** For each issued earlier month: what its usage rates to now, minus what was billed and adjusted. */
async function lateUsageAdjustments(ctx: StatementContext, tenantId: string, period: string): Promise<AdjustmentLine[]> {
  // Issued months after this one count too: months are issued when first fetched, so a later month
  // may already have carried an adjustment that this one would otherwise carry a second time.
  const rows = await ctx.store.query({
    ...issuedStatementsBetweenQuery(tenantId, shiftPeriod(period, -ADJUSTMENT_LOOKBACK_MONTHS), AFTER_EVERY_PERIOD),
    schema: issuedStatementRow,
  });
  const statements = rows.map((row) => parseStored(row.body)).filter((s) => s.period !== period);
  const out: AdjustmentLine[] = [];
  for (const [i, issued] of statements.entries()) {
    if (issued.period > period) break;
    const alreadyAdjusted = statements.slice(i + 1).flatMap((s) => s.adjustments);
    // Re-rated with the plan it was issued under; its own adjustments are not part of the diff.
    const recomputed = await computeStatement(ctx, tenantId, issued.period, 'issued', 0, { plan: issued.plan, withAdjustments: false });
    out.push(...diffForAdjustments(issued, recomputed, alreadyAdjusted));
  }
  return out;
}

/**
 * What the price book must still hold for the issued statements that late usage re-rates (those
 * of the last ADJUSTMENT_LOOKBACK_MONTHS): each one's plan, and its currency. Found by
 * dogfooding: a plan renamed in the config re-rated October to nothing and refunded all of it on
 * November's statement; a currency change made every open statement a 500. Returns the problems,
 * one line each (empty when none), for the start-up to refuse the config with.
 */
export async function issuedTermsProblems(ctx: Pick<StatementContext, 'store' | 'pricing' | 'now'>): Promise<string[]> {
  const now = new Date(ctx.now());
  const current = `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
  const from = shiftPeriod(current, -ADJUSTMENT_LOOKBACK_MONTHS);
  const rows = await ctx.store.query({ ...issuedTermsQuery(from), schema: issuedTermsRow });
  const problems: string[] = [];
  const named = (r: (typeof rows)[number]) => `issued statements (${r.tenants.join(', ')}; ${r.periods.join(', ')})`;
  for (const r of rows) {
    if (!(r.plan in ctx.pricing.plans)) {
      problems.push(`pricing.plans: "${r.plan}" is gone, but ${named(r)} were rated with it and late usage re-rates them: keep the plan (add a version to change its prices; rename nothing)`);
    }
    if (r.currency !== ctx.pricing.currency) {
      problems.push(`pricing.currency: ${ctx.pricing.currency}, but ${named(r)} are in ${r.currency}: one currency per deployment`);
    }
  }
  return problems;
}

async function readIssued(store: Store, tenantId: string, period: string): Promise<ServedStatement | undefined> {
  const [row] = await store.query({ ...issuedStatementQuery(tenantId, period), schema: issuedStatementRow });
  return row ? { statement: parseStored(row.body), json: row.body } : undefined;
}

async function storeIssued(store: Store, statement: Statement, now: number): Promise<void> {
  const body = renderJson(statement);
  await store.insert('statements', [
    {
      tenant_id: statement.tenant,
      period: statement.period,
      plan: statement.plan,
      currency: statement.currency,
      subtotal: statement.subtotal,
      adjustments_total: statement.adjustments_total,
      total: statement.total,
      body,
      body_sha256: createHash('sha256').update(body).digest('hex'),
      issued_at: new Date(now).toISOString(),
      // Earliest issue wins in ReplacingMergeTree(version): invert the time.
      version: (2n ** 63n - BigInt(now)).toString(),
    },
  ]);
}

const storedStatement = z.object({ tenant: z.string(), period: z.string(), plan: z.string(), currency: z.string() }).passthrough();

function parseStored(body: string): Statement {
  const parsed = storedStatement.safeParse(JSON.parse(body));
  if (!parsed.success) throw new AppError('internal', `stored statement is unreadable: ${parsed.error.message}`);
  return parsed.data as unknown as Statement;
}

/** Hourly rollup rows (per instance and variant) summed to (hour, logical model). */
export function toMeteredHours(rows: readonly UsageHourRow[]): MeteredHour[] {
  const byKey = new Map<string, MeteredHour>();
  for (const r of rows) {
    const key = `${r.hour_ms}\u0000${r.model}`;
    const m = byKey.get(key) ?? { hour: r.hour_ms, model: r.model, requests: 0n, inputTokens: 0n, outputTokens: 0n, cpuUs: 0n, gpuUs: 0n };
    m.requests += r.requests;
    m.inputTokens += r.input_tokens;
    m.outputTokens += r.output_tokens;
    m.cpuUs += r.cpu_us;
    m.gpuUs += r.gpu_us;
    byKey.set(key, m);
  }
  return [...byKey.values()];
}

export function shiftPeriod(period: string, months: number): string {
  const [y, m] = period.split('-').map(Number) as [number, number];
  const index = y * 12 + (m - 1) + months;
  return `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, '0')}`;
}
