import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startInferledger, type RunningProcess } from './child-process.ts';
import type { ClientResult } from './http-load-client.ts';
import { featureRows, inferBody } from './load.ts';
import { metric } from './report.ts';
import { removeScratch, scratchDir } from './scratch.ts';
import { perSecond, summarize } from './stats.ts';
import type { Suite, SuiteContext } from './suite.ts';
import type { Metric, SuiteOutcome } from './types.ts';

/**
 * SPEC §6 "a tenant flooding does not starve the others", over real HTTP: what the fair-sharing
 * simulation cannot show. A tenant far past its requests_per_minute quota that retries at once on
 * every 429 (64 connections, ignoring Retry-After) costs the sidecar one refusal per request, and
 * a refusal is HTTP parsing, authentication, a recorded span and an answer: CPU, and turns of the
 * event loop, that a light tenant's served requests wait behind. Two `inferledger up` processes of
 * their own (as deployed), one with refusal pacing off (`quotas.repeat_refusal_delay_ms: 0`), one
 * with the default; against each:
 * - the server's CPU per refused request (unpaced, flood alone) against its CPU per served request
 *   (the server's /proc CPU, every thread; the load runs in a child process of its own);
 * - a light tenant's throughput and latency (4 in flight) during the flood, against the same
 *   light tenant alone.
 * The load client shares the machine's CPUs, so on a 2-core machine the flood's client competes
 * with the server too: a worst case for small machines.
 */

const LOAD_CLIENT = fileURLToPath(new URL('./http-load-client.ts', import.meta.url));
const RUN_TS = fileURLToPath(new URL('../../bin/run-ts.js', import.meta.url));
const MODEL = 'classifier-small';
const LIGHT = 'light';
const FLOOD = 'flood';
const LIGHT_IN_FLIGHT = 4;
const FLOOD_IN_FLIGHT = 64;
/** Refusals per served request measured: a refusal is cheap, so more of them make the CPU figure steady. */
const REFUSALS_PER_REQUEST = 2;
const DEFAULT_DELAY_MS = 1000;

interface ClientPlan {
  name: string;
  key: string;
  inFlight: number;
  count?: number;
}

/** One `inferledger up` run: the light tenant alone, then beside the flood (and the flood alone, unpaced). */
interface Measured {
  alone: LoadRun;
  during: LoadRun;
  floodAlone?: LoadRun;
}

export const noisyFloodSuite: Suite = {
  name: 'noisy-flood',
  description: 'a tenant flooding past its quota over HTTP, with and without refusal pacing: server CPU per refusal, a light tenant beside it',
  async run(ctx): Promise<SuiteOutcome> {
    if (!existsSync(`/proc/${process.pid}/stat`)) return { status: 'skipped', reason: 'reads process CPU from /proc/<pid>/stat (Linux only)', params: {}, metrics: [] };
    const n = ctx.options.requests;
    const body = JSON.stringify(inferBody(featureRows(1, 20261129), 1));
    const unpaced = await measure(ctx, 0, n, body);
    const paced = await measure(ctx, DEFAULT_DELAY_MS, n, body);

    const failed = [unpaced.alone, unpaced.during, paced.alone, paced.during].map((r) => r.clients[LIGHT]!).find((r) => r.served !== r.requests);
    if (failed) return { status: 'failed', reason: `the light tenant was refused: ${JSON.stringify(failed.refused)}`, params: {}, metrics: [] };
    const refusals = unpaced.floodAlone!.clients[FLOOD]!;
    if (refusals.served === refusals.requests) return { status: 'failed', reason: 'the flood was never refused: is its quota configured?', params: {}, metrics: [] };
    const cpuPer = (run: LoadRun, name: string) => (run.serverCpuMs === undefined || !run.clients[name]!.requests ? null : run.serverCpuMs / run.clients[name]!.requests);
    const rate = (r: ClientResult) => perSecond(r.served, r.wallMs);
    const answered = (r: ClientResult) => perSecond(r.requests, r.wallMs);
    const metrics: Metric[] = [
      metric('server CPU per refused request, unpaced flood alone (baseline: per served request, light alone)', cpuPer(unpaced.floodAlone!, FLOOD), 'ms', cpuPer(unpaced.alone, LIGHT)),
      metric('flood answered per second, alone, unpaced', answered(refusals), 'req/s'),
    ];
    for (const [label, run] of [['unpaced (repeat_refusal_delay_ms 0)', unpaced], [`paced (${DEFAULT_DELAY_MS} ms, the default)`, paced]] as const) {
      const alone = run.alone.clients[LIGHT]!;
      const during = run.during.clients[LIGHT]!;
      const a = summarize(alone.latenciesMs);
      const d = summarize(during.latenciesMs);
      metrics.push(
        metric(`light served per second during the flood, ${label} (baseline: alone)`, rate(during), 'req/s', rate(alone)),
        metric(`light p50 latency during the flood, ${label} (baseline: alone)`, d.p50, 'ms', a.p50),
        metric(`light p99 latency during the flood, ${label} (baseline: alone)`, d.p99, 'ms', a.p99),
        metric(`flood answered per second beside the light tenant, ${label}`, answered(run.during.clients[FLOOD]!), 'req/s'),
      );
    }
    return {
      status: 'ok',
      params: { requests: n, model: MODEL, light_in_flight: LIGHT_IN_FLIGHT, flood_in_flight: FLOOD_IN_FLIGHT, flood_quota_per_minute: 1 },
      metrics,
    };
  },
};

