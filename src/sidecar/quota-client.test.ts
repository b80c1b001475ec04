import { describe, expect, it } from 'vitest';
import { createQuotaAuthority, type LocalQuotaAuthority } from '../quotas/authority.ts';
import type { QuotaLimits } from '../quotas/config.ts';
import { QuotaAuthorityError } from '../quotas/http-authority.ts';
import type { QuotaAuthority } from '../quotas/types.ts';
import { QuotaGate, type QuotaDecision } from './quota-client.ts';

/**
 * The sidecar's quota gate against an in-memory authority (the in-process transport) with an
 * injected clock: local budgets, chunked leases, concurrency slots, monthly blocks, idle return,
 * renewals and both fail modes.
 */

const NOW = Date.parse('2026-10-15T12:00:10Z');
const MINUTE_END = Date.parse('2026-10-15T12:01:00Z');
const MONTH_END = Date.parse('2026-11-01T00:00:00Z');

interface Calls {
  lease: number;
  release: number;
  blocks: number;
}

/** Counts calls, and fails them all while `down` is set (an unreachable authority). */
function instrumented(inner: QuotaAuthority) {
  const calls: Calls = { lease: 0, release: 0, blocks: 0 };
  /** `refusing`: the authority answers this status (401: our key revoked; 404: a tenant not ours). */
  const state: { down: boolean; refusing?: { status: number; tenant?: string } } = { down: false };
  const guard = (tenantId?: string) => {
    if (state.down) throw new Error('connect ECONNREFUSED');
    const r = state.refusing;
    if (r && (r.tenant === undefined || r.tenant === tenantId)) throw new QuotaAuthorityError(`quota authority POST /v1/quota/leases: ${r.status}`, r.status);
  };
  const authority: QuotaAuthority = {
    lease: async (r) => (calls.lease++, guard(r.tenantId), inner.lease(r)),
    release: async (r) => (calls.release++, guard(r.tenantId), inner.release(r)),
    monthlyBlocks: async (t) => (calls.blocks++, guard(t), inner.monthlyBlocks(t)),
    status: (t) => inner.status(t),
  };
  return { authority, calls, state };
}

function setup(limits: Record<string, QuotaLimits>, opts: { maxChunk?: number; failMode?: 'open' | 'closed' } = {}) {
  const clock = { now: NOW };
  const inner: LocalQuotaAuthority = createQuotaAuthority({
    limitsOf: (t) => limits[t] ?? {},
    now: () => clock.now,
    leaseTtlS: 5,
    readMonthlyUsage: async () => new Map([['broke', { cpuUs: 0n, gpuUs: 0n, spend: 7_000_000n }]]),
  });
  const { authority, calls, state } = instrumented(inner);
  const gate = new QuotaGate({ authority, holder: 'sidecar-1', maxChunk: opts.maxChunk ?? 20, leaseTtlS: 5, failMode: opts.failMode ?? 'open', now: () => clock.now });
  return { gate, inner, calls, state, clock };
}

async function admitMany(gate: QuotaGate, tenant: string, n: number, tokens = 0): Promise<QuotaDecision[]> {
  const out: QuotaDecision[] = [];
  for (let i = 0; i < n; i++) out.push(await gate.admit(tenant, tokens));
  return out;
}

const usedOf = async (a: QuotaAuthority, tenant: string, kind: string) => (await a.status(tenant)).find((s) => s.kind === kind)?.used;
/** Units leased out in the window (spent or held as prefetch): the limit less what a lease of 0 says is left. */
const leasedOf = async (a: QuotaAuthority, tenant: string, kind: 'requests_per_minute' | 'tokens_per_day') => {
  const g = await a.lease({ tenantId: tenant, kind, holder: 'probe', amount: 0 });
  return (g.limit as number) - (g.remaining as number);
};

