import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Admitted } from './fair-queue.ts';
import { AdmissionAbandoned, FairQueue, type FairQueueOptions } from './fair-queue.ts';

/**
 * Every test observes the order of service, never timing: grants are recorded in the promise
 * callbacks (which run in grant order) and slots are freed by an explicit release loop.
 */

interface Grant {
  tenant: string;
  id: number;
  admitted: Admitted;
}

// A grant resolves its promise synchronously inside release(); its callback needs one microtask hop.
const flush = async () => {
  for (let i = 0; i < 3; i++) await Promise.resolve();
};

function harness(opts: FairQueueOptions) {
  const q = new FairQueue(opts);
  const served: Grant[] = [];
  const live: Grant[] = []; // granted and not yet released, oldest first
  const refused: string[] = [];
  let nextId = 0;
  return {
    q,
    served,
    live,
    refused,
    /** Undefined when refused, else the request's id (ids rise with arrival). */
    arrive(tenant: string, weight = 1, cost = 1): number | undefined {
      const id = nextId++;
      const p = q.tryAdmit(tenant, weight, cost);
      if (!p) {
        refused.push(tenant);
        return undefined;
      }
      void p.then((admitted) => {
        const g = { tenant, id, admitted };
        served.push(g);
        live.push(g);
      });
      return id;
    },
    /** Completes the oldest running request and lets its slot pass on. */
    async completeOldest(): Promise<void> {
      await flush();
      live.shift()?.admitted.release();
      await flush();
    },
    async drain(): Promise<void> {
      await flush();
      while (live.length > 0) await this.completeOldest();
    },
  };
}

const big = { maxQueue: 10_000, maxQueuePerTenant: 10_000 };
const order = (gs: Grant[]) => gs.map((g) => g.tenant).join('');
const count = (gs: Grant[], tenant: string) => gs.filter((g) => g.tenant === tenant).length;

