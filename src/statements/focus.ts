import { divRound, formatMoney, MICROS_PER_UNIT, parseRate } from '../money/money.ts';
import type { Meter } from '../pricing/price-book.ts';
import { csvDocument } from './csv.ts';
import type { AdjustmentLine, Statement, StatementLine } from './types.ts';
import { formatInstant, formatQuantity, METER_UNITS, periodBounds, quantityToBase } from './units.ts';

/**
 * FOCUS 1.2 rows (FinOps Open Cost and Usage Specification) for a statement, as CSV.
 *
 * Column list. Source: FOCUS 1.2, https://focus.finops.org/focus-specification/v1-2/ and its
 * column files at github.com/FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec/tree/v1.2/specification/columns
 * (presence rules cross-checked against Microsoft's FOCUS 1.2 conformance report, which quotes
 * each requirement with a link to that tag). Of the 57 columns of 1.2:
 *  - Mandatory (MUST be present), all 21 included: BilledCost, BillingAccountId, BillingAccountName,
 *    BillingCurrency, BillingPeriodEnd, BillingPeriodStart, ChargeCategory, ChargeClass,
 *    ChargeDescription, ChargePeriodEnd, ChargePeriodStart, ContractedCost, EffectiveCost,
 *    InvoiceIssuerName, ListCost, PricingQuantity, PricingUnit, ProviderName, PublisherName,
 *    ServiceCategory, ServiceName.
 *  - Conditional, condition met, included: ConsumedQuantity, ConsumedUnit (usage is measured);
 *    ListUnitPrice (list prices exclude discounts); SkuId, SkuMeter, SkuPriceId, SkuPriceDetails
 *    (unit pricing with a published price list); SubAccountId, SubAccountName (tenants);
 *    ResourceId, ResourceName (models); Tags (provider-defined tags).
 *  - Conditional, condition not met, included anyway (allowed, and useful): ContractedUnitPrice
 *    (= ListUnitPrice: no negotiated prices yet), PricingCategory ("Standard" only).
 *  - Recommended, included: ChargeFrequency, ServiceSubcategory.
 *  - Left out, condition not met: AvailabilityZone, RegionId, RegionName (no regions);
 *    BillingAccountType, SubAccountType (one type each); ResourceType (one resource type);
 *    CapacityReservationId/Status; CommitmentDiscountCategory/Id/Name/Quantity/Status/Type/Unit;
 *    PricingCurrency and PricingCurrencyContractedUnitPrice/EffectiveCost/ListUnitPrice (priced in
 *    the billing currency). InvoiceId (recommended) is left out until invoices have ids.
 * Nulls are empty unquoted cells. Money is a decimal string with 6 decimals; instants are
 * 'YYYY-MM-DDTHH:MM:SSZ'.
 */
export const FOCUS_COLUMNS = [
  'BilledCost', 'BillingAccountId', 'BillingAccountName', 'BillingCurrency', 'BillingPeriodEnd',
  'BillingPeriodStart', 'ChargeCategory', 'ChargeClass', 'ChargeDescription', 'ChargeFrequency',
  'ChargePeriodEnd', 'ChargePeriodStart', 'ConsumedQuantity', 'ConsumedUnit', 'ContractedCost',
  'ContractedUnitPrice', 'EffectiveCost', 'InvoiceIssuerName', 'ListCost', 'ListUnitPrice',
  'PricingCategory', 'PricingQuantity', 'PricingUnit', 'ProviderName', 'PublisherName', 'ResourceId',
  'ResourceName', 'ServiceCategory', 'ServiceName', 'ServiceSubcategory', 'SkuId', 'SkuMeter',
  'SkuPriceDetails', 'SkuPriceId', 'SubAccountId', 'SubAccountName', 'Tags',
] as const;

export type FocusColumn = (typeof FOCUS_COLUMNS)[number];

