import { parseMoney, parseRate } from '../money/money.ts';
import type { MeterPrice, PlanVersion } from '../pricing/price-book.ts';
import { rateStatement } from './rate-usage.ts';
import type { Adjustment, MeteredHour, Statement } from './types.ts';

/** Fixtures and helpers shared by the statement tests (test-only; nothing in src imports this). */

export const H = 3_600_000;
/** 2026-10-01T00:00:00Z: the period most tests rate. */
export const OCT = Date.UTC(2026, 9, 1);
export const BEFORE = Date.UTC(2026, 0, 1);

export const flat = (price: string, included = 0): MeterPrice => ({ unit_price: parseRate(price), included });

export const tiered = (tiers: Array<[number | undefined, string]>, included = 0): MeterPrice => ({
  tiers: tiers.map(([upTo, price]) => (upTo === undefined ? { unit_price: parseRate(price) } : { up_to: upTo, unit_price: parseRate(price) })),
  included,
});

export const version = (effectiveFrom: number, meters: PlanVersion['meters']): PlanVersion => ({ effective_from: effectiveFrom, meters });

export function usageAt(hourIndex: number, model: string, q: Partial<Omit<MeteredHour, 'hour' | 'model'>>): MeteredHour {
  return { hour: OCT + hourIndex * H, model, requests: 0n, inputTokens: 0n, outputTokens: 0n, cpuUs: 0n, gpuUs: 0n, ...q };
}

export function rate(usage: MeteredHour[], versions: PlanVersion[], adjustments: Adjustment[] = [], period = '2026-10'): Statement {
  return rateStatement({
    tenant: 'acme', period, plan: 'standard', planVersions: versions, currency: 'USD',
    usage, adjustments, status: 'open', generatedAt: OCT + 40 * 24 * H,
  });
}

export const adjustment = (amount: string, over: Partial<Adjustment> = {}): Adjustment =>
  ({ period: '2026-09', model: 'resnet', meter: 'requests', amount: parseMoney(amount), description: 'late usage for 2026-09', ...over });

/** Strict RFC 4180 reader: quoted fields, doubled quotes, CRLF-terminated records; throws on anything else. */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i]!;
    if (quoted) {
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') { field += '"'; i += 1; }
      else if (text[i + 1] === ',' || text[i + 1] === '\r') quoted = false;
      else throw new Error(`text after a closing quote at ${i}`);
    } else if (c === '"' && field === '') quoted = true;
    else if (c === ',') { record.push(field); field = ''; }
    else if (c === '\r' && text[i + 1] === '\n') { record.push(field); records.push(record); record = []; field = ''; i += 1; }
    else if (c === '"' || c === '\r' || c === '\n') throw new Error(`bare ${JSON.stringify(c)} in an unquoted field at ${i}`);
    else field += c;
  }
  if (quoted || field !== '' || record.length > 0) throw new Error('last record is not terminated by CRLF');
  return records;
}
