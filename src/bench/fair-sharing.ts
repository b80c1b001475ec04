import { FairQueue, type Admitted } from '../sidecar/fair-queue.ts';
import { metric } from './report.ts';
import { percentile } from './stats.ts';
import type { Suite } from './suite.ts';
import type { SuiteOutcome } from './types.ts';

/**
 * SPEC §6 fair sharing, measured on the real FairQueue under a virtual clock (deterministic: the
 * same numbers on every machine). Time is in ticks; one tick is the service time of one request,
 * and CONCURRENCY requests run per tick. Three light tenants use 2.6 of the 4 slots per tick; a
 * noisy tenant floods at 10x its weighted share (share = 4 x 1/5 = 0.8/tick, so 8/tick). The
 * others' p99 wait with the noisy tenant is read against their p99 without it; the FIFO run (the
 * same queue with every tenant under one key) shows what fair queueing prevents.
 */

export interface SimTenant {
  name: string;
  weight: number;
  /** One arrival every `every` sub-steps (SUBSTEPS per tick). */
  every: number;
  /** Sub-step of the first arrival, so tenants interleave within a tick. */
  offset: number;
}

export const SUBSTEPS = 40;
export const CONCURRENCY = 4;
export const NOISY = 'noisy';
const MAX_QUEUE = 256;
const MAX_QUEUE_PER_TENANT = 64;

export const LIGHT_TENANTS: SimTenant[] = [
  { name: 'steady-a', weight: 1, every: 50, offset: 7 }, // 0.8 / tick
  { name: 'steady-b', weight: 1, every: 50, offset: 31 }, // 0.8 / tick
  { name: 'premium', weight: 2, every: 40, offset: 13 }, // 1.0 / tick
];

/** The noisy tenant's weighted share of the slots, and its flood at `factor` times that. */
export function noisyTenant(factor = 10): { tenant: SimTenant; sharePerTick: number } {
  const weight = 1;
  const sharePerTick = (CONCURRENCY * weight) / (weight + LIGHT_TENANTS.reduce((a, t) => a + t.weight, 0));
  const perTick = sharePerTick * factor;
  return { tenant: { name: NOISY, weight, every: Math.max(1, Math.round(SUBSTEPS / perTick)), offset: 0 }, sharePerTick };
}

export const arrivesAt = (t: SimTenant, tick: number, step: number) => (tick * SUBSTEPS + step - t.offset) % t.every === 0 && tick * SUBSTEPS + step >= t.offset;

export interface Tally {
  offered: number;
  served: number;
  refused: number;
  waits: number[];
}

type Admit = (t: SimTenant) => Promise<Admitted> | undefined;

/** Runs `ticks` ticks of arrivals through `admit`; slots free only at tick ends. */
export async function simulate(tenants: readonly SimTenant[], ticks: number, admit: Admit, clock: { now: number }): Promise<Map<string, Tally>> {
  const tallies = new Map(tenants.map((t) => [t.name, { offered: 0, served: 0, refused: 0, waits: [] as number[] }]));
  let running: Admitted[] = [];
  let started: Admitted[] = [];
  for (let tick = 0; tick < ticks; tick++) {
    clock.now = tick;
    for (let step = 0; step < SUBSTEPS; step++) {
      for (const t of tenants) {
        if (!arrivesAt(t, tick, step)) continue;
        const tally = tallies.get(t.name)!;
        tally.offered++;
        const p = admit(t);
        if (!p) {
          tally.refused++;
          continue;
        }
        void p.then((a) => {
          tally.served++;
          tally.waits.push(a.queueMs);
          started.push(a);
        });
      }
    }
    await Promise.resolve();
    running = [...running, ...started];
    started = [];
    clock.now = tick + 1;
    for (const a of running) a.release();
    running = [];
    // Let the grants of freed slots settle (they run next tick).
    for (let i = 0; i < 3; i++) await Promise.resolve();
  }
  return tallies;
}