/** The columns FOCUS 1.2 requires in every dataset (feature level Mandatory). */
export const FOCUS_MANDATORY_COLUMNS: readonly FocusColumn[] = [
  'BilledCost', 'BillingAccountId', 'BillingAccountName', 'BillingCurrency', 'BillingPeriodEnd',
  'BillingPeriodStart', 'ChargeCategory', 'ChargeClass', 'ChargeDescription', 'ChargePeriodEnd',
  'ChargePeriodStart', 'ContractedCost', 'EffectiveCost', 'InvoiceIssuerName', 'ListCost',
  'PricingQuantity', 'PricingUnit', 'ProviderName', 'PublisherName', 'ServiceCategory', 'ServiceName',
];

/** FOCUS 1.2 ServiceCategory allowed values. */
export type FocusServiceCategory =
  | 'AI and Machine Learning' | 'Analytics' | 'Business Applications' | 'Compute' | 'Databases'
  | 'Developer Tools' | 'Identity' | 'Integration' | 'Internet of Things' | 'Management and Governance'
  | 'Media' | 'Migration' | 'Mobile' | 'Multicloud' | 'Networking' | 'Security' | 'Storage' | 'Web' | 'Other';

export interface FocusContext {
  providerName: string;
  publisherName: string;
  invoiceIssuerName: string;
  billingAccountId: string;
  billingAccountName: string;
  serviceName: string;
  serviceCategory: FocusServiceCategory;
  /** Must be a 1.2 subcategory of serviceCategory; default "AI Platforms" (model serving) or "Other (<category>)". */
  serviceSubcategory?: string;
}

/** FOCUS UnitFormat names: "1000 Tokens" is a unit with a unit quantity; "Seconds" a time unit. */
/** ConsumedQuantity is counted in base units (requests, tokens), except time, which is in seconds. */
const FOCUS_METERS: Readonly<Record<Meter, { pricingUnit: string; consumedUnit: string; skuMeter: string }>> = {
  requests: { pricingUnit: 'Requests', consumedUnit: 'Requests', skuMeter: 'Requests' },
  input_tokens: { pricingUnit: '1000 Tokens', consumedUnit: 'Tokens', skuMeter: 'Input Tokens' },
  output_tokens: { pricingUnit: '1000 Tokens', consumedUnit: 'Tokens', skuMeter: 'Output Tokens' },
  cpu_seconds: { pricingUnit: 'Seconds', consumedUnit: 'Seconds', skuMeter: 'CPU Time' },
  gpu_seconds: { pricingUnit: 'Seconds', consumedUnit: 'Seconds', skuMeter: 'GPU Time' },
};

/** Provider-defined tag keys must carry a provider prefix (FOCUS 1.2 Tags). */
const TAG_PREFIX = 'inferledger:';

type FocusRow = Record<FocusColumn, string>;

function tags(model: string, meter: string): string {
  const entries: [string, string][] = [];
  if (meter) entries.push([`${TAG_PREFIX}meter`, meter]);
  if (model) entries.push([`${TAG_PREFIX}model`, model]);
  return entries.length ? JSON.stringify(Object.fromEntries(entries)) : '';
}

/** Columns every row shares: who bills whom, for what service, in which billing period. */
function commonColumns(s: Statement, ctx: FocusContext, model: string) {
  return {
    BillingAccountId: ctx.billingAccountId,
    BillingAccountName: ctx.billingAccountName,
    BillingCurrency: s.currency,
    BillingPeriodStart: s.period_start,
    BillingPeriodEnd: s.period_end,
    InvoiceIssuerName: ctx.invoiceIssuerName,
    ProviderName: ctx.providerName,
    PublisherName: ctx.publisherName,
    ResourceId: model ? `models/${model}` : '',
    ResourceName: model,
    ServiceCategory: ctx.serviceCategory,
    ServiceName: ctx.serviceName,
    ServiceSubcategory: ctx.serviceSubcategory
      ?? (ctx.serviceCategory === 'AI and Machine Learning' ? 'AI Platforms' : `Other (${ctx.serviceCategory})`),
    SubAccountId: s.tenant,
    SubAccountName: s.tenant,
  };
}

/**
 * A line's charge period: from the later of the period start and its price version, to the next
 * version change seen in this statement (or the period end). Each line is usage within that span.
 */
