import { describe, expect, it } from 'vitest';
import type { Store } from '../store/client.ts';
import { countInserts } from './ingest-metrics.ts';
import { createMetrics } from './metrics.ts';

/** The values of one family as `labels → value` strings, e.g. `tenant=a,model=m,status=ok 2`. */
async function valuesOf(metrics: ReturnType<typeof createMetrics>, name: string): Promise<string[]> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values.map((v) => `${Object.entries(v.labels).map(([k, x]) => `${k}=${x}`).join(',')} ${v.value}`).sort();
}

const ok = (tenantId: string, extra: { durationS?: number; queueS?: number; cpuS?: number } = {}) => ({
  tenantId,
  model: 'classifier-small',
  status: 'ok' as const,
  durationS: extra.durationS ?? 0.004,
  queueS: extra.queueS ?? 0,
  cpuS: extra.cpuS ?? 0.002,
});

describe('request metrics (through the RequestMetrics port)', () => {
  it('counts requests, durations, queue wait and CPU by tenant × model × status', async () => {
    const m = createMetrics({ processMetrics: false });
    m.requests.observe(ok('acme', { durationS: 0.003, queueS: 0.0002, cpuS: 0.25 }));
    m.requests.observe(ok('acme', { durationS: 0.2, queueS: 0.15, cpuS: 0.5 }));
    m.requests.observe({ tenantId: 'acme', model: 'classifier-small', status: 'rejected', durationS: 0.0001, cpuS: 0 });
    m.requests.observe({ tenantId: 'globex', model: 'classifier-large', status: 'error', durationS: 1.2, queueS: 0, cpuS: 0.1, gpuS: 0.04 });
    m.requests.observe({ tenantId: 'globex', model: 'classifier-large', status: 'ok', durationS: 0.01, queueS: 0, cpuS: 0.01, gpuS: 0.02 });

    expect(await valuesOf(m, 'inferledger_requests_total')).toEqual([
      'tenant=acme,model=classifier-small,status=ok 2',
      'tenant=acme,model=classifier-small,status=rejected 1',
      'tenant=globex,model=classifier-large,status=error 1',
      'tenant=globex,model=classifier-large,status=ok 1',
    ]);
    expect(await valuesOf(m, 'inferledger_cpu_seconds_total')).toEqual(['tenant=acme,model=classifier-small 0.75', 'tenant=globex,model=classifier-large 0.11']);
    // Only models on a GPU report GPU seconds: no zero series for CPU-only tenants × models.
    expect(await valuesOf(m, 'inferledger_gpu_seconds_total')).toEqual(['tenant=globex,model=classifier-large 0.06']);
    const text = await m.registry.metrics();
    expect(text).toContain('inferledger_request_duration_seconds_bucket{le="0.005",tenant="acme",model="classifier-small",status="ok"} 1');
    expect(text).toContain('inferledger_request_duration_seconds_bucket{le="0.25",tenant="acme",model="classifier-small",status="ok"} 2');
    expect(text).toContain('inferledger_request_duration_seconds_count{tenant="globex",model="classifier-large",status="error"} 1');
    // Rejected requests never queued: the queue histogram counts only admitted ones.
    expect(text).toContain('inferledger_queue_wait_seconds_count{tenant="acme"} 2');
    expect(text).toContain('inferledger_queue_wait_seconds_bucket{le="0.0005",tenant="acme"} 1');
  });

  it('folds tenants beyond maxTenants into "other"', async () => {
    const m = createMetrics({ processMetrics: false, maxTenants: 2 });
    for (const t of ['t1', 't2', 't3', 't4', 't1']) m.requests.observe(ok(t));
    expect(await valuesOf(m, 'inferledger_requests_total')).toEqual([
      'tenant=other,model=classifier-small,status=ok 2',
      'tenant=t1,model=classifier-small,status=ok 2',
      'tenant=t2,model=classifier-small,status=ok 1',
    ]);
    expect((await valuesOf(m, 'inferledger_queue_wait_seconds')).filter((v) => v.includes('le=+Inf'))).toEqual([
      'le=+Inf,tenant=other 2',
      'le=+Inf,tenant=t1 2',
      'le=+Inf,tenant=t2 1',
    ]);
  });

  it('never throws into the request path, whatever it is given', () => {
    const m = createMetrics({ processMetrics: false });
    expect(() => m.requests.observe({ tenantId: 'a', model: 'm', status: 'ok', durationS: Number.NaN, queueS: -1, cpuS: Number.POSITIVE_INFINITY })).not.toThrow();
  });
});

