import { describe, expect, it } from 'vitest';
import { parseMoney, parseRate } from '../money/money.ts';
import { FOCUS_COLUMNS, FOCUS_MANDATORY_COLUMNS, renderFocus, type FocusContext } from './focus.ts';
import { adjustment, BEFORE, flat, H, OCT, parseCsv, rate, tiered, usageAt, version } from './test-support.ts';

const ctx: FocusContext = {
  providerName: 'Acme Cloud',
  publisherName: 'Acme Cloud',
  invoiceIssuerName: 'Acme Cloud Ltd',
  billingAccountId: 'acct-1',
  billingAccountName: 'Acme main',
  serviceName: 'Inference',
  serviceCategory: 'AI and Machine Learning',
};

const versions = [
  version(BEFORE, { requests: flat('0.0001', 100), input_tokens: tiered([[1, '0.0005'], [undefined, '0.0004']]), cpu_seconds: flat('0.0002') }),
  version(OCT + 48 * H, { requests: flat('0.0002', 100), input_tokens: flat('0.0003'), cpu_seconds: flat('0.0002') }),
];
const statement = rate(
  [
    usageAt(0, 'resnet', { requests: 60n, inputTokens: 1500n, cpuUs: 1_234_567n }),
    usageAt(50, 'resnet', { requests: 90n, inputTokens: 10n }),
    usageAt(51, '=cmd()', { requests: 1n }),
  ],
  versions,
  [adjustment('-0.500000'), adjustment('0.100000', { period: '2026-10', description: 'manual, "fix"' })],
);

const [header = [], ...rows] = parseCsv(renderFocus(statement, ctx));
const records = rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]!])) as Record<string, string>);
const usage = records.filter((r) => r.ChargeCategory === 'Usage');
const adjustments = records.filter((r) => r.ChargeCategory === 'Adjustment');

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const DECIMAL = /^-?\d+(\.\d+)?$/;

describe('FOCUS columns', () => {
  it('has every FOCUS_COLUMNS entry in the header, in order, and every 1.2 mandatory column', () => {
    expect(header).toEqual([...FOCUS_COLUMNS]);
    for (const column of FOCUS_MANDATORY_COLUMNS) expect(header).toContain(column);
    expect(new Set(FOCUS_COLUMNS).size).toBe(FOCUS_COLUMNS.length);
  });

  it('has one Usage row per line and one Adjustment row per adjustment, every row complete', () => {
    expect(usage).toHaveLength(statement.lines.length);
    expect(adjustments).toHaveLength(statement.adjustments.length);
    for (const r of rows) expect(r).toHaveLength(FOCUS_COLUMNS.length);
  });

  it('is byte-identical when rendered twice', () => {
    expect(renderFocus(statement, ctx)).toBe(renderFocus(statement, ctx));
  });
});

describe('FOCUS values', () => {
  it.each(records.map((r, i) => [i, r] as const))('row %i is valid', (_i, r) => {
    for (const c of ['BillingPeriodStart', 'BillingPeriodEnd', 'ChargePeriodStart', 'ChargePeriodEnd']) {
      expect(r[c]).toMatch(INSTANT);
      expect(Number.isFinite(Date.parse(r[c]!))).toBe(true);
    }
    expect(Date.parse(r.ChargePeriodStart!)).toBeLessThan(Date.parse(r.ChargePeriodEnd!));
    expect(r.BillingCurrency).toMatch(/^[A-Z]{3}$/);
    expect(['Usage', 'Purchase', 'Tax', 'Credit', 'Adjustment']).toContain(r.ChargeCategory);
    expect(['', 'Correction']).toContain(r.ChargeClass);
    expect(['One-Time', 'Recurring', 'Usage-Based']).toContain(r.ChargeFrequency);
    for (const c of ['BilledCost', 'EffectiveCost', 'ListCost', 'ContractedCost']) expect(r[c]).toMatch(DECIMAL);
    expect(r.EffectiveCost).toBe(r.BilledCost);
    expect(r.ServiceCategory).toBe('AI and Machine Learning');
    expect(r.ServiceSubcategory).toBe('AI Platforms');
    expect(r.SubAccountId).toBe('acme');
    for (const c of ['BillingAccountId', 'BillingAccountName', 'InvoiceIssuerName', 'ProviderName', 'PublisherName', 'ServiceName', 'ChargeDescription']) {
      expect(r[c]).not.toBe('');
    }
    expect(r.Tags === '' || typeof JSON.parse(r.Tags!) === 'object').toBe(true);
  });

  it.each(usage.map((r, i) => [i, r] as const))('usage row %i prices its quantity: ListCost = ListUnitPrice × PricingQuantity', (_i, r) => {
    for (const c of ['PricingQuantity', 'ConsumedQuantity', 'ListUnitPrice', 'ContractedUnitPrice']) expect(r[c]).toMatch(DECIMAL);
    const [whole = '0', frac = ''] = r.PricingQuantity!.split('.');
    const exact = parseRate(r.ListUnitPrice!) * BigInt(whole + frac.padEnd(6, '0')); // at 1e-18
    const listed = parseMoney(r.ListCost!) * 1_000_000_000_000n;
    expect(listed - exact <= 500_000_000_000n && exact - listed <= 500_000_000_000n).toBe(true);
    expect(r.ContractedCost).toBe(r.ListCost);
    expect(r.PricingCategory).toBe('Standard');
    expect(r.SkuId).not.toBe('');
    expect(r.SkuPriceId).not.toBe('');
    expect(r.SkuMeter).not.toBe('');
  });
});

