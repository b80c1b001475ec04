import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createQuotaAuthority } from '../quotas/authority.ts';
import type { QuotaAuthority } from '../quotas/types.ts';
import { QuotaGate } from './quota-client.ts';
import { countAdmitted } from '../bench/quota-accuracy.ts';
import { shuffled } from '../bench/stats.ts';

/**
 * Global accuracy across replicas (SPEC §6: a tenant with limit L on N replicas gets L, not N x L).
 * One authority, N = 4 gates (in-process transport) for one tenant, requests_per_minute L = 100,
 * lease_max_chunk 20, hammered with 1000 admits. Stated tolerance: the replicas together admit at
 * most L, and at least L - N x max_chunk (budget leased to replicas that then get no more traffic
 * is stranded until they hand it back after lease_ttl_s idle, or the minute ends).
 */

const L = 100;
const N = 4;
const MAX_CHUNK = 20;
const TTL_S = 5;
const START = Date.parse('2026-10-15T12:00:00Z');

function fleet() {
  const clock = { now: START + 1000 };
  const authority = createQuotaAuthority({
    limitsOf: () => ({ requests_per_minute: L }),
    now: () => clock.now,
    leaseTtlS: TTL_S,
    readMonthlyUsage: async () => new Map(),
  });
  const counted = { leases: 0 };
  const transport: QuotaAuthority = {
    release: (req) => authority.release(req),
    monthlyBlocks: (t) => authority.monthlyBlocks(t),
    status: (t) => authority.status(t),
    lease: (req) => {
      if (req.kind === 'requests_per_minute') counted.leases++;
      return authority.lease(req);
    },
  };
  const gates = Array.from(
    { length: N },
    (_, i) => new QuotaGate({ authority: transport, holder: `replica-${i}`, maxChunk: MAX_CHUNK, leaseTtlS: TTL_S, failMode: 'closed', now: () => clock.now }),
  );
  return { authority, gates, clock, counted };
}

const roundRobin = (count: number) => Array.from({ length: count }, (_, i) => i % N);

describe(`quota accuracy: ${N} replicas, requests_per_minute ${L}, lease_max_chunk ${MAX_CHUNK}`, () => {
  it.each([
    ['round-robin, one at a time', roundRobin(1000), false],
    ['round-robin, all 1000 in flight at once', roundRobin(1000), true],
    ['seeded random order, all in flight at once', shuffled(roundRobin(1000), 42), true],
  ])('%s: admits within [L - N x max_chunk, L]', async (_name, order, concurrent) => {
    const { gates, authority, counted } = fleet();
    const admitted = await countAdmitted(gates, 'acme', order, concurrent);
    console.info(`[quota accuracy] ${_name}: admitted ${admitted} of 1000 (L = ${L}, floor ${L - N * MAX_CHUNK}), ${counted.leases} leases`);
    expect(admitted).toBeLessThanOrEqual(L);
    expect(admitted).toBeGreaterThanOrEqual(L - N * MAX_CHUNK);
    // Every replica keeps receiving requests here, so nothing is stranded: exactly L.
    expect(admitted).toBe(L);
    expect((await authority.status('acme'))[0]).toMatchObject({ used: L, limit: L });
  });

  it('the next minute the budget is back in full', async () => {
    const { gates, clock } = fleet();
    expect(await countAdmitted(gates, 'acme', roundRobin(1000), true)).toBe(L);
    clock.now = START + 60_000;
    expect(await countAdmitted(gates, 'acme', roundRobin(1000), true)).toBe(L);
    clock.now = START + 120_000 + 59_999;
    expect(await countAdmitted(gates, 'acme', shuffled(roundRobin(1000), 7), false)).toBe(L);
  });

  it('budget stranded on replicas whose traffic stopped comes back after lease_ttl_s idle', async () => {
    const { gates, clock } = fleet();
    // Each replica serves one request, leasing a full chunk; then only replica 0 gets traffic.
    let admitted = await countAdmitted(gates, 'acme', [0, 1, 2, 3], false);
    admitted += await countAdmitted(gates, 'acme', Array.from({ length: 200 }, () => 0), false);
    const stranded = L - admitted;
    console.info(`[quota accuracy] traffic moved to one replica: admitted ${admitted}, stranded ${stranded} (bound ${N * MAX_CHUNK})`);
    expect(stranded).toBeGreaterThan(0);
    expect(stranded).toBeLessThanOrEqual(N * MAX_CHUNK);

    clock.now += TTL_S * 1000;
    await Promise.all(gates.map((g) => g.sweep()));
    admitted += await countAdmitted(gates, 'acme', Array.from({ length: 200 }, () => 0), false);
    expect(admitted).toBe(L);
  });

  it('holds for any interleaving: never more than L, and at least L - N x max_chunk once anything is refused', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: N - 1 }), { maxLength: 400 }), fc.boolean(), async (order, concurrent) => {
        const { gates } = fleet();
        const admitted = await countAdmitted(gates, 'acme', order, concurrent);
        expect(admitted).toBeLessThanOrEqual(L);
        if (admitted < order.length) expect(admitted).toBeGreaterThanOrEqual(L - N * MAX_CHUNK);
      }),
      { numRuns: 200, seed: 20261015 },
    );
  });
});
