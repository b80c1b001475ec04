import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../config/schema.ts';
import type { Store } from '../store/client.ts';
import { registerKeptDaysMetrics } from '../telemetry/kept-days-metrics.ts';
import { startReceiver } from '../../test/support/http-receiver.ts';
import { freePort } from '../../test/support/daemon.ts';
import { billingServices, checkQuotaAuthorities, keptAnomalyCosts } from './billing.ts';

/**
 * Days kept in ClickHouse are keyed by what they were priced with: the price book and every
 * tenant's plan, by content, so a restarted process with the same config finds them and one with
 * another price or plan never does.
 */

const store = {} as Store; // never called: building the contexts touches no store

const configWith = (vcpuHour: string, acmePlan: string) =>
  configSchema.parse({
    tenants: { acme: { plan: acmePlan }, globex: {} },
    pricing: {
      default_plan: 'standard',
      capacity: [{ effective_from: '2026-01-01T00:00:00Z', vcpu_hour: vcpuHour, memory_gib_hour: '0.005' }],
      plans: {
        standard: [{ effective_from: '2026-01-01T00:00:00Z', meters: { requests: { unit_price: '0.001' } } }],
        gold: [{ effective_from: '2026-01-01T00:00:00Z', meters: { requests: { unit_price: '0.0008' } } }],
      },
    },
  });

const keyOf = (vcpuHour: string, acmePlan: string) => billingServices(configWith(vcpuHour, acmePlan), store).costs.kept!.key;

describe('the key of the attribution days a process keeps', () => {
  it('is the same for the same config read again (another process, a restart)', () => {
    expect(keyOf('0.04', 'gold')).toBe(keyOf('0.04', 'gold'));
    expect(keyOf('0.04', 'gold')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with a price or a tenant\'s plan', () => {
    const base = keyOf('0.04', 'gold');
    expect(keyOf('0.041', 'gold')).not.toBe(base);
    expect(keyOf('0.04', 'standard')).not.toBe(base);
  });

  it('is used only with the prices and plans it was made for', () => {
    const { costs } = billingServices(configWith('0.04', 'gold'), store);
    expect(costs.kept?.pricing).toBe(costs.pricing);
    expect(costs.kept?.planOf).toBe(costs.planOf);
  });
});

describe('what the kept days report', () => {
  it('tells the log and the metrics, each under its kind, where days came from and what failed', async () => {
    const registry = new Registry();
    const lines: string[] = [];
    const unreachable = { query: () => Promise.reject(new Error('connection refused')) } as unknown as Store;
    const reporting = { log: (line: string) => lines.push(line), metrics: registerKeptDaysMetrics(registry) };
    const { costs } = billingServices(configWith('0.04', 'gold'), unreachable, reporting);
    const anomalyCosts = keptAnomalyCosts(configWith('0.04', 'gold'), costs, reporting);
    const wanted = [{ day: Date.UTC(2026, 9, 1), fingerprint: 'fp' }];
    expect(await costs.kept!.days.load(wanted)).toEqual(new Map());
    expect(await anomalyCosts.days.load(wanted)).toEqual(new Map());
    costs.kept!.observe!('priced', 2);
    anomalyCosts.observe!('memory', 5);

    const text = await registry.metrics();
    expect(text).toContain('inferledger_attribution_day_problems_total{kind="attribution",problem="read_failed"} 1');
    expect(text).toContain('inferledger_attribution_day_problems_total{kind="anomaly-costs",problem="read_failed"} 1');
    expect(text).toContain('inferledger_attribution_day_problems_total{kind="attribution",problem="write_failed"} 0');
    expect(text).toContain('inferledger_attribution_day_lookups_total{kind="attribution",source="priced"} 2');
    expect(text).toContain('inferledger_attribution_day_lookups_total{kind="anomaly-costs",source="memory"} 5');
    expect(lines).toEqual([
      'attribution days (attribution): reading stored days failed, pricing them instead: connection refused',
      'attribution days (anomaly-costs): reading stored days failed, pricing them instead: connection refused',
    ]);
  });
});

describe('checkQuotaAuthorities at start: what it says of an authority not answering yet', () => {
  const KEY = 'il_admin_check_0123456789abcdef';
  const sidecarConfig = (authority: string, standbys: string[]) =>
    configSchema.parse({ quotas: { authority_url: authority, standby_authority_urls: standbys, fail_mode: 'closed' } });

  it('a standby down while the primary answers: no word of fail_mode, which applies only when none answers', async () => {
    const primary = await startReceiver(() => ({ status: 200, body: '[]' }));
    const standby = `http://127.0.0.1:${await freePort()}`;
    try {
      const lines: string[] = [];
      await checkQuotaAuthorities(sidecarConfig(primary.url, [standby]), KEY, (l) => lines.push(l));
      expect(lines).toEqual([`quota authority ${standby}: not answering yet (the others answer; it is used when they do not)`]);
    } finally {
      await primary.close();
    }
  });

  it('none answering: one line naming them all, with the fail_mode that applies', async () => {
    const [a, b] = [`http://127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
    const lines: string[] = [];
    await checkQuotaAuthorities(sidecarConfig(a, [b]), KEY, (l) => lines.push(l));
    expect(lines).toEqual([`quota authorities ${a}, ${b}: not answering yet (fail_mode closed applies until one does)`]);
  });
});
