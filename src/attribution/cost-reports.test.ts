import { describe, expect, it } from 'vitest';
import { parseMoney } from '../money/money.ts';
import { pricingSchema } from '../pricing/price-book.ts';
import type { Store } from '../store/client.ts';
import type { UsageHourRow } from '../store/queries/costs.ts';
import { attributionReport, tenantCostReport } from './cost-reports.ts';
import { attributionDataOf, rangeAttributionOf, type AttributionData, type CostContext } from './cost-service.ts';

const H = 3_600_000;
const T0 = Date.UTC(2026, 9, 1);
const pricing = pricingSchema.parse({
  idle_policy: 'proportional',
  capacity: [{ effective_from: '2026-01-01T00:00:00Z', vcpu_hour: '0.036', memory_gib_hour: '0.01', overhead_hour: '0.01' }],
  plans: {
    standard: [{ effective_from: '2026-01-01T00:00:00Z', meters: { requests: { unit_price: '0.001' }, cpu_seconds: { unit_price: '0.0001' } } }],
    gold: [{ effective_from: '2026-01-01T00:00:00Z', meters: { requests: { unit_price: '0.002' } } }],
  },
});
const ctx: CostContext = { store: {} as Store, pricing, planOf: (t) => (t === 'b' ? 'gold' : 'standard'), now: () => T0 + 10 * H };

function usage(tenant: string, hour: number, model: string, requests: bigint, cpuUs: bigint): UsageHourRow {
  return { tenant_id: tenant, instance_id: 'i', hour_ms: T0 + hour * H, model, model_variant: model, requests, input_tokens: 0n, output_tokens: 0n, cpu_us: cpuUs, gpu_us: 0n, computed_ms: 0 };
}

function data(rows: UsageHourRow[], hours: number, instances: readonly string[] = ['i']): AttributionData {
  return attributionDataOf(
    { from: T0, to: T0 + hours * H },
    Array.from({ length: hours * instances.length }, (_, k) => ({
      instanceId: instances[k % instances.length]!,
      hour: T0 + Math.floor(k / instances.length) * H,
      cpuMillicoreMs: 2000n * BigInt(H),
      memoryByteMs: (4n << 30n) * BigInt(H),
      memoryUsedByteMs: (1n << 30n) * BigInt(H),
      gpuModel: '',
      gpuMs: 0n,
    })),
    rows.map((r) => ({
      tenantId: r.tenant_id,
      instanceId: r.instance_id,
      hour: r.hour_ms,
      model: r.model,
      modelVariant: r.model_variant,
      requests: r.requests,
      inputTokens: r.input_tokens,
      outputTokens: r.output_tokens,
      cpuUs: r.cpu_us,
      gpuUs: r.gpu_us,
    })),
  );
}

const rows = [
  usage('a', 0, 'small', 100n, 600_000_000n),
  usage('a', 1, 'large', 10n, 1_200_000_000n),
  usage('b', 1, 'small', 50n, 300_000_000n),
];

describe('attributionReport', () => {
  const report = attributionReport(ctx, rangeAttributionOf(ctx, data(rows, 3)));

  it('reconciles: tenants + unallocated = capacity + overhead, exactly', () => {
    const sum = report.tenants.reduce((a, t) => a + parseMoney(t.total_cost), parseMoney(report.unallocated_idle));
    expect(sum).toBe(parseMoney(report.capacity_cost) + parseMoney(report.overhead_cost));
    expect(report.conservation).toMatchObject({ holds: true, difference: '0.000000' });
  });

  it('prices revenue by each tenant plan and model costs add up to tenant totals', () => {
    // a: 110 requests x 0.001 + 1800 cpu-s x 0.0001 = 0.29; b (gold): 50 x 0.002 = 0.1
    expect(report.tenants.map((t) => [t.tenant, t.plan, t.revenue])).toEqual([
      ['a', 'standard', '0.290000'],
      ['b', 'gold', '0.100000'],
    ]);
    for (const t of report.tenants) {
      const models = report.margin.by_model.filter((m) => m.tenant === t.tenant);
      expect(models.reduce((a, m) => a + parseMoney(m.cost), 0n)).toBe(parseMoney(t.total_cost));
      expect(parseMoney(t.margin)).toBe(parseMoney(t.revenue) - parseMoney(t.total_cost));
    }
    const byPlan = Object.fromEntries(report.margin.by_plan.map((p) => [p.plan, p.revenue]));
    expect(byPlan).toEqual({ gold: '0.100000', standard: '0.290000' });
  });
});