describe('FairQueue order of service', () => {
  it('serves a late light tenant interleaved with a backlog, not after it', async () => {
    const h = harness({ maxConcurrency: 1, ...big });
    for (let i = 0; i < 100; i++) h.arrive('A');
    for (let i = 0; i < 10; i++) h.arrive('B');
    await h.drain();
    // A's first ran at once; then equal tags alternate, the earlier arrival (A) first.
    expect(order(h.served.slice(0, 21))).toBe(`A${'AB'.repeat(10)}`);
    expect(h.served.map((g) => g.tenant).lastIndexOf('B')).toBe(20);
    expect(h.served).toHaveLength(110);
  });

  it('splits service 3:1 by weight over a long backlog, within one request at every prefix', async () => {
    const h = harness({ maxConcurrency: 1, ...big });
    for (let i = 0; i < 200; i++) h.arrive('A', 3);
    for (let i = 0; i < 200; i++) h.arrive('B', 1);
    await h.drain();
    const both = h.served.slice(0, 240); // A's 200 are gone after ~266 services; compare while both wait
    for (let n = 1; n <= both.length; n++) expect(Math.abs(count(both.slice(0, n), 'A') - 0.75 * n)).toBeLessThanOrEqual(1);
    expect([count(both, 'A'), count(both, 'B')]).toEqual([180, 60]);
  });

  it('charges by cost: a tenant sending double-cost requests gets half as many', async () => {
    const h = harness({ maxConcurrency: 1, ...big });
    h.arrive('X'); // holds the slot so that every measured request is tagged
    for (let i = 0; i < 60; i++) h.arrive('A', 1, 2);
    for (let i = 0; i < 60; i++) h.arrive('B', 1, 1);
    await h.drain();
    const first60 = h.served.slice(1, 61);
    expect([count(first60, 'A'), count(first60, 'B')]).toEqual([20, 40]);
  });

  it('keeps FIFO order within a tenant whatever the costs', async () => {
    const h = harness({ maxConcurrency: 1, ...big });
    const ids = [3, 1, 2, 5, 1, 1, 4].map((cost) => h.arrive('A', 2, cost));
    for (let i = 0; i < 5; i++) h.arrive('B');
    await h.drain();
    expect(h.served.filter((g) => g.tenant === 'A').map((g) => g.id)).toEqual(ids);
  });

  it('banks no credit for idle time: a tenant returning after a quiet spell alternates, not bursts', async () => {
    const h = harness({ maxConcurrency: 1, ...big });
    for (let i = 0; i < 60; i++) h.arrive('A');
    for (let i = 0; i < 30; i++) await h.completeOldest(); // A alone for 30 services; B idle
    for (let i = 0; i < 10; i++) h.arrive('B');
    const before = h.served.length;
    await h.drain();
    expect(order(h.served.slice(before, before + 20))).toBe('AB'.repeat(10));
  });

  it('refuses a tenant flooding at 10x its share at its own bound; the light tenant is never refused', async () => {
    const h = harness({ maxConcurrency: 2, maxQueue: 64, maxQueuePerTenant: 8 });
    const waits: number[] = []; // B's wait, in services, from arrival to grant
    for (let round = 0; round < 200; round++) {
      // Capacity is 2 per round, a fair share of 1 each: A tries 10, B needs 0.5.
      for (let i = 0; i < 10; i++) h.arrive('A');
      if (round % 2 === 0) {
        await flush(); // count A's immediate grants of round 0 before B arrives
        waits.push(h.served.length);
        h.arrive('B');
      }
      const stats = h.q.stats();
      expect(stats.queuedByTenant.A ?? 0).toBeLessThanOrEqual(8);
      expect(stats.queuedByTenant.B ?? 0).toBeLessThanOrEqual(1);
      await h.completeOldest();
      await h.completeOldest();
    }
    await h.drain();
    expect(count(h.served, 'B')).toBe(100);
    expect(h.refused.filter((t) => t === 'B')).toHaveLength(0);
    expect(h.refused.filter((t) => t === 'A').length).toBeGreaterThan(1_500);
    // Each B request was served within two services of its arrival despite A's full queue.
    const bGrants = h.served.flatMap((g, i) => (g.tenant === 'B' ? [i] : []));
    expect(Math.max(...bGrants.map((at, k) => at - (waits[k] ?? 0)))).toBeLessThanOrEqual(2);
  });
});

