import { createQuotaAuthority } from '../quotas/authority.ts';
import { createHttpQuotaAuthority } from '../quotas/http-authority.ts';
import type { QuotaAuthority } from '../quotas/types.ts';
import { QuotaGate } from '../sidecar/quota-client.ts';
import { QUOTA_TENANT } from './platform.ts';
import { metric } from './report.ts';
import { shuffled } from './stats.ts';
import type { Suite, SuiteContext } from './suite.ts';
import type { Metric, SuiteOutcome } from './types.ts';

/**
 * SPEC §6: a tenant with limit L on N replicas gets L, not N x L. N real QuotaGates (the sidecar's
 * quota client) lease requests_per_minute budget from one real authority, in process on a frozen
 * clock (exact and repeatable), under several interleavings of 10 x L admission attempts; with
 * --quota-http, once more over HTTP against the started platform's authority (real clock).
 * The bound each row is read against: admitted <= L always, and admitted >= L - N x max_chunk
 * (budget leased to a replica whose traffic stopped is stranded until lease_ttl_s idle).
 */

export const QUOTA_LIMIT = 100;
const MAX_CHUNK = 20;
const TTL_S = 5;
const TENANT = 'acme';
const START = Date.parse('2026-10-15T12:00:00Z');

export interface Interleaving {
  name: string;
  /** Replica index per attempt, in order. */
  order: number[];
  /** All attempts in flight at once (true) or one after another. */
  concurrent: boolean;
}

/** The interleavings every run measures (pure: the same orders on every run). */
export function interleavings(replicas: number, attempts: number): Interleaving[] {
  const roundRobin = Array.from({ length: attempts }, (_, i) => i % replicas);
  const skewed = [...Array.from({ length: replicas }, (_, i) => i), ...Array.from({ length: attempts - replicas }, () => 0)];
  return [
    { name: 'round-robin, sequential', order: roundRobin, concurrent: false },
    { name: 'round-robin, all in flight', order: roundRobin, concurrent: true },
    { name: 'seeded shuffle, all in flight', order: shuffled(roundRobin, 42), concurrent: true },
    { name: 'seeded shuffle, sequential', order: shuffled(roundRobin, 7), concurrent: false },
    { name: 'traffic moves to one replica', order: skewed, concurrent: false },
  ];
}

interface Fleet {
  gates: QuotaGate[];
  leases: () => number;
}

function countingTransport(authority: QuotaAuthority): { transport: QuotaAuthority; leases: () => number } {
  let leases = 0;
  const transport: QuotaAuthority = {
    release: (req) => authority.release(req),
    monthlyBlocks: (t) => authority.monthlyBlocks(t),
    status: (t) => authority.status(t),
    lease: (req) => {
      if (req.kind === 'requests_per_minute') leases++;
      return authority.lease(req);
    },
  };
  return { transport, leases: () => leases };
}

function inProcessFleet(replicas: number, clock: { now: number }): Fleet {
  const authority = createQuotaAuthority({
    limitsOf: () => ({ requests_per_minute: QUOTA_LIMIT }),
    now: () => clock.now,
    leaseTtlS: TTL_S,
    readMonthlyUsage: async () => new Map(),
  });
  const { transport, leases } = countingTransport(authority);
  const gates = Array.from(
    { length: replicas },
    (_, i) => new QuotaGate({ authority: transport, holder: `replica-${i}`, maxChunk: MAX_CHUNK, leaseTtlS: TTL_S, failMode: 'closed', now: () => clock.now }),
  );
  return { gates, leases };
}

/** Admission attempts in `order` (replica index per attempt); how many were admitted. */
export async function countAdmitted(gates: QuotaGate[], tenant: string, order: readonly number[], concurrent: boolean): Promise<number> {
  const admit = (g: number) => gates[g]!.admit(tenant, 0).then((d) => (d.ok ? 1 : 0));
  if (concurrent) return (await Promise.all(order.map(admit))).reduce<number>((a, b) => a + b, 0);
  let n = 0;
  for (const g of order) n += await admit(g);
  return n;
}

export interface InterleavingResult {
  name: string;
  admitted: number;
  leases: number;
  /** Admitted after the stranded budget came back (lease_ttl_s idle, one sweep), same minute. */
  admittedAfterSweep?: number;
}

