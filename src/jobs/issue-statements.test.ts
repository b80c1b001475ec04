import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore } from '../../test/support/store.ts';
import { pricingSchema } from '../pricing/price-book.ts';
import type { Store } from '../store/client.ts';
import type { StatementContext } from '../statements/statement-service.ts';
import { issueClosedStatements, periodOf } from './issue-statements.ts';

const pricing = pricingSchema.parse({
  capacity: [{ effective_from: '2026-01-01T00:00:00Z', vcpu_hour: '0.04', memory_gib_hour: '0' }],
  plans: { standard: [{ effective_from: '2026-01-01T00:00:00Z', meters: { requests: { unit_price: '0.01' } } }] },
});

describe('issueClosedStatements (chdb)', () => {
  let store: Store;
  beforeAll(async () => {
    ({ store } = await openTestStore());
    const row = (tenant: string, hour: string, requests: number) => ({
      tenant_id: tenant, hour, model: 'm', model_variant: 'm', instance_id: 'i', requests, errors: 0, rejected: 0,
      cpu_us: 0, gpu_us: 0, input_tokens: 0, output_tokens: 0, input_elements: 0, output_elements: 0, duration_ns_sum: 0,
      computed_at: '2026-10-31 23:59:00.000',
    });
    await store.insert('usage_hourly', [row('acme', '2026-10-05 10:00:00', 7), row('globex', '2026-10-31 23:00:00', 3), row('acme', '2026-11-01 00:00:00', 1)]);
  });
  afterAll(() => store.close());

  const ctx = (now: string): StatementContext => ({ store, pricing, planOf: () => 'standard', closeGraceHours: 2, now: () => Date.parse(now) });
  const issued = () => store.query<{ tenant_id: string; period: string; total: string }>({ query: 'SELECT tenant_id, period, total FROM statements FINAL ORDER BY tenant_id' });

  it('waits for the close grace, then freezes last month for every tenant with usage, once', async () => {
    expect(await issueClosedStatements(ctx('2026-11-01T01:00:00Z'))).toEqual({ period: '2026-10', issued: 0 });
    expect(await issued()).toEqual([]);

    expect(await issueClosedStatements(ctx('2026-11-01T02:00:00Z'))).toEqual({ period: '2026-10', issued: 2 });
    const first = await issued();
    expect(first).toEqual([
      { tenant_id: 'acme', period: '2026-10', total: '0.07' },
      { tenant_id: 'globex', period: '2026-10', total: '0.03' },
    ]);
    await issueClosedStatements(ctx('2026-11-01T03:00:00Z'));
    expect(await issued()).toEqual(first);
  });

  it('names periods in UTC', () => {
    expect(periodOf(Date.parse('2026-11-30T23:59:59Z'))).toBe('2026-11');
    expect(periodOf(Date.parse('2026-12-01T00:00:00Z'))).toBe('2026-12');
  });
});