describe('tenantCostReport', () => {
  it('returns one tenant only, and its hourly series sums to its total', () => {
    const whole = attributionReport(ctx, rangeAttributionOf(ctx, data(rows, 3)));
    const a = tenantCostReport(ctx, rangeAttributionOf(ctx, data(rows, 3)), 'a', 3600);
    expect(a.total).toBe(whole.tenants.find((t) => t.tenant === 'a')!.total_cost);
    expect(a.series).toHaveLength(3);
    expect(a.series.reduce((s, p) => s + parseMoney(p.total), 0n)).toBe(parseMoney(a.total));
    expect(JSON.stringify(a)).not.toContain('"b"');
    // The tenant's by_model is the margin view's, to the micro.
    expect(a.by_model).toEqual(whole.margin.by_model.filter((m) => m.tenant === 'a').map((m) => ({ model: m.model, cost: m.cost })));
  });

  it('groups by model, variant or instance: usage its own, shares spread by usage, adding up to the total exactly', () => {
    const on = (row: UsageHourRow, variant: string, instance: string): UsageHourRow => ({ ...row, model_variant: variant, instance_id: instance });
    const grouped = [
      on(usage('a', 0, 'small', 100n, 600_000_000n), 'small', 'i'),
      on(usage('a', 1, 'small', 40n, 250_000_000n), 'small-int8', 'j'),
      on(usage('a', 2, 'large', 10n, 1_200_000_000n), 'large', 'j'),
      on(usage('b', 1, 'small', 50n, 300_000_000n), 'small', 'i'),
    ];
    const attribution = rangeAttributionOf(ctx, data(grouped, 3, ['i', 'j']));
    const plain = tenantCostReport(ctx, attribution, 'a', 3600);
    expect(plain).not.toHaveProperty('groups');
    const keysOf = { model: ['large', 'small'], variant: ['large', 'small', 'small-int8'], instance: ['i', 'j'] } as const;
    for (const by of ['model', 'variant', 'instance'] as const) {
      const report = tenantCostReport(ctx, attribution, 'a', 3600, by);
      const groups = report.groups!;
      expect(groups.by).toBe(by);
      expect(groups.entries.map((e) => e.key)).toEqual(keysOf[by]);
      const sum = (field: 'cost' | 'usage_cost' | 'shared_cost') => groups.entries.reduce((acc, e) => acc + parseMoney(e[field]), 0n);
      expect(sum('cost'), by).toBe(parseMoney(report.total));
      expect(sum('usage_cost'), by).toBe(parseMoney(report.usage_cost));
      expect(sum('shared_cost'), by).toBe(parseMoney(report.by_resource.idle_share) + parseMoney(report.by_resource.overhead_share));
      for (const e of groups.entries) expect(parseMoney(e.cost)).toBe(parseMoney(e.usage_cost) + parseMoney(e.shared_cost));
      // The other tenant's usage never appears in a's groups.
      expect(JSON.stringify(groups)).not.toContain('"b"');
    }
    // Grouped by model, the groups are by_model.
    const byModel = tenantCostReport(ctx, attribution, 'a', 3600, 'model');
    expect(byModel.groups!.entries.map((e) => [e.key, e.cost])).toEqual(byModel.by_model.map((m) => [m.model, m.cost]));
    // A tenant without usage has no groups and a zero total.
    expect(tenantCostReport(ctx, attribution, 'nobody', 3600, 'instance')).toMatchObject({ total: '0.000000', groups: { by: 'instance', entries: [] } });
  });

  it('reports zero for a tenant without usage rather than failing', () => {
    expect(tenantCostReport(ctx, rangeAttributionOf(ctx, data(rows, 3)), 'nobody', 7200)).toMatchObject({ total: '0.000000', by_model: [], step_seconds: 7200 });
  });
});