async function runInProcess(replicas: number, attempts: number): Promise<InterleavingResult[]> {
  const out: InterleavingResult[] = [];
  for (const il of interleavings(replicas, attempts)) {
    const clock = { now: START + 1000 };
    const fleet = inProcessFleet(replicas, clock);
    const admitted = await countAdmitted(fleet.gates, TENANT, il.order, il.concurrent);
    const result: InterleavingResult = { name: il.name, admitted, leases: fleet.leases() };
    if (admitted < QUOTA_LIMIT) {
      clock.now += TTL_S * 1000;
      await Promise.all(fleet.gates.map((g) => g.sweep()));
      // The traffic stays where it went (the last replica of the order), as in production.
      const last = il.order[il.order.length - 1] ?? 0;
      result.admittedAfterSweep = admitted + (await countAdmitted(fleet.gates, TENANT, Array.from({ length: attempts }, () => last), false));
    }
    out.push(result);
  }
  return out;
}

/** Over HTTP the clock is real: start early in a minute so one run stays inside one window. */
async function runOverHttp(ctx: SuiteContext, replicas: number, attempts: number): Promise<InterleavingResult & { windowCrossed: boolean }> {
  const bench = await ctx.platform();
  const secondOfMinute = (Date.now() % 60_000) / 1000;
  if (secondOfMinute > 40) {
    ctx.progress(`quota-accuracy: waiting ${Math.ceil(60 - secondOfMinute)} s for a fresh quota minute (HTTP run)`);
    await new Promise((r) => setTimeout(r, 60_000 - (Date.now() % 60_000) + 50));
  }
  const { transport, leases } = countingTransport(createHttpQuotaAuthority({ baseUrl: bench.baseUrl, key: bench.adminKey }));
  const gates = Array.from(
    { length: replicas },
    (_, i) => new QuotaGate({ authority: transport, holder: `bench-http-${i}`, maxChunk: MAX_CHUNK, leaseTtlS: TTL_S, failMode: 'closed' }),
  );
  const minute = Math.floor(Date.now() / 60_000);
  const order = shuffled(Array.from({ length: attempts }, (_, i) => i % replicas), 42);
  const admitted = await countAdmitted(gates, QUOTA_TENANT, order, true);
  const windowCrossed = Math.floor(Date.now() / 60_000) !== minute;
  await Promise.all(gates.map((g) => g.stop()));
  return { name: 'over HTTP, seeded shuffle, all in flight', admitted, leases: leases(), windowCrossed };
}

/** Rows for one interleaving: admitted against L, leases made, budget stranded. */
export function interleavingMetrics(r: InterleavingResult, limit: number, strandedBound: number): Metric[] {
  const label = r.name;
  const rows = [
    metric(`admitted (baseline: L): ${label}`, r.admitted, 'req', limit),
    metric(`leases: ${label}`, r.leases, 'leases'),
    metric(`stranded L - admitted (baseline: bound N x max_chunk): ${label}`, limit - r.admitted, 'req', strandedBound),
  ];
  if (r.admittedAfterSweep !== undefined) rows.push(metric(`admitted once idle leases returned (baseline: L): ${label}`, r.admittedAfterSweep, 'req', limit));
  return rows;
}

export const quotaAccuracySuite: Suite = {
  name: 'quota-accuracy',
  description: 'N sidecar QuotaGates leasing requests_per_minute L from one authority: admitted vs L',
  async run(ctx): Promise<SuiteOutcome> {
    const replicas = ctx.options.replicas;
    const attempts = 10 * QUOTA_LIMIT;
    const results = await runInProcess(replicas, attempts);
    const bound = replicas * MAX_CHUNK;
    const metrics = results.flatMap((r) => interleavingMetrics(r, QUOTA_LIMIT, bound));
    let httpNote: string | undefined;
    if (ctx.options.quotaHttp) {
      const http = await runOverHttp(ctx, replicas, attempts);
      results.push(http);
      metrics.push(...interleavingMetrics(http, QUOTA_LIMIT, bound));
      if (http.windowCrossed) httpNote = 'the HTTP run crossed a minute boundary: up to 2 x L may be admitted there';
    }
    const floor = Math.max(0, QUOTA_LIMIT - replicas * MAX_CHUNK);
    const over = results.filter((r) => r.admitted > QUOTA_LIMIT && !(httpNote && r.name.startsWith('over HTTP')));
    const params = { replicas, limit_per_minute: QUOTA_LIMIT, max_chunk: MAX_CHUNK, lease_ttl_s: TTL_S, attempts, floor, http: ctx.options.quotaHttp };
    if (over.length) return { status: 'failed', reason: `admitted more than L = ${QUOTA_LIMIT}: ${over.map((r) => `${r.name} (${r.admitted})`).join(', ')}`, params, metrics };
    return { status: 'ok', params, metrics, ...(httpNote ? { reason: httpNote } : {}) };
  },
};
