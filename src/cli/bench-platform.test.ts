import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * The suites that start the platform (embedded ClickHouse), end to end at tiny sizes, in a child
 * process of their own (chdb: one data directory per process). Shapes and invariants only: no
 * timing is asserted.
 */

const BIN = fileURLToPath(new URL('../../bin/inferledger.js', import.meta.url));
const run = promisify(execFile);

interface Doc {
  suites: Array<{ name: string; status: string; reason?: string; params: Record<string, number | string>; metrics: Array<{ name: string; value: number | null; baseline?: number | null }> }>;
}

describe('inferledger bench (platform suites)', () => {
  it('memory, standalone, sidecar-overhead, span-journal, ingest, quota-accuracy over HTTP, queries and rollup run at tiny sizes and report their baselines', async () => {
    const { stdout } = await run(
      process.execPath,
      [BIN, 'bench', '--suite', 'memory,standalone,sidecar-overhead,span-journal,ingest,quota-accuracy,queries,rollup', '--quota-http', '--requests', '20', '--rows', '1000', '--json'],
      { maxBuffer: 16 * 1024 * 1024 },
    );
    const doc = JSON.parse(stdout) as Doc;
    const suite = (name: string) => doc.suites.find((s) => s.name === name)!;
    expect(doc.suites.map((s) => s.name)).toEqual(['memory', 'standalone', 'sidecar-overhead', 'span-journal', 'ingest', 'quota-accuracy', 'queries', 'rollup']);

    // Over HTTP the authority's clock is real; a run that crossed a minute says so and may admit 2 x L.
    const quota = suite('quota-accuracy');
    expect(quota.status, quota.reason).toBe('ok');
    const overHttp = quota.metrics.find((m) => m.name === 'admitted (baseline: L): over HTTP, seeded shuffle, all in flight')!;
    expect(overHttp.value).toBeGreaterThan(0);
    if (!quota.reason) expect(overHttp.value).toBeLessThanOrEqual(overHttp.baseline!);

    for (const name of ['memory', 'standalone', 'sidecar-overhead', 'span-journal', 'queries', 'rollup']) {
      const s = suite(name);
      expect(s.status, `${name}: ${s.reason}`).toBe('ok');
      for (const m of s.metrics) expect(m.value, m.name).not.toBeNull();
    }
    // Every latency and throughput row of the overhead suite has its bare-onnxruntime baseline.
    for (const m of suite('sidecar-overhead').metrics) expect(m.baseline, m.name).toBeGreaterThan(0);
    expect(suite('memory').metrics[0]!.value!).toBeGreaterThan(0);
    // Two processes of their own: every inference through the sidecar reached the API as a request.
    expect(suite('standalone').params).toMatchObject({ requests: 20, api_requests_recorded: 20 });
    // Both exporters, each with its no-journal baseline.
    expect(suite('span-journal').metrics.map((m) => m.name.split(':')[0])).toEqual(['clickhouse', 'clickhouse', 'clickhouse', 'otlp', 'otlp', 'otlp']);
    for (const m of suite('span-journal').metrics) expect(m.baseline, m.name).toBeGreaterThan(0);

    // Until the OTLP receiver exists the suite is skipped with its reason, never a made-up number.
    const ingest = suite('ingest');
    if (ingest.status === 'skipped') expect(ingest.reason).toContain('404');
    else expect(ingest.status, ingest.reason).toBe('ok');

    const queries = suite('queries');
    expect(queries.params).toMatchObject({ requests: 1000, tenants: 1 });
    const rowsRead = queries.metrics.find((m) => m.name.startsWith('statement rows read'))!;
    expect(rowsRead.value).toBe(queries.params.usage_rows);

    // Spans became requests through requests_mv, and the rollup job made one usage_hourly row per
    // tenant × hour × model × instance it had requests for (the suite itself fails when a span is
    // not counted exactly once).
    const rollup = suite('rollup');
    expect(rollup.params).toMatchObject({ requests: 1000, tenants: 1, expected_rows: 144 });
    expect(rollup.metrics.find((m) => m.name === 'usage_hourly rows made by the rollup')!.value).toBe(144);
    for (const m of rollup.metrics.filter((m) => m.name.startsWith('rollup:') || m.name.startsWith('load:'))) expect(m.baseline, m.name).toBeGreaterThan(0);
    // Eight suites start several processes and engines: about 43 s on 2 cores, over the default 60 s
    // when the machine is busy. A deadline, not a timing assertion.
  }, 180_000);

  it('noisy-flood runs two `inferledger up` processes (pacing off, then on) and reports every row beside its baseline', async () => {
    const { stdout } = await run(process.execPath, [BIN, 'bench', '--suite', 'noisy-flood', '--requests', '20', '--json'], { maxBuffer: 16 * 1024 * 1024 });
    const [suite] = (JSON.parse(stdout) as Doc).suites;
    // The suite itself fails when the light tenant is refused or the flood never is.
    expect(suite!.status, suite!.reason).toBe('ok');
    expect(suite!.params).toMatchObject({ requests: 20, flood_quota_per_minute: 1 });
    expect(suite!.metrics).toHaveLength(10);
    for (const m of suite!.metrics) expect(m.value, m.name).not.toBeNull();
    const light = suite!.metrics.filter((m) => m.name.startsWith('light '));
    expect(light.map((m) => m.name.split(' during')[0])).toEqual(Array(2).fill(['light served per second', 'light p50 latency', 'light p99 latency']).flat());
    for (const m of [suite!.metrics[0]!, ...light]) expect(m.baseline, m.name).toBeGreaterThan(0);
    // Two processes of their own start and stop: a deadline, not a timing assertion.
  }, 180_000);
});