describe('FairQueue slots and bounds', () => {
  it('is work-conserving: a lone tenant uses every slot, and only then waits', async () => {
    const h = harness({ maxConcurrency: 4, maxQueue: 4, maxQueuePerTenant: 4 });
    for (let i = 0; i < 6; i++) h.arrive('A');
    await flush();
    expect(h.served.map((g) => g.admitted.queueMs)).toEqual([0, 0, 0, 0]);
    expect(h.q.stats()).toEqual({ running: 4, queued: 2, queuedByTenant: { A: 2 } });
  });

  it('frees exactly the released slots; a double release frees nothing more', async () => {
    let clock = 0;
    const q = new FairQueue({ maxConcurrency: 2, maxQueue: 4, maxQueuePerTenant: 4, now: () => clock });
    const a = await q.tryAdmit('A', 1)!;
    const b = await q.tryAdmit('B', 1)!;
    const c = q.tryAdmit('C', 1)!;
    expect(q.stats()).toEqual({ running: 2, queued: 1, queuedByTenant: { C: 1 } });
    clock = 25;
    a.release();
    a.release();
    const cAdmitted = await c;
    expect(cAdmitted.queueMs).toBe(25);
    expect(q.stats()).toEqual({ running: 2, queued: 0, queuedByTenant: {} });
    b.release();
    b.release();
    expect(q.inFlight).toBe(1);
    cAdmitted.release();
    expect(q.stats()).toEqual({ running: 0, queued: 0, queuedByTenant: {} });
    expect(await q.tryAdmit('D', 1)).toMatchObject({ queueMs: 0 }); // the freed slot is usable again
  });

  it('a waiter whose client went away leaves the queue: its place is free, the slot goes to the next one', async () => {
    const q = new FairQueue({ maxConcurrency: 1, maxQueue: 4, maxQueuePerTenant: 2 });
    const running = await q.tryAdmit('A', 1)!;
    const gone = new AbortController();
    const left = q.tryAdmit('B', 1, 1, gone.signal)!;
    const next = q.tryAdmit('B', 1)!;
    expect(q.tryAdmit('B', 1)).toBeUndefined(); // B's two places are taken
    gone.abort();
    await expect(left).rejects.toBeInstanceOf(AdmissionAbandoned);
    expect(q.stats()).toEqual({ running: 1, queued: 1, queuedByTenant: { B: 1 } });
    const again = q.tryAdmit('B', 1)!; // the place it left is usable
    expect(again).toBeDefined();
    running.release();
    const nextAdmitted = await next;
    expect(q.stats()).toEqual({ running: 1, queued: 1, queuedByTenant: { B: 1 } });
    nextAdmitted.release();
    (await again).release();
    expect(q.stats()).toEqual({ running: 0, queued: 0, queuedByTenant: {} });
  });

  it('an abort after the slot was granted changes nothing; an already aborted signal never waits', async () => {
    const q = new FairQueue({ maxConcurrency: 1, maxQueue: 4, maxQueuePerTenant: 4 });
    const running = await q.tryAdmit('A', 1)!;
    const late = new AbortController();
    const waiting = q.tryAdmit('B', 1, 1, late.signal)!;
    running.release();
    const granted = await waiting;
    late.abort();
    expect(q.stats()).toEqual({ running: 1, queued: 0, queuedByTenant: {} });
    await expect(q.tryAdmit('C', 1, 1, AbortSignal.abort())!).rejects.toBeInstanceOf(AdmissionAbandoned);
    expect(q.stats()).toEqual({ running: 1, queued: 0, queuedByTenant: {} });
    granted.release();
    expect(q.inFlight).toBe(0);
  });

  it('refuses at the tenant bound first, then at the global bound', () => {
    const h = harness({ maxConcurrency: 1, maxQueue: 6, maxQueuePerTenant: 5 });
    h.arrive('X');
    for (let i = 0; i < 7; i++) h.arrive('A');
    expect(h.refused).toEqual(['A', 'A']); // A's own bound of 5
    expect(h.arrive('B')).toBeDefined();
    expect(h.arrive('C')).toBeUndefined(); // 6 waiting in all
    expect(h.q.stats()).toEqual({ running: 1, queued: 6, queuedByTenant: { A: 5, B: 1 } });
  });

  it('takes the weight from weightOf when none is given', async () => {
    const q = new FairQueue({ maxConcurrency: 1, ...big, weightOf: (t) => (t === 'gold' ? 3 : 1) });
    const served: string[] = [];
    const admit = (t: string) => void q.tryAdmit(t)!.then((a) => (served.push(t), a.release()));
    admit('X');
    for (let i = 0; i < 8; i++) admit('gold');
    for (let i = 0; i < 8; i++) admit('free');
    for (let i = 0; i < 20; i++) await flush(); // each grant releases at once, handing the slot on
    expect(served.slice(1, 9).join(',')).toBe('gold,gold,gold,free,gold,gold,gold,free');
  });

  it.each<[string, () => unknown, RegExp]>([
    ['a zero weight', () => new FairQueue({ maxConcurrency: 1, ...big }).tryAdmit('a', 0), /weight must be a finite number > 0, got 0/],
    ['a NaN cost', () => new FairQueue({ maxConcurrency: 1, ...big }).tryAdmit('a', 1, Number.NaN), /cost must be .* got NaN/],
    ['an infinite weight', () => new FairQueue({ maxConcurrency: 1, ...big }).tryAdmit('a', Infinity), /got Infinity/],
    ['no concurrency', () => new FairQueue({ maxConcurrency: 0, ...big }), /maxConcurrency must be an integer >= 1, got 0/],
    ['a fractional queue', () => new FairQueue({ maxConcurrency: 1, maxQueue: 1.5, maxQueuePerTenant: 1 }), /maxQueue must be/],
  ])('rejects %s', (_name, act, message) => {
    expect(act).toThrow(message);
  });

  it('leaves its state untouched after refusing a bad weight', async () => {
    const q = new FairQueue({ maxConcurrency: 1, ...big });
    expect(() => q.tryAdmit('a', -1)).toThrow(RangeError);
    expect(q.stats()).toEqual({ running: 0, queued: 0, queuedByTenant: {} });
  });
});

