import { describe, expect, it } from 'vitest';
import { countFiring, createMetrics, type FiringAlertSample } from './metrics.ts';

const alert = (tenantId: string, severity = 'warning', name = 'InferledgerQuotaThreshold'): FiringAlertSample => ({ tenantId, name, severity });

describe('countFiring', () => {
  it('counts per tenant × alertname × severity', () => {
    expect(countFiring([alert('a'), alert('a'), alert('a', 'critical'), alert('b', 'critical', 'InferledgerAnomaly')], 10)).toEqual([
      { tenant: 'a', alertname: 'InferledgerQuotaThreshold', severity: 'warning', count: 2 },
      { tenant: 'a', alertname: 'InferledgerQuotaThreshold', severity: 'critical', count: 1 },
      { tenant: 'b', alertname: 'InferledgerAnomaly', severity: 'critical', count: 1 },
    ]);
  });

  it('keeps the top N tenants by firing alerts and sums the rest as "other"', () => {
    const alerts = [alert('big'), alert('big'), alert('mid'), alert('mid'), alert('x'), alert('y')];
    expect(countFiring(alerts, 2)).toEqual([
      { tenant: 'big', alertname: 'InferledgerQuotaThreshold', severity: 'warning', count: 2 },
      { tenant: 'mid', alertname: 'InferledgerQuotaThreshold', severity: 'warning', count: 2 },
      { tenant: 'other', alertname: 'InferledgerQuotaThreshold', severity: 'warning', count: 2 },
    ]);
  });

  it('conserves the total however small N is', () => {
    const alerts = Array.from({ length: 40 }, (_, i) => alert(`t${i % 13}`, i % 3 ? 'warning' : 'critical'));
    for (const n of [0, 1, 5, 13, 100]) {
      const series = countFiring(alerts, n);
      expect(series.reduce((s, x) => s + x.count, 0)).toBe(40);
      expect(new Set(series.map((x) => x.tenant)).size).toBeLessThanOrEqual(n + 1);
    }
  });
});

describe('createMetrics', () => {
  it('exposes inferledger_alerts_firing from the live alert state, on its own registry', async () => {
    let firing: FiringAlertSample[] = [alert('acme'), alert('acme', 'critical')];
    const { registry } = createMetrics({ firingAlerts: () => firing, processMetrics: false });
    const text = await registry.metrics();
    expect(text).toContain('# TYPE inferledger_alerts_firing gauge');
    expect(text).toContain('inferledger_alerts_firing{tenant="acme",alertname="InferledgerQuotaThreshold",severity="warning"} 1');
    expect(text).toContain('inferledger_alerts_firing{tenant="acme",alertname="InferledgerQuotaThreshold",severity="critical"} 1');
    firing = [];
    expect(await registry.metrics()).not.toContain('inferledger_alerts_firing{');
  });

  it('includes process metrics by default, without touching the global registry', async () => {
    const { register } = await import('prom-client');
    const { registry } = createMetrics();
    expect(await registry.metrics()).toMatch(/^process_cpu_user_seconds_total /m);
    expect((await register.metrics()).trim()).toBe('');
  });
});
