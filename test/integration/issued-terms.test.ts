import { describe, expect, it } from 'vitest';
import { ADMIN_KEY, call, startHarness } from '../support/platform.ts';

/**
 * Issued statements are re-rated for late usage with the plan and currency they were issued in.
 * Found by dogfooding: renaming a plan in the config refunded the whole issued month on the next
 * statement, and changing the currency made every open statement a 500. Such a config is now
 * refused at start.
 */
const TENANT = 'terms-acme';
const plans = (name: string) => ({ [name]: [{ effective_from: '2020-01-01T00:00:00Z', meters: { requests: { unit_price: '0.01' } } }] });
// No close grace: last month is closed, and issued on its first fetch, whatever today's date.
const configWith = (plan: string, currency = 'USD') => ({
  pricing: { currency, plans: plans(plan), default_plan: plan },
  tenants: { [TENANT]: { plan } },
  billing: { close_grace_hours: 0 },
});

describe('a price book that lost what issued statements name', () => {
  it('refuses to start, naming the plan and the currency, once last month was issued', async () => {
    let h = await startHarness({ config: configWith('pro') });
    const now = new Date();
    const lastMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1)).toISOString().slice(0, 7);
    const res = await call<{ status: string; plan: string }>(h.baseUrl, 'GET', `/v1/tenants/${TENANT}/statements/${lastMonth}`, { key: ADMIN_KEY });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ status: 'issued', plan: 'pro' });
    await h.close();
    await expect(startHarness({ config: configWith('pro2'), dataDir: h.dataDir })).rejects.toThrow(
      /pricing\.plans: "pro" is gone, but issued statements \(terms-acme; \d{4}-\d{2}\) were rated with it/,
    );
    await expect(startHarness({ config: configWith('pro', 'EUR'), dataDir: h.dataDir })).rejects.toThrow(/pricing\.currency: EUR, but issued statements .* are in USD: one currency per deployment/);
    h = await startHarness({ config: configWith('pro'), dataDir: h.dataDir });
    await h.close();
  });
});
