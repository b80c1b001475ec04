import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, createKey, infer, startHarness, waitFor, type Harness } from '../support/platform.ts';
import { queryPrometheus, startPrometheus, type RunningPrometheus } from '../support/prometheus.ts';

/**
 * A REAL Prometheus (Debian package `prometheus`; PROMETHEUS_BIN overrides the path) on 127.0.0.1
 * scrapes the running all-in-one app every second, two ways: the unauthenticated metrics port
 * (server.metrics_port) and the main port with the admin key as a bearer credentials file. A
 * tenant's traffic must show up as a tenant-labelled series in Prometheus' HTTP API. Deadlines are
 * generous and nothing asserts on timing.
 */

const TENANT = 'scrape-a';
const MODEL = 'classifier-small';

let h: Harness;
let prom: RunningPrometheus;

beforeAll(async () => {
  h = await startHarness({ config: { server: { metrics_port: 0 } } });
  const metricsPort = h.platform.metricsPort!;
  prom = await startPrometheus((dir) => {
    const credentials = join(dir, 'inferledger-admin-key');
    writeFileSync(credentials, ADMIN_KEY, { mode: 0o600 });
    return `global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: inferledger
    static_configs:
      - targets: ['127.0.0.1:${metricsPort}']
  - job_name: inferledger-admin
    authorization:
      type: Bearer
      credentials_file: ${credentials}
    static_configs:
      - targets: ['127.0.0.1:${h.platform.port}']
`;
  });
});

afterAll(async () => {
  prom?.stop();
  await h?.close();
});

describe('Prometheus scrapes the app', () => {
  it(`a tenant's requests appear as inferledger_requests_total{tenant="${TENANT}"}`, async () => {
    const key = await createKey(h.baseUrl, TENANT);
    for (let i = 0; i < 5; i++) expect((await infer(h.baseUrl, key, MODEL)).status).toBe(200);

    const expr = `inferledger_requests_total{job="inferledger",tenant="${TENANT}",model="${MODEL}",status="ok"}`;
    const sample = await waitFor(
      async () => {
        const result = await queryPrometheus(prom, expr);
        // A scrape may land between two requests: wait for the one that has seen all five.
        return result.find((s) => Number(s.value[1]) >= 5);
      },
      `${expr} in Prometheus (its log: ${prom.output.join('').slice(-2000)})`,
      90_000,
    );
    expect(Number(sample.value[1])).toBe(5);
    expect(sample.metric).toMatchObject({ __name__: 'inferledger_requests_total', tenant: TENANT, model: MODEL, status: 'ok', job: 'inferledger' });
  });

  it('both targets are up: the metrics port without a key, the main port with the admin key as bearer', async () => {
    const up = await waitFor(
      async () => {
        const result = await queryPrometheus(prom, 'up');
        const jobs = Object.fromEntries(result.map((s) => [s.metric.job, s.value[1]]));
        return jobs.inferledger === '1' && jobs['inferledger-admin'] === '1' ? jobs : undefined;
      },
      'both scrape targets up',
      90_000,
    );
    expect(up).toEqual({ inferledger: '1', 'inferledger-admin': '1' });
  });

  it('histograms are usable in PromQL: a p95 of the tenant request duration', async () => {
    const expr = `histogram_quantile(0.95, sum by (le) (inferledger_request_duration_seconds_bucket{job="inferledger",tenant="${TENANT}"}))`;
    const p95 = await waitFor(
      async () => {
        const [s] = await queryPrometheus(prom, expr);
        return s && Number.isFinite(Number(s.value[1])) ? Number(s.value[1]) : undefined;
      },
      expr,
      90_000,
    );
    expect(p95).toBeGreaterThan(0);
    expect(p95).toBeLessThanOrEqual(10);
  });
});