describe('FairQueue properties', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('arrive' as const), tenant: fc.integer({ min: 0, max: 3 }), cost: fc.integer({ min: 1, max: 3 }) }),
    fc.record({ kind: fc.constant('release' as const), pick: fc.nat(), twice: fc.boolean() }),
  );

  it('never runs more than maxConcurrency, keeps its bounds, and runs every admitted request once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.constantFrom(0.5, 1, 2, 3), { minLength: 4, maxLength: 4 }),
        fc.array(op, { maxLength: 120 }),
        async (maxConcurrency, maxQueue, maxQueuePerTenant, weights, ops) => {
          const h = harness({ maxConcurrency, maxQueue, maxQueuePerTenant });
          let admitted = 0;
          for (const o of ops) {
            if (o.kind === 'arrive') {
              const tenant = `t${o.tenant}`;
              const s = h.q.stats();
              const mustWait = s.running === maxConcurrency || s.queued > 0;
              const full = (s.queuedByTenant[tenant] ?? 0) >= maxQueuePerTenant || s.queued >= maxQueue;
              const id = h.arrive(tenant, weights[o.tenant] ?? 1, o.cost);
              expect(id === undefined).toBe(mustWait && full);
              if (id !== undefined) admitted++;
            } else {
              const g = h.live.splice(o.pick % Math.max(1, h.live.length), 1)[0];
              g?.admitted.release();
              if (o.twice) g?.admitted.release();
            }
            await flush();
            const s = h.q.stats();
            expect(s.running).toBe(h.live.length);
            expect(s.running).toBeLessThanOrEqual(maxConcurrency);
            expect(s.queued).toBe(admitted - h.served.length);
            expect(s.queued).toBeLessThanOrEqual(maxQueue);
            for (const n of Object.values(s.queuedByTenant)) expect(n).toBeLessThanOrEqual(maxQueuePerTenant);
            if (s.queued > 0) expect(s.running).toBe(maxConcurrency); // work-conserving
          }
          await h.drain();
          expect(h.served).toHaveLength(admitted);
          expect(new Set(h.served.map((g) => g.id)).size).toBe(admitted);
          for (const t of ['t0', 't1', 't2', 't3']) {
            const ids = h.served.filter((g) => g.tenant === t).map((g) => g.id);
            expect(ids).toEqual([...ids].sort((a, b) => a - b)); // FIFO within a tenant
          }
          expect(h.q.stats()).toEqual({ running: 0, queued: 0, queuedByTenant: {} });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps two backlogged tenants within one maximum request of their weighted shares (SCFQ bound)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 40, maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 40, maxLength: 40 }),
        async (wA, wB, costsA, costsB) => {
          const h = harness({ maxConcurrency: 1, ...big });
          h.arrive('X'); // holds the slot so that every measured request waits and is tagged
          const costOf = new Map<number, number>();
          costsA.forEach((c) => costOf.set(h.arrive('A', wA, c) ?? -1, c));
          costsB.forEach((c) => costOf.set(h.arrive('B', wB, c) ?? -1, c));
          await h.drain();
          const work = { A: 0, B: 0 };
          const served = { A: 0, B: 0 };
          for (const g of h.served.slice(1)) {
            const t = g.tenant === 'A' ? 'A' : 'B';
            if (served.A === 40 || served.B === 40) break; // one tenant no longer backlogged
            work[t] += costOf.get(g.id) ?? 0;
            served[t]++;
            expect(Math.abs(work.A / wA - work.B / wB)).toBeLessThanOrEqual(3 / wA + 3 / wB);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