/** Starts `inferledger up` with this pacing delay and runs the phases against it. */
async function measure(ctx: SuiteContext, delayMs: number, n: number, body: string): Promise<Measured> {
  const dataDir = scratchDir('inferledger-bench-flood-');
  const adminKey = `il_admin_bench_${randomBytes(16).toString('hex')}`;
  ctx.progress(`noisy-flood: starting inferledger up with quotas.repeat_refusal_delay_ms ${delayMs}`);
  const up = await startInferledger('up', {
    dataDir,
    adminKey,
    config: {
      server: { host: '127.0.0.1', port: 0 },
      quotas: { repeat_refusal_delay_ms: delayMs },
      tenants: { [LIGHT]: {}, [FLOOD]: { quotas: { requests_per_minute: 1 } } },
    },
  });
  try {
    const light = { name: LIGHT, key: await createTenantKey(up.baseUrl, adminKey, LIGHT), inFlight: LIGHT_IN_FLIGHT };
    const flood = { name: FLOOD, key: await createTenantKey(up.baseUrl, adminKey, FLOOD), inFlight: FLOOD_IN_FLIGHT };
    const load = (clients: ClientPlan[]) => runLoad(up, body, clients);
    ctx.progress(`noisy-flood: warm-up, then ${n} light requests alone (${LIGHT_IN_FLIGHT} in flight)`);
    await load([{ ...light, count: Math.min(n, 200) }]);
    const alone = await load([{ ...light, count: n }]);
    let floodAlone: LoadRun | undefined;
    if (delayMs === 0) {
      ctx.progress(`noisy-flood: ${REFUSALS_PER_REQUEST * n} flood requests alone (${FLOOD_IN_FLIGHT} in flight, all but one a minute over quota)`);
      floodAlone = await load([{ ...flood, count: REFUSALS_PER_REQUEST * n }]);
    }
    ctx.progress(`noisy-flood: ${n} light requests during the flood`);
    const during = await load([{ ...light, count: n }, flood]);
    return { alone, during, ...(floodAlone ? { floodAlone } : {}) };
  } finally {
    await up.stop();
    removeScratch(dataDir);
  }
}

async function createTenantKey(baseUrl: string, adminKey: string, tenant: string): Promise<string> {
  const res = await fetch(`${baseUrl}/v1/tenants/${tenant}/keys`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}` } });
  const text = await res.text();
  if (res.status !== 201 && res.status !== 200) throw new Error(`creating a key for ${tenant}: HTTP ${res.status} ${text.slice(0, 200)}`);
  return (JSON.parse(text) as { key: string }).key;
}

interface LoadRun {
  clients: Record<string, ClientResult>;
  /** CPU the server process used while the load ran, ms (every thread: HTTP, spans, engine). */
  serverCpuMs: number | undefined;
}

/** Runs the load client as a child process and returns its results and the server's CPU meanwhile. */
async function runLoad(server: RunningProcess, body: string, clients: ClientPlan[]): Promise<LoadRun> {
  const plan = { baseUrl: server.baseUrl, clients: clients.map((c) => ({ ...c, model: MODEL, body })) };
  const cpu0 = server.cpuMs();
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [RUN_TS, LOAD_CLIENT, JSON.stringify(plan)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`load client exited ${code}: ${err.slice(-1000)}`))));
  });
  const cpu1 = server.cpuMs();
  return { clients: JSON.parse(output) as Record<string, ClientResult>, serverCpuMs: cpu0 === undefined || cpu1 === undefined ? undefined : cpu1 - cpu0 };
}
