import type { LocalQuotaAuthority } from './authority.ts';
import { QuotaAuthorityError } from './http-authority.ts';
import type { QuotaAuthority, QuotaStatus } from './types.ts';

/**
 * Quota authorities in order of preference: the primary (`quotas.authority_url`), then standbys.
 * A call goes to the first one that is not known to be down; one that cannot be reached (no
 * answer, a timeout, a 5xx) is skipped for `retryAfterMs` and the call moves on to the next, so a
 * dead primary costs one timeout per retry period, not one per call. After that period the
 * primary is asked first again, and takes back over as soon as it answers. Anything else an
 * authority answers (a 4xx: a bad key, a bad request) is its answer, and is not failed over.
 * When every authority is down the last error is thrown, and the caller's fail mode decides.
 */

export interface FailoverMember {
  /** For logs: the URL, or "this instance". */
  name: string;
  authority: QuotaAuthority;
}

export interface FailoverOptions {
  retryAfterMs?: number;
  now?: () => number;
  /** The authority that answered is not the one that answered before (`from` is undefined at first). */
  onSwitch?: (to: string, from: string | undefined) => void;
}

export const DEFAULT_RETRY_PRIMARY_MS = 10_000;

export interface FailoverQuotaAuthority extends QuotaAuthority {
  /** The last authority that answered is not the first one (the primary): a standby is in charge. */
  standbyInUse(): boolean;
  /**
   * While a standby is in use: asks the primary whether it is back (any answer counts) and, if so,
   * hands back to it. A job calls this, so a process that stops making quota calls (a standby
   * nobody asks any more, an idle sidecar) does not go on believing the standby is in charge.
   */
  recheckPrimary(): Promise<void>;
}

/** Any tenant id does for the probe: any answer, even a refusal, shows the primary is there. */
const PROBE_TENANT = 'quota-probe';

export function createFailoverQuotaAuthority(members: readonly FailoverMember[], opts: FailoverOptions = {}): FailoverQuotaAuthority {
  if (members.length === 0) throw new Error('createFailoverQuotaAuthority: no authority');
  const now = opts.now ?? Date.now;
  const retryAfterMs = opts.retryAfterMs ?? DEFAULT_RETRY_PRIMARY_MS;
  const downUntil = new Map<FailoverMember, number>();
  let current: FailoverMember | undefined;

  /** `member` answered: it is up, and in charge from now on. */
  function answered(member: FailoverMember): void {
    downUntil.delete(member);
    if (current === member) return;
    opts.onSwitch?.(member.name, current?.name);
    current = member;
  }

  async function call<T>(fn: (a: QuotaAuthority) => Promise<T>): Promise<T> {
    const t = now();
    const isDown = (m: FailoverMember) => (downUntil.get(m) ?? 0) > t;
    // Those believed up, in order; then, as a last resort, those believed down.
    const order = [...members.filter((m) => !isDown(m)), ...members.filter(isDown)];
    const failures: QuotaAuthorityError[] = [];
    for (const member of order) {
      try {
        const result = await fn(member.authority);
        answered(member);
        return result;
      } catch (err) {
        if (!isUnreachable(err)) throw err;
        downUntil.set(member, now() + retryAfterMs);
        failures.push(err as QuotaAuthorityError);
      }
    }
    // Every one of them, not only the last tried: found by dogfooding, the log named the standby
    // alone while the primary was down too.
    const last = failures[failures.length - 1]!;
    if (failures.length === 1) throw last;
    throw new QuotaAuthorityError(`every quota authority failed: ${failures.map((f) => f.message).join('; ')}`, last.status, { cause: last });
  }

  return {
    lease: (req) => call((a) => a.lease(req)),
    release: (req) => call((a) => a.release(req)),
    monthlyBlocks: (tenantId) => call((a) => a.monthlyBlocks(tenantId)),
    status: (tenantId) => call((a) => a.status(tenantId)),
    standbyInUse: () => current !== undefined && current !== members[0],
    async recheckPrimary() {
      const primary = members[0]!;
      if (current === undefined || current === primary) return;
      try {
        await primary.authority.monthlyBlocks(PROBE_TENANT);
      } catch (err) {
        if (isUnreachable(err)) {
          downUntil.set(primary, now() + retryAfterMs);
          return;
        }
      }
      answered(primary);
    },
  };
}

/** No answer, a timeout, or a 5xx: this authority is not there now; another one may be. */
export function isUnreachable(err: unknown): boolean {
  return err instanceof QuotaAuthorityError && (err.status === undefined || err.status >= 500);
}

/**
 * The standby's own counters, made only when it takes over and dropped when the primary is back:
 * a fresh authority reads back what was admitted in the minute and day before it began (the
 * recorded requests), exactly like a restarted primary, so a takeover carries the same tolerance
 * as a restart and never starts from counters left over from an earlier takeover.
 */
export interface TakeoverAuthority extends QuotaAuthority {
  /** The refresh job: re-reads usage while this instance is in charge; nothing otherwise. */
  refresh(): Promise<void>;
  /** Peaks of the counters in use (see LocalQuotaAuthority.takePeaks); none while standing by. */
  takePeaks(): Promise<QuotaStatus[]>;
  /** The primary answers again: forget these counters. */
  standDown(): void;
  active(): boolean;
}

export function createTakeoverAuthority(create: () => LocalQuotaAuthority): TakeoverAuthority {
  let local: Promise<LocalQuotaAuthority> | undefined;
  const take = () =>
    (local ??= (async () => {
      const fresh = create();
      // Before the first answer: a lease must already count what was admitted before the takeover.
      // A failed read keeps the old values (none), as after a restart; the job retries every 15 s.
      await fresh.refresh().catch(() => {});
      return fresh;
    })());
  return {
    lease: async (req) => (await take()).lease(req),
    release: async (req) => (await take()).release(req),
    monthlyBlocks: async (tenantId) => (await take()).monthlyBlocks(tenantId),
    status: async (tenantId) => (await take()).status(tenantId),
    refresh: async () => {
      if (local) await (await local).refresh();
    },
    takePeaks: async () => (local ? (await local).takePeaks() : []),
    standDown: () => {
      local = undefined;
    },
    active: () => local !== undefined,
  };
}