export interface OthersSummary {
  p50: number | null;
  p99: number | null;
  /** p99 of wait + the one tick of service: never 0, so it has a ratio. */
  p99Latency: number | null;
  served: number;
  offered: number;
  refused: number;
}

/** The light tenants' waits together, and how many of their requests were refused. */
export function othersOf(tallies: Map<string, Tally>): OthersSummary {
  const others = [...tallies.entries()].filter(([name]) => name !== NOISY).map(([, t]) => t);
  const waits = others.flatMap((t) => t.waits);
  const sum = (f: (t: Tally) => number) => others.reduce((a, t) => a + f(t), 0);
  const p99 = percentile(waits, 99);
  return { p50: percentile(waits, 50), p99, p99Latency: p99 === null ? null : p99 + 1, served: sum((t) => t.served), offered: sum((t) => t.offered), refused: sum((t) => t.refused) };
}

async function runFair(tenants: readonly SimTenant[], ticks: number) {
  const clock = { now: 0 };
  const q = new FairQueue({ maxConcurrency: CONCURRENCY, maxQueue: MAX_QUEUE, maxQueuePerTenant: MAX_QUEUE_PER_TENANT, now: () => clock.now });
  return simulate(tenants, ticks, (t) => q.tryAdmit(t.name, t.weight), clock);
}

async function runFifo(tenants: readonly SimTenant[], ticks: number) {
  const clock = { now: 0 };
  const q = new FairQueue({ maxConcurrency: CONCURRENCY, maxQueue: MAX_QUEUE, maxQueuePerTenant: MAX_QUEUE, now: () => clock.now });
  return simulate(tenants, ticks, () => q.tryAdmit('everyone'), clock);
}

export const fairSharingSuite: Suite = {
  name: 'fair-sharing',
  description: "the real FairQueue, saturated by a tenant flooding at 10x its share: the others' p99 wait with vs without it",
  async run(ctx): Promise<SuiteOutcome> {
    const ticks = 2000;
    const { tenant: noisy, sharePerTick } = noisyTenant(10);
    ctx.progress(`fair-sharing: ${ticks} ticks x ${CONCURRENCY} slots, three light tenants, noisy at ${noisy.every === 0 ? '?' : SUBSTEPS / noisy.every}/tick`);
    const without = othersOf(await runFair(LIGHT_TENANTS, ticks));
    const withTallies = await runFair([noisy, ...LIGHT_TENANTS], ticks);
    const withNoisy = othersOf(withTallies);
    const fifo = othersOf(await runFifo([noisy, ...LIGHT_TENANTS], ticks));
    const n = withTallies.get(NOISY)!;
    const params = { ticks, concurrency: CONCURRENCY, max_queue: MAX_QUEUE, max_queue_per_tenant: MAX_QUEUE_PER_TENANT, noisy_factor: 10, noisy_share_per_tick: sharePerTick };
    return {
      status: 'ok',
      params,
      metrics: [
        metric("others' p99 wait, noisy flooding (baseline: no noisy tenant)", withNoisy.p99, 'ticks', without.p99),
        metric("others' p99 latency = wait + 1-tick service, noisy flooding (baseline: no noisy tenant)", withNoisy.p99Latency, 'ticks', without.p99Latency),
        metric("others' p50 wait, noisy flooding (baseline: no noisy tenant)", withNoisy.p50, 'ticks', without.p50),
        metric("others' served, noisy flooding (baseline: offered)", withNoisy.served, 'req', withNoisy.offered),
        metric("others' p99 wait, FIFO queue with noisy flooding (baseline: no noisy tenant)", fifo.p99, 'ticks', without.p99),
        metric("others' p99 latency, FIFO queue with noisy flooding (baseline: no noisy tenant)", fifo.p99Latency, 'ticks', without.p99Latency),
        metric("others' refused, FIFO queue with noisy flooding (baseline: offered)", fifo.refused, 'req', fifo.offered),
        metric('noisy refusals (baseline: offered)', n.refused, 'req', n.offered),
        metric('noisy served per tick (baseline: its weighted share)', n.served / ticks, 'req/tick', sharePerTick),
      ],
    };
  },
};
