import { describe, expect, it } from 'vitest';
import type { LocalQuotaAuthority } from './authority.ts';
import { createFailoverQuotaAuthority, createTakeoverAuthority, isUnreachable } from './failover-authority.ts';
import { QuotaAuthorityError } from './http-authority.ts';
import type { LeaseGrant, LeaseRequest, QuotaAuthority } from './types.ts';

const REQ: LeaseRequest = { tenantId: 'acme', kind: 'requests_per_minute', holder: 'sidecar-1', amount: 1 };

/** An authority that answers with its name in `limit`, or fails as told. */
function fake(name: number) {
  const calls: string[] = [];
  let failure: Error | undefined;
  const authority: QuotaAuthority = {
    async lease() {
      calls.push('lease');
      if (failure) throw failure;
      return { granted: 1, limit: name } as LeaseGrant;
    },
    async release() {
      calls.push('release');
      if (failure) throw failure;
    },
    async monthlyBlocks() {
      calls.push('blocks');
      if (failure) throw failure;
      return [];
    },
    async status() {
      return [];
    },
  };
  return { authority, calls, fail: (err?: Error) => void (failure = err) };
}

const down = () => new QuotaAuthorityError('quota authority http://primary unreachable: connect ECONNREFUSED');

function rig() {
  let t = 0;
  const primary = fake(1);
  const standby = fake(2);
  const switches: string[] = [];
  const failover = createFailoverQuotaAuthority(
    [
      { name: 'primary', authority: primary.authority },
      { name: 'standby', authority: standby.authority },
    ],
    { retryAfterMs: 10_000, now: () => t, onSwitch: (to, from) => switches.push(`${from ?? '-'} -> ${to}`) },
  );
  return { primary, standby, switches, failover, at: (ms: number) => void (t = ms) };
}

describe('createFailoverQuotaAuthority', () => {
  it('uses the primary while it answers', async () => {
    const r = rig();
    expect((await r.failover.lease(REQ)).limit).toBe(1);
    expect((await r.failover.lease(REQ)).limit).toBe(1);
    expect(r.standby.calls).toEqual([]);
    expect(r.switches).toEqual(['- -> primary']);
  });

  it('moves to the standby when the primary cannot be reached, skips the primary until the retry time, then goes back', async () => {
    const r = rig();
    await r.failover.lease(REQ);
    r.primary.fail(down());
    r.at(1_000);
    expect(r.failover.standbyInUse()).toBe(false);
    expect((await r.failover.lease(REQ)).limit).toBe(2);
    expect(r.failover.standbyInUse()).toBe(true);
    r.at(5_000);
    expect((await r.failover.lease(REQ)).limit).toBe(2);
    await r.failover.release({ ...REQ, windowStart: 0 });
    // Only the first call after the failure paid for asking the primary.
    expect(r.primary.calls).toEqual(['lease', 'lease']);
    // Retry time passed, still down: asked once more, then the standby again.
    r.at(11_001);
    expect((await r.failover.lease(REQ)).limit).toBe(2);
    expect(r.primary.calls).toHaveLength(3);
    // Back: the primary takes over at its next turn.
    r.primary.fail(undefined);
    r.at(21_002);
    expect((await r.failover.lease(REQ)).limit).toBe(1);
    expect(r.switches).toEqual(['- -> primary', 'primary -> standby', 'standby -> primary']);
    expect(r.failover.standbyInUse()).toBe(false);
  });

  it('hands back to the primary on a recheck once it answers, even with no quota calls in between', async () => {
    const r = rig();
    r.primary.fail(down());
    await r.failover.lease(REQ);
    expect(r.failover.standbyInUse()).toBe(true);
    await r.failover.recheckPrimary(); // still down: the standby stays in charge
    expect(r.failover.standbyInUse()).toBe(true);
    // Back, and answering even a refusal: that is an answer, the primary is there.
    r.primary.fail(new QuotaAuthorityError('quota authority GET /v1/quota/blocks/quota-probe: 403 {}', 403));
    await r.failover.recheckPrimary();
    expect(r.failover.standbyInUse()).toBe(false);
    expect(r.switches).toEqual(['- -> standby', 'standby -> primary']);
    r.primary.fail(undefined);
    expect((await r.failover.lease(REQ)).limit).toBe(1);
    await r.failover.recheckPrimary(); // the primary in charge: nothing to check
    expect(r.switches).toHaveLength(2);
  });

  it('fails over on a 5xx, but a 4xx is the authority answering and is not failed over', async () => {
    const r = rig();
    r.primary.fail(new QuotaAuthorityError('quota authority POST /v1/quota/leases: 503 {}', 503));
    expect((await r.failover.lease(REQ)).limit).toBe(2);
    const r2 = rig();
    r2.primary.fail(new QuotaAuthorityError('quota authority POST /v1/quota/leases: 403 {"error":"forbidden"}', 403));
    await expect(r2.failover.lease(REQ)).rejects.toThrow(/403/);
    expect(r2.standby.calls).toEqual([]);
  });

  it('when every authority is down, says so naming each (an unreachable error), having asked each', async () => {
    const r = rig();
    r.primary.fail(down());
    r.standby.fail(new QuotaAuthorityError('quota authority http://standby unreachable: timeout'));
    const both = /^every quota authority failed: quota authority http:\/\/primary unreachable: .*; quota authority http:\/\/standby unreachable: timeout$/;
    await expect(r.failover.lease(REQ)).rejects.toThrow(both);
    // Both believed down: still both asked, in order (a last resort, not a refusal without trying).
    const err = await r.failover.lease(REQ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuotaAuthorityError);
    expect(isUnreachable(err)).toBe(true);
    expect([r.primary.calls.length, r.standby.calls.length]).toEqual([2, 2]);
  });

  it('classifies: no answer or 5xx is unreachable; 4xx and other errors are answers', () => {
    expect(isUnreachable(down())).toBe(true);
    expect(isUnreachable(new QuotaAuthorityError('x', 502))).toBe(true);
    expect(isUnreachable(new QuotaAuthorityError('x', 400))).toBe(false);
    expect(isUnreachable(new Error('bug'))).toBe(false);
  });
});

describe('createTakeoverAuthority', () => {
  function local(made: string[]) {
    const id = `local-${made.length + 1}`;
    made.push(id);
    let refreshed = false;
    return {
      async refresh() {
        refreshed = true;
      },
      async lease() {
        // Carried usage must be in before the first answer.
        if (!refreshed) throw new Error(`${id} answered before its first refresh`);
        return { granted: 1, limit: made.indexOf(id) + 1 } as LeaseGrant;
      },
      async release() {},
      async monthlyBlocks() {
        return [];
      },
      async status() {
        return [];
      },
      async takePeaks() {
        return [];
      },
    } satisfies LocalQuotaAuthority;
  }

  it('makes its counters at the takeover, after one refresh, and starts fresh after standing down', async () => {
    const made: string[] = [];
    const takeover = createTakeoverAuthority(() => local(made));
    await takeover.refresh(); // the job, while the primary is in charge: nothing to do
    expect(made).toEqual([]);
    expect(takeover.active()).toBe(false);
    const [a, b] = await Promise.all([takeover.lease(REQ), takeover.lease(REQ)]);
    expect([a.limit, b.limit]).toEqual([1, 1]); // one set of counters for concurrent first calls
    expect(takeover.active()).toBe(true);
    takeover.standDown();
    expect(takeover.active()).toBe(false);
    expect((await takeover.lease(REQ)).limit).toBe(2);
    expect(made).toEqual(['local-1', 'local-2']);
  });
});