describe('FOCUS rows in detail', () => {
  it('prices tokens per 1000, consumes them one by one, and tags the model and meter', () => {
    const tokens = usage.filter((r) => r.SkuId === 'input_tokens');
    expect(tokens.map((r) => [r.PricingQuantity, r.PricingUnit, r.ConsumedQuantity, r.ConsumedUnit, r.BilledCost])).toEqual([
      ['1', '1000 Tokens', '1000', 'Tokens', '0.000500'],
      ['0.5', '1000 Tokens', '500', 'Tokens', '0.000200'],
      ['0.01', '1000 Tokens', '10', 'Tokens', '0.000003'],
    ]);
    expect(JSON.parse(tokens[0]!.Tags!)).toEqual({ 'inferledger:meter': 'input_tokens', 'inferledger:model': 'resnet' });
  });

  it('bills the allowance at 0 while ListCost keeps the list price', () => {
    const first = usage.find((r) => r.SkuId === 'requests' && r.ResourceName === 'resnet')!;
    expect([first.PricingQuantity, first.BilledCost, first.ListCost]).toEqual(['60', '0.000000', '0.006000']);
  });

  it('gives each price version its own charge period within the billing period', () => {
    const requests = usage.filter((r) => r.SkuId === 'requests' && r.ResourceName === 'resnet');
    expect(requests.map((r) => [r.ChargePeriodStart, r.ChargePeriodEnd])).toEqual([
      ['2026-10-01T00:00:00Z', '2026-10-03T00:00:00Z'],
      ['2026-10-03T00:00:00Z', '2026-11-01T00:00:00Z'],
    ]);
    expect(requests[0]!.BillingPeriodStart).toBe('2026-10-01T00:00:00Z');
    expect(requests[0]!.BillingPeriodEnd).toBe('2026-11-01T00:00:00Z');
  });

  it('marks an adjustment of a previous period as a Correction with that period as charge period', () => {
    expect(adjustments.map((r) => [r.ChargeClass, r.ChargePeriodStart, r.BilledCost, r.ListCost, r.PricingQuantity, r.ConsumedQuantity])).toEqual([
      ['Correction', '2026-09-01T00:00:00Z', '-0.500000', '-0.500000', '', ''],
      ['', '2026-10-01T00:00:00Z', '0.100000', '0.100000', '', ''],
    ]);
    expect(adjustments[1]!.ChargeDescription).toBe('manual, "fix"');
  });

  it('neutralizes formulas in names but leaves numbers numeric', () => {
    const hostile = usage.find((r) => r.ResourceName!.includes('cmd'))!;
    expect(hostile.ResourceName).toBe("'=cmd()");
    expect(hostile.ResourceId).toBe('models/=cmd()');
    const raw = renderFocus(statement, ctx);
    expect(raw).toContain(',-0.500000,');
    expect(raw).not.toMatch(/(^|,)=/m);
  });
});
