import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startInferledger, type RunningProcess } from './child-process.ts';
import { featureRows, inferBody, postInfer, timeConcurrent } from './load.ts';
import { metric } from './report.ts';
import { removeScratch, scratchDir } from './scratch.ts';
import { percentile } from './stats.ts';
import type { Suite } from './suite.ts';
import type { SuiteOutcome } from './types.ts';

/**
 * SPEC §10 memory, per process: a standalone `inferledger sidecar` and the `inferledger api` it
 * exports its spans to (OTLP/HTTP), each its own OS process as in production, their RSS read
 * from /proc while HTTP inference load runs through the sidecar and the API ingests the spans.
 * The `memory` suite measures the all-in-one `up` process; this one the two sides apart.
 *
 * Each process has its own embedded ClickHouse (chdb: one data directory per process): the API
 * stores the spans, the sidecar its resource samples. A sidecar pointed at a ClickHouse server
 * (CLICKHOUSE_URL) does not load the engine, so its figure here is an upper bound. The sidecar
 * trusts X-Tenant-Id from the admin key (sidecar.trust_tenant_header): tenant keys live in the
 * API's ClickHouse, which this sidecar does not share.
 */

const MIB = 1024 * 1024;
const IN_FLIGHT = 8;
const SAMPLE_MS = 20;
const SETTLE_MS = 2000;
/** After the load, sampling goes on until the API has recorded every request (or this long). */
const DRAIN_TIMEOUT_MS = 30_000;
const MODEL = 'classifier-large';
const TENANT = 'bench';

export { listeningUrl, vmRssBytes } from './child-process.ts';

export const standaloneSuite: Suite = {
  name: 'standalone',
  description: 'RSS of a standalone sidecar process and of the api process it exports spans to, idle and under inference load',
  async run(ctx): Promise<SuiteOutcome> {
    if (!existsSync(`/proc/${process.pid}/status`)) return { status: 'skipped', reason: 'reads RSS from /proc/<pid>/status (Linux only)', params: {}, metrics: [] };
    const dir = scratchDir('inferledger-bench-standalone-');
    const adminKey = `il_admin_bench_${randomBytes(16).toString('hex')}`;
    const started: RunningProcess[] = [];
    try {
      ctx.progress('standalone: starting `inferledger api` and `inferledger sidecar` as processes of their own');
      const api = await startProcess('api', dir, adminKey, {});
      started.push(api);
      const sidecar = await startProcess('sidecar', dir, adminKey, {
        OTEL_EXPORTER_OTLP_ENDPOINT: api.baseUrl,
        OTEL_EXPORTER_OTLP_HEADERS: `Authorization=Bearer ${adminKey}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      });
      started.push(sidecar);
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const idle = { api: api.rss() ?? null, sidecar: sidecar.rss() ?? null };
      const samples = { api: [] as number[], sidecar: [] as number[] };
      const sampler = setInterval(() => {
        for (const [name, p] of [['api', api], ['sidecar', sidecar]] as const) {
          const rss = p.rss();
          if (rss !== undefined) samples[name].push(rss);
        }
      }, SAMPLE_MS);
      const n = ctx.options.requests;
      const body = JSON.stringify(inferBody(featureRows(4, 7), 4));
      ctx.progress(`standalone: ${n} HTTP inferences on ${MODEL} (batch 4) through the sidecar, ${IN_FLIGHT} in flight; RSS of both sampled every ${SAMPLE_MS} ms`);
      try {
        await timeConcurrent(n, IN_FLIGHT, () => postInfer(sidecar.baseUrl, adminKey, MODEL, body, TENANT));
        // The sidecar exports its spans in batches (1 s); the API's ingest is part of what is measured.
        await untilRecorded(api.baseUrl, adminKey, n);
      } finally {
        clearInterval(sampler);
      }
      const recorded = await requestsRecorded(api.baseUrl, adminKey);
      const mib = (b: number | null | undefined) => (b === null || b === undefined ? null : b / MIB);
      const peak = (xs: number[]) => (xs.length ? Math.max(...xs) : null);
      // Every inference the sidecar answered must reach the API as a request: a shortfall is lost data, not noise.
      const lost = recorded === n ? undefined : `the API recorded ${recorded ?? 'an unknown number of'} of the ${n} requests within ${DRAIN_TIMEOUT_MS / 1000} s`;
      return {
        status: lost ? 'failed' : 'ok',
        ...(lost ? { reason: lost } : {}),
        params: { requests: n, in_flight: IN_FLIGHT, model: MODEL, batch: 4, samples: samples.sidecar.length, api_requests_recorded: recorded ?? 'unknown' },
        metrics: [
          metric('sidecar process RSS idle (embedded engine for its samples loaded)', mib(idle.sidecar), 'MiB'),
          metric('sidecar process RSS peak under HTTP inference load (baseline: idle)', mib(peak(samples.sidecar)), 'MiB', mib(idle.sidecar)),
          metric('sidecar process RSS median under load (baseline: idle)', mib(percentile(samples.sidecar, 50)), 'MiB', mib(idle.sidecar)),
          metric('api process RSS idle', mib(idle.api), 'MiB'),
          metric("api process RSS peak while ingesting the sidecar's spans (baseline: idle)", mib(peak(samples.api)), 'MiB', mib(idle.api)),
          metric('api process RSS median under load (baseline: idle)', mib(percentile(samples.api, 50)), 'MiB', mib(idle.api)),
        ],
      };
    } finally {
      await Promise.all(started.map((p) => p.stop()));
      removeScratch(dir);
    }
  },
};

/** Waits until the API has recorded `n` requests for TENANT, or DRAIN_TIMEOUT_MS has passed. */
async function untilRecorded(apiUrl: string, adminKey: string, n: number): Promise<void> {
  const until = Date.now() + DRAIN_TIMEOUT_MS;
  while (Date.now() < until && ((await requestsRecorded(apiUrl, adminKey)) ?? 0) < n) await new Promise((r) => setTimeout(r, 200));
}

/** Requests the API has recorded for TENANT (its usage endpoint): the sidecar's spans, ingested. */
async function requestsRecorded(apiUrl: string, adminKey: string): Promise<number | undefined> {
  const res = await fetch(`${apiUrl}/v1/tenants/${TENANT}/usage`, { headers: { authorization: `Bearer ${adminKey}` } }).catch(() => undefined);
  if (!res?.ok) return undefined;
  const body = (await res.json()) as { totals?: { requests?: number | string } };
  const n = Number(body.totals?.requests);
  return Number.isFinite(n) ? n : undefined;
}

/** `inferledger <kind>` as a process of its own, in `dir/<kind>`, trusting X-Tenant-Id from the admin key. */
function startProcess(kind: 'api' | 'sidecar', dir: string, adminKey: string, env: Record<string, string>): Promise<RunningProcess> {
  const dataDir = join(dir, kind);
  mkdirSync(dataDir, { recursive: true });
  const config = { server: { host: '127.0.0.1', port: 0 }, sidecar: { port: 0, trust_tenant_header: true }, tenants: { [TENANT]: {} } };
  return startInferledger(kind, { dataDir, config, adminKey, env });
}