describe('QuotaGate', () => {
  it('admits from a local budget leased in chunks, then refuses with the quota, limit and seconds to the minute end', async () => {
    const { gate, inner, calls } = setup({ a: { requests_per_minute: 50 } });
    const decisions = await admitMany(gate, 'a', 60);
    expect(decisions.filter((d) => d.ok)).toHaveLength(50);
    expect(decisions[50]).toEqual({ ok: false, reason: 'quota_exceeded', kind: 'requests_per_minute', limit: 50, retryAfterSeconds: 50, resetAt: MINUTE_END });
    // ceil(50/8) = 7, then ceil(43/8) = 6, ... shrinking as the minute's budget runs out.
    expect(calls.lease).toBeLessThan(50);
    expect(await usedOf(inner, 'a', 'requests_per_minute')).toBe(50);
  });

  it('with max_chunk 1 every request is one lease: the authority counts exactly what was admitted', async () => {
    const { gate, inner, calls } = setup({ a: { requests_per_minute: 10 } }, { maxChunk: 1 });
    await admitMany(gate, 'a', 3);
    expect(await usedOf(inner, 'a', 'requests_per_minute')).toBe(3);
    expect(calls.lease).toBe(3 + 1); // + one concurrency lease: unlimited, remembered for a ttl
  });

  it("a budget comes back in the next minute; another tenant's is separate", async () => {
    const { gate, clock } = setup({ a: { requests_per_minute: 2 }, b: { requests_per_minute: 2 } });
    expect((await admitMany(gate, 'a', 3)).map((d) => d.ok)).toEqual([true, true, false]);
    expect((await admitMany(gate, 'b', 2)).map((d) => d.ok)).toEqual([true, true]);
    clock.now = MINUTE_END;
    expect((await admitMany(gate, 'a', 3)).map((d) => d.ok)).toEqual([true, true, false]);
  });

  it('charges tokens per UTC day; a request refused for tokens does not use up a request', async () => {
    const { gate, inner } = setup({ a: { tokens_per_day: 1000, requests_per_minute: 10 } }, { maxChunk: 1 });
    expect((await gate.admit('a', 600)).ok).toBe(true);
    const refused = await gate.admit('a', 600);
    expect(refused).toMatchObject({ ok: false, kind: 'tokens_per_day', limit: 1000 });
    expect((await gate.admit('a', 400)).ok).toBe(true);
    expect(await usedOf(inner, 'a', 'tokens_per_day')).toBe(1000);
    // Two admitted requests; the refused one's unit went back to the local budget, then was spent.
    expect(await usedOf(inner, 'a', 'requests_per_minute')).toBe(2);
  });

  // Found by dogfooding: the part of a too-small grant stayed counted until the idle return, so
  // GET /quotas showed the tenant at 100 % and the alert evaluation paged for units never used.
  it('with max_chunk 1, a request the window cannot cover leaves the count at what was served', async () => {
    const { gate, inner } = setup({ a: { tokens_per_day: 1000 } }, { maxChunk: 1 });
    expect((await gate.admit('a', 960)).ok).toBe(true);
    expect(await gate.admit('a', 64)).toMatchObject({ ok: false, kind: 'tokens_per_day', limit: 1000 });
    expect(await usedOf(inner, 'a', 'tokens_per_day')).toBe(960);
    // The window is not spent for a request that fits: it is admitted at once.
    expect((await gate.admit('a', 40)).ok).toBe(true);
    expect(await usedOf(inner, 'a', 'tokens_per_day')).toBe(1000);
  });

  it('refund gives back the units of a request refused later in admission, once', async () => {
    const { gate, inner } = setup({ a: { requests_per_minute: 2, tokens_per_day: 100 } }, { maxChunk: 1 });
    const first = await gate.admit('a', 60);
    expect(first.ok).toBe(true);
    if (!first.ok) return;
    first.refund();
    first.refund(); // idempotent: one request's units come back once
    const after = await admitMany(gate, 'a', 3, 40);
    expect(after.map((d) => d.ok)).toEqual([true, true, false]);
    // The refunded request's minute unit and 60 tokens served the next two admissions.
    expect(await usedOf(inner, 'a', 'requests_per_minute')).toBe(2);
    expect(await usedOf(inner, 'a', 'tokens_per_day')).toBe(80);
  });

  it('with max_chunk 1, a request refused for concurrency or refunded is off the authority\'s count at once', async () => {
    const { gate, inner, calls } = setup({ a: { requests_per_minute: 5, concurrent_requests: 1, tokens_per_day: 100 } }, { maxChunk: 1 });
    const held = await gate.admit('a', 10);
    expect(held.ok).toBe(true);
    expect(await gate.admit('a', 10)).toMatchObject({ ok: false, kind: 'concurrent_requests' });
    await Promise.resolve();
    // One request served so far: the refused one's minute unit and tokens are the authority's again.
    expect(await usedOf(inner, 'a', 'requests_per_minute')).toBe(1);
    expect(await usedOf(inner, 'a', 'tokens_per_day')).toBe(10);
    if (!held.ok) return;
    held.refund(); // refused later in admission (the fair queue was full)
    held.release();
    await Promise.resolve();
    expect(await usedOf(inner, 'a', 'requests_per_minute')).toBe(0);
    expect(await usedOf(inner, 'a', 'tokens_per_day')).toBe(0);
    expect(calls.release).toBeGreaterThanOrEqual(4);
    // The minute's 5 requests are all still there, served one at a time.
    const kinds: string[] = [];
    for (let i = 0; i < 6; i++) {
      const d = await gate.admit('a', 0);
      kinds.push(d.ok ? 'ok' : d.reason === 'quota_exceeded' ? d.kind : d.reason);
      if (d.ok) d.release();
    }
    expect(kinds).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'requests_per_minute']);
  });

  it('holds a concurrency slot per admitted request until release (release is idempotent)', async () => {
    const { gate, inner } = setup({ a: { concurrent_requests: 2 } });
    const [one, two, three] = await admitMany(gate, 'a', 3);
    expect([one!.ok, two!.ok]).toEqual([true, true]);
    expect(three).toEqual({ ok: false, reason: 'quota_exceeded', kind: 'concurrent_requests', limit: 2, retryAfterSeconds: 1 });
    if (!one!.ok) throw new Error('unreachable');
    one!.release();
    one!.release();
    await Promise.resolve();
    expect(await usedOf(inner, 'a', 'concurrent_requests')).toBe(1);
    expect((await gate.admit('a', 0)).ok).toBe(true);
    expect((await gate.admit('a', 0)).ok).toBe(false);
  });

  it('renews held slots on sweep, so a long request keeps its slot past 3 x lease_ttl_s', async () => {
    const { gate, inner, clock } = setup({ a: { concurrent_requests: 1 } });
    expect((await gate.admit('a', 0)).ok).toBe(true);
    for (let i = 0; i < 8; i++) {
      clock.now += 2500;
      await gate.sweep();
    }
    expect(await usedOf(inner, 'a', 'concurrent_requests')).toBe(1);
    expect((await gate.admit('a', 0)).ok).toBe(false);
  });

  it('refuses a tenant blocked by a monthly quota until the month ends, with blocks cached briefly', async () => {
    const { gate, inner, calls, clock } = setup({ broke: { spend_per_month: '5.00' } });
    await inner.refresh();
    const d = await gate.admit('broke', 0);
    expect(d).toEqual({
      ok: false,
      reason: 'quota_exceeded',
      kind: 'spend_per_month',
      limit: '5.000000',
      retryAfterSeconds: Math.ceil((MONTH_END - NOW) / 1000),
      resetAt: MONTH_END,
    });
    await gate.admit('broke', 0);
    expect(calls.blocks).toBe(1);
    clock.now += 5000;
    await gate.admit('broke', 0);
    expect(calls.blocks).toBe(2);
  });

  it('hands idle budget back after lease_ttl_s, so other replicas can use it', async () => {
    const { gate, inner, clock } = setup({ a: { requests_per_minute: 100 } });
    await gate.admit('a', 0);
    expect(await leasedOf(inner, 'a', 'requests_per_minute')).toBe(13); // ceil(100 / 8): the authority trims prefetch
    // Usage is what was spent: the 12 prefetched units are the sidecar's, not the tenant's usage.
    expect(await usedOf(inner, 'a', 'requests_per_minute')).toBe(1);
    clock.now += 4999;
    await gate.sweep();
    expect(await leasedOf(inner, 'a', 'requests_per_minute')).toBe(13);
    clock.now += 1;
    await gate.sweep();
    expect(await leasedOf(inner, 'a', 'requests_per_minute')).toBe(1);
    expect(await usedOf(inner, 'a', 'requests_per_minute')).toBe(1);
  });

  it('usage and the peaks quota alerts read count what two replicas spent, not the prefetch they hold (31 of 40 is not 80 %)', async () => {
    const { gate, inner, clock } = setup({ a: { requests_per_minute: 40 } });
    const { authority } = instrumented(inner);
    const second = new QuotaGate({ authority, holder: 'sidecar-2', maxChunk: 20, leaseTtlS: 5, failMode: 'open', now: () => clock.now });
    await inner.takePeaks();
    // The dogfooding run: 15 on one replica, 15 on the other, 1 more on the first.
    expect((await admitMany(gate, 'a', 15)).every((d) => d.ok)).toBe(true);
    expect((await admitMany(second, 'a', 15)).every((d) => d.ok)).toBe(true);
    expect((await admitMany(gate, 'a', 1)).every((d) => d.ok)).toBe(true);
    expect(await leasedOf(inner, 'a', 'requests_per_minute')).toBeGreaterThan(31); // prefetch is out
    const used = (await usedOf(inner, 'a', 'requests_per_minute'))!;
    expect(used).toBeLessThanOrEqual(31);
    expect(Math.max(...(await inner.takePeaks()).map((p) => p.ratio))).toBeLessThan(0.8);
    // Once idle, each replica hands back all it has left: the rest of its prefetch was spent, so
    // usage is then exact (re-run of the dogfooding case: 33 admitted had shown 31 for good).
    clock.now += 5000;
    await Promise.all([gate.sweep(), second.sweep()]);
    expect(await leasedOf(inner, 'a', 'requests_per_minute')).toBe(31);
    expect(await usedOf(inner, 'a', 'requests_per_minute')).toBe(31);
    // Both replicas spend until refused: 40 in all, and a replica that runs out asks again, which
    // shows the prefetch it spent: usage is then exactly the limit.
    const more = [...(await admitMany(second, 'a', 20)), ...(await admitMany(gate, 'a', 20))];
    expect(31 + more.filter((d) => d.ok).length).toBe(40);
    expect(await usedOf(inner, 'a', 'requests_per_minute')).toBe(40);
  });

  it('an outage is reported when it starts, once a minute while it lasts, and when it ends; not on every call', async () => {
    const { inner, clock } = setup({ a: { requests_per_minute: 1000 } });
    const { authority, state } = instrumented(inner);
    const lines: string[] = [];
    const gate = new QuotaGate({
      authority,
      holder: 'sidecar-1',
      maxChunk: 1,
      leaseTtlS: 5,
      failMode: 'open',
      now: () => clock.now,
      onError: (err) => lines.push(`down: ${(err as Error).message}`),
      onRecovered: (downMs, failures) => lines.push(`back after ${downMs} ms, ${failures} failed`),
    });
    state.down = true;
    for (let s = 0; s < 90; s++) {
      await gate.admit('a', 0); // a request a second for 90 s, each one asking after the 1 s backoff
      clock.now += 1000;
    }
    state.down = false;
    expect((await gate.admit('a', 0)).ok).toBe(true);
    expect(lines).toEqual([
      'down: connect ECONNREFUSED',
      'down: connect ECONNREFUSED; failing for 60 s, 61 calls failed',
      'back after 90000 ms, 90 failed',
    ]);
  });

  it('stop() hands every unspent unit back', async () => {
    const { gate, inner } = setup({ a: { requests_per_minute: 100 } });
    await admitMany(gate, 'a', 3);
    await gate.stop();
    expect(await leasedOf(inner, 'a', 'requests_per_minute')).toBe(3);
  });

  it('retries a failed release on the next sweep', async () => {
    const { gate, inner, state, clock } = setup({ a: { concurrent_requests: 1 } });
    const d = await gate.admit('a', 0);
    state.down = true;
    if (d.ok) d.release();
    await new Promise((r) => setTimeout(r, 0));
    expect(await usedOf(inner, 'a', 'concurrent_requests')).toBe(1);
    state.down = false;
    clock.now += 1000; // past the backoff
    await gate.sweep();
    expect(await usedOf(inner, 'a', 'concurrent_requests')).toBe(0);
  });

  describe('when the authority answers but refuses this sidecar (not an outage: fail_mode does not apply)', () => {
    it('a revoked or rotated key (401/403): refused, even with fail_mode open, and not asked again for a second', async () => {
      const { gate, state, calls, clock } = setup({ a: { requests_per_minute: 40 } }, { failMode: 'open' });
      state.refusing = { status: 401 };
      const decisions = await admitMany(gate, 'a', 5);
      expect(decisions).toEqual(Array(5).fill({ ok: false, reason: 'quota_authority_refused', retryAfterSeconds: 1 }));
      expect(calls.blocks + calls.lease).toBe(1);
      state.refusing = undefined; // the key is fixed
      clock.now += 1000;
      expect((await gate.admit('a', 0)).ok).toBe(true);
    });

    it("a tenant the sidecar's ingest key is not for (404): that tenant refused, others served", async () => {
      const { gate, state } = setup({ a: { requests_per_minute: 40 }, b: { requests_per_minute: 40 } }, { failMode: 'open' });
      state.refusing = { status: 404, tenant: 'b' };
      expect(await gate.admit('b', 0)).toEqual({ ok: false, reason: 'quota_authority_refused', retryAfterSeconds: 1 });
      expect((await gate.admit('a', 0)).ok).toBe(true);
    });
  });

  describe('when the authority is unreachable', () => {
    it.each([
      ['open', true],
      ['closed', false],
    ] as const)('fail_mode %s: admitted %s', async (failMode, admitted) => {
      const { gate, state } = setup({ a: { requests_per_minute: 1, concurrent_requests: 1 } }, { failMode });
      state.down = true;
      const d = await gate.admit('a', 10);
      expect(d.ok).toBe(admitted);
      if (!d.ok) expect(d).toEqual({ ok: false, reason: 'quota_authority_unavailable', retryAfterSeconds: 1 });
    });

    it('backs off: a down authority is asked at most once a second, not once per request', async () => {
      const { gate, state, calls, clock } = setup({ a: { requests_per_minute: 1 } }, { failMode: 'open' });
      state.down = true;
      await admitMany(gate, 'a', 50);
      expect(calls.blocks + calls.lease).toBe(1);
      clock.now += 1000;
      await gate.admit('a', 0);
      expect(calls.blocks + calls.lease).toBe(2);
    });

    it('keeps using the budget it already holds and the last known monthly blocks', async () => {
      const { gate, state, clock } = setup({ a: { requests_per_minute: 100 } }, { failMode: 'closed' });
      expect((await gate.admit('a', 0)).ok).toBe(true);
      state.down = true;
      clock.now += 6000; // blocks cache expired: refetch fails, the last (empty) list stands
      expect((await admitMany(gate, 'a', 12)).every((d) => d.ok)).toBe(true); // the rest of the first lease of 13
      expect((await gate.admit('a', 0)).ok).toBe(false);
    });
  });
});