describe('tenant gauges', () => {
  it('exposes quota usage ratios and month-to-date cost read at scrape time', async () => {
    let ratio = 0.85;
    const m = createMetrics({
      processMetrics: false,
      quotaRatios: async () => [{ tenantId: 'acme', kind: 'requests_per_minute', ratio }],
      costs: () => ({ currency: 'EUR', costs: new Map([['acme', 12.345678]]) }),
    });
    let text = await m.registry.metrics();
    expect(text).toContain('inferledger_quota_usage_ratio{tenant="acme",quota="requests_per_minute"} 0.85');
    expect(text).toContain('inferledger_tenant_cost_month_to_date{tenant="acme",currency="EUR"} 12.345678');
    ratio = 1;
    text = await m.registry.metrics();
    expect(text).toContain('inferledger_quota_usage_ratio{tenant="acme",quota="requests_per_minute"} 1');
  });

  it('a failing quota read leaves no series and fails no scrape', async () => {
    const m = createMetrics({ processMetrics: false, quotaRatios: () => Promise.reject(new Error('down')) });
    const text = await m.registry.metrics();
    expect(text).toContain('# TYPE inferledger_quota_usage_ratio gauge');
    expect(text).not.toContain('inferledger_quota_usage_ratio{');
  });

  it('has no cost series before the first refresh and no quota family without a quota source', async () => {
    const m = createMetrics({ processMetrics: false, costs: () => undefined });
    const text = await m.registry.metrics();
    expect(text).not.toContain('inferledger_tenant_cost_month_to_date{');
    expect(text).not.toContain('inferledger_quota_usage_ratio');
  });
});

describe('ingest health', () => {
  function fakeStore(failing: () => boolean): Store {
    return {
      mode: 'embedded',
      client: undefined as never,
      cluster: undefined,
      query: async () => [],
      queryCompact: async () => [],
      command: async () => {},
      insert: async () => {
        if (failing()) throw new Error('ClickHouse: connection refused');
      },
      ping: async () => true,
      close: async () => {},
    };
  }

  it('counts rows written and writes refused per table, starting at 0, and rethrows failures', async () => {
    let down = false;
    const m = createMetrics({ processMetrics: false, spoolPending: () => 3, spoolQuarantined: () => 1 });
    const store = countInserts(fakeStore(() => down), m.ingest);
    expect(await valuesOf(m, 'inferledger_ingest_write_failures_total')).toEqual(['table=gpu_samples 0', 'table=otel_metrics_exponential_histogram 0', 'table=otel_metrics_gauge 0', 'table=otel_metrics_histogram 0', 'table=otel_metrics_sum 0', 'table=otel_metrics_summary 0', 'table=otel_traces 0', 'table=resource_samples 0']);
    await store.insert('otel_traces', [{}, {}, {}]);
    down = true;
    await expect(store.insert('otel_traces', [{}])).rejects.toThrow('connection refused');
    await store.insert('resource_samples', []).catch(() => {});
    expect(await valuesOf(m, 'inferledger_ingest_rows_written_total')).toEqual(['table=gpu_samples 0', 'table=otel_metrics_exponential_histogram 0', 'table=otel_metrics_gauge 0', 'table=otel_metrics_histogram 0', 'table=otel_metrics_sum 0', 'table=otel_metrics_summary 0', 'table=otel_traces 3', 'table=resource_samples 0']);
    expect(await valuesOf(m, 'inferledger_ingest_write_failures_total')).toEqual(['table=gpu_samples 0', 'table=otel_metrics_exponential_histogram 0', 'table=otel_metrics_gauge 0', 'table=otel_metrics_histogram 0', 'table=otel_metrics_sum 0', 'table=otel_metrics_summary 0', 'table=otel_traces 1', 'table=resource_samples 1']);
    expect(await valuesOf(m, 'inferledger_otlp_refused_total')).toEqual(['signal=data_points 0', 'signal=spans 0']);
    m.ingest.refused('spans', 3);
    m.ingest.refused('data_points', 0);
    expect(await valuesOf(m, 'inferledger_otlp_refused_total')).toEqual(['signal=data_points 0', 'signal=spans 3']);
    m.ingest.replayed(2);
    expect(await valuesOf(m, 'inferledger_spool_replayed_batches_total')).toEqual([' 2']);
    expect(await valuesOf(m, 'inferledger_spool_pending_batches')).toEqual([' 3']);
    expect(await valuesOf(m, 'inferledger_spool_quarantined_batches')).toEqual([' 1']);
  });

  it('exports the kept attribution days\' families only where attribution is priced (not on a standalone sidecar)', async () => {
    const m = createMetrics({ processMetrics: false });
    m.keptDays.days('attribution', 'stored', 3);
    m.keptDays.problem('anomaly-costs', 'unreadable');
    expect(await valuesOf(m, 'inferledger_attribution_day_lookups_total')).toContain('kind=attribution,source=stored 3');
    expect(await valuesOf(m, 'inferledger_attribution_day_problems_total')).toContain('kind=anomaly-costs,problem=unreadable 1');
    const sidecar = createMetrics({ processMetrics: false, attribution: false });
    sidecar.keptDays.days('attribution', 'priced', 1);
    expect(await sidecar.registry.metrics()).not.toContain('inferledger_attribution_day');
    expect(await sidecar.registry.metrics()).toContain('inferledger_job_runs_total');
  });

  it('reports whether a standby quota authority is in charge, only where standbys are configured', async () => {
    let standby = false;
    const m = createMetrics({ processMetrics: false, quotaStandbyInUse: () => standby });
    expect(await valuesOf(m, 'inferledger_quota_standby_in_use')).toEqual([' 0']);
    standby = true;
    expect(await valuesOf(m, 'inferledger_quota_standby_in_use')).toEqual([' 1']);
    expect(await createMetrics({ processMetrics: false }).registry.metrics()).not.toContain('inferledger_quota_standby_in_use');
  });
});
