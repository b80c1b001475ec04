/**
 * Deterministic simulation of a saturated sidecar: the FIFO `AdmissionQueue` against the weighted
 * `FairQueue`, same arrivals, same capacity. Time is virtual (ticks), so the numbers are exact and
 * repeatable; they show what §6 asks for: a noisy tenant cannot starve the others.
 *
 *   node bin/run-ts.js scripts/fair-share-sim.ts [ticks]
 */
import { FairQueue, type Admitted } from '../src/sidecar/fair-queue.ts';

interface Tenant {
  name: string;
  weight: number;
  /** Arrives once every `every` sub-steps (SUBSTEPS per tick), so arrivals interleave within a tick. */
  every: number;
  /** Sub-step of its first arrival; spread so that no tenant always arrives first after slots free. */
  offset: number;
}

const SUBSTEPS = 40;
const CONCURRENCY = 4; // each request runs exactly one tick: capacity is 4 requests per tick
const TENANTS: Tenant[] = [
  { name: 'noisy (w1, 40/tick)', weight: 1, every: 1, offset: 0 },
  { name: 'steady (w1, 0.5/tick)', weight: 1, every: 80, offset: 37 },
  { name: 'premium (w3, 2/tick)', weight: 3, every: 20, offset: 11 },
];

type Admit = (tenant: Tenant) => Promise<Admitted> | undefined;

interface Tally {
  offered: number;
  served: number;
  refused: number;
  waits: number[];
}

async function simulate(ticks: number, admit: Admit, clock: { now: number }): Promise<Map<string, Tally>> {
  const tallies = new Map(TENANTS.map((t) => [t.name, { offered: 0, served: 0, refused: 0, waits: [] as number[] }]));
  let running: Admitted[] = [];
  let startedThisTick: Admitted[] = [];
  for (let tick = 0; tick < ticks; tick++) {
    clock.now = tick;
    for (let step = 0; step < SUBSTEPS; step++) {
      for (const t of TENANTS) {
        if ((tick * SUBSTEPS + step - t.offset) % t.every !== 0) continue;
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
          startedThisTick.push(a);
        });
      }
    }
    await Promise.resolve();
    // Light tenants' best case is a 1-tick wait: slots free only at tick ends.
    // Everything that ran during this tick completes at its end; freed slots pass to waiters at once.
    running = [...running, ...startedThisTick];
    startedThisTick = [];
    clock.now = tick + 1;
    for (const a of running) a.release();
    running = [];
    for (let i = 0; i < 3; i++) await Promise.resolve();
  }
  return tallies;
}

function report(title: string, tallies: Map<string, Tally>, ticks: number): void {
  console.log(`\n${title}`);
  console.log('tenant                     offered   served  refused  served/tick  p50 wait  p99 wait (ticks)');
  for (const [name, t] of tallies) {
    const sorted = [...t.waits].sort((a, b) => a - b);
    const pct = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    console.log(
      `${name.padEnd(26)} ${String(t.offered).padStart(7)} ${String(t.served).padStart(8)} ${String(t.refused).padStart(8)}` +
        ` ${(t.served / ticks).toFixed(2).padStart(12)} ${String(pct(0.5)).padStart(9)} ${String(pct(0.99)).padStart(9)}`,
    );
  }
}

const ticks = Number(process.argv[2] ?? 1000);
const fifoClock = { now: 0 };
// FIFO baseline: the same queue with every tenant under one key is one first-come queue.
const fifo = new FairQueue({ maxConcurrency: CONCURRENCY, maxQueue: 256, maxQueuePerTenant: 256, now: () => fifoClock.now });
report('FIFO (max_queue 256)', await simulate(ticks, () => fifo.tryAdmit('everyone'), fifoClock), ticks);

const fairClock = { now: 0 };
const fair = new FairQueue({ maxConcurrency: CONCURRENCY, maxQueue: 256, maxQueuePerTenant: 64, now: () => fairClock.now });
report('FairQueue (max_queue 256, max_queue_per_tenant 64)', await simulate(ticks, (t) => fair.tryAdmit(t.name, t.weight), fairClock), ticks);