function chargePeriod(s: Statement, line: StatementLine): [string, string] {
  const start = Date.parse(s.period_start);
  const end = Date.parse(s.period_end);
  const from = Date.parse(line.price_effective_from);
  const next = s.lines.map((l) => Date.parse(l.price_effective_from)).filter((t) => t > from && t < end);
  return [formatInstant(Math.max(start, from)), formatInstant(next.length ? Math.min(...next) : end)];
}

function usageRow(s: Statement, ctx: FocusContext, line: StatementLine): FocusRow {
  const unit = METER_UNITS[line.meter];
  const focus = FOCUS_METERS[line.meter];
  const base = quantityToBase(line.quantity, unit);
  const listCost = formatMoney(divRound(base * parseRate(line.unit_price), unit.scale * MICROS_PER_UNIT));
  const [chargeStart, chargeEnd] = chargePeriod(s, line);
  const tier = line.tier === 0 ? '' : ` tier ${line.tier}`;
  const included = line.included_quantity > 0 ? `, ${line.included_quantity} included` : '';
  return {
    ...commonColumns(s, ctx, line.model),
    BilledCost: line.amount,
    EffectiveCost: line.amount,
    ListCost: listCost,
    ContractedCost: listCost,
    ListUnitPrice: line.unit_price,
    ContractedUnitPrice: line.unit_price,
    ChargeCategory: 'Usage',
    ChargeClass: '',
    ChargeDescription: `${focus.skuMeter} on ${line.model}${tier} at ${line.unit_price} ${s.currency} per ${line.unit} (plan ${s.plan}${included})`,
    ChargeFrequency: 'Usage-Based',
    ChargePeriodStart: chargeStart,
    ChargePeriodEnd: chargeEnd,
    ConsumedQuantity: focus.consumedUnit === 'Seconds' ? formatQuantity(base, unit) : base.toString(),
    ConsumedUnit: focus.consumedUnit,
    PricingCategory: 'Standard',
    PricingQuantity: formatQuantity(base, unit),
    PricingUnit: focus.pricingUnit,
    SkuId: line.meter,
    SkuMeter: focus.skuMeter,
    SkuPriceDetails: '',
    SkuPriceId: `${s.plan}/${line.meter}/${line.price_effective_from}/${line.tier}`,
    Tags: tags(line.model, line.meter),
  };
}

/**
 * An adjustment is a charge of its own (ChargeCategory "Adjustment"); one for another period than
 * this statement's corrects an invoiced period (ChargeClass "Correction") and its charge period is
 * that period. It has no price or quantity, so the list and contracted costs equal the billed cost.
 */
function adjustmentRow(s: Statement, ctx: FocusContext, a: AdjustmentLine): FocusRow {
  const { start, end } = periodBounds(a.period);
  const [chargeStart, chargeEnd] = [formatInstant(start), formatInstant(end)];
  return {
    ...commonColumns(s, ctx, a.model),
    BilledCost: a.amount,
    EffectiveCost: a.amount,
    ListCost: a.amount,
    ContractedCost: a.amount,
    ListUnitPrice: '',
    ContractedUnitPrice: '',
    ChargeCategory: 'Adjustment',
    ChargeClass: a.period === s.period ? '' : 'Correction',
    ChargeDescription: a.description,
    ChargeFrequency: 'One-Time',
    ChargePeriodStart: chargeStart,
    ChargePeriodEnd: chargeEnd,
    ConsumedQuantity: '',
    ConsumedUnit: '',
    PricingCategory: '',
    PricingQuantity: '',
    PricingUnit: '',
    SkuId: '',
    SkuMeter: '',
    SkuPriceDetails: '',
    SkuPriceId: '',
    Tags: tags(a.model, a.meter),
  };
}

/** FOCUS 1.2 CSV: the FOCUS_COLUMNS header, one Usage row per line, one Adjustment row per adjustment. */
export function renderFocus(s: Statement, ctx: FocusContext): string {
  const rows = [...s.lines.map((l) => usageRow(s, ctx, l)), ...s.adjustments.map((a) => adjustmentRow(s, ctx, a))];
  return csvDocument([[...FOCUS_COLUMNS], ...rows.map((row) => FOCUS_COLUMNS.map((c) => row[c]))], { keepPlainNumbers: true });
}
