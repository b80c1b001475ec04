export type Release = () => void;

export interface Admitted {
  release: Release;
  /** Milliseconds spent waiting for a slot. */
  queueMs: number;
}

/**
 * Weighted fair admission (SPEC §6): the drop-in successor of the FIFO `AdmissionQueue` for a
 * saturated sidecar. Self-clocked fair queueing (Golestani's SCFQ, a virtual-time WFQ):
 *
 * 1. A request that finds a free slot and nobody waiting runs at once: no contention, nothing to share.
 * 2. Otherwise it waits in its tenant's FIFO with finish tag
 *    F = max(V, F of the tenant's previous waiting request) + cost / weight.
 *    V, the virtual time, is the tag of the request dispatched last. A tenant with nothing waiting
 *    starts from V: idle time banks no credit (and a past burst carries no debt).
 * 3. A freed slot goes to the waiting request with the smallest F; equal tags go to the earlier arrival.
 *
 * Two tenants that stay backlogged receive service (cost / weight) within one maximum request of each
 * other, whatever their arrival rates; a flooding tenant fills its own `maxQueuePerTenant` and is
 * refused (429) there, while the others keep their places and their share.
 */

/** The waiting request's client went away (`tryAdmit`'s signal aborted) before it got a slot. */
export class AdmissionAbandoned extends Error {
  constructor() {
    super('the client went away while the request waited for a slot');
    this.name = 'AdmissionAbandoned';
  }
}

export interface FairQueueOptions {
  maxConcurrency: number;
  /** Waiting requests across all tenants. Keep it above `maxQueuePerTenant`, or one tenant can fill it. */
  maxQueue: number;
  maxQueuePerTenant: number;
  /** Weight of a tenant when `tryAdmit` is given none (e.g. its plan's `plan_weights` entry); default 1. */
  weightOf?: (tenantId: string) => number;
  /** Monotonic milliseconds, for `queueMs`. */
  now?: () => number;
}

export interface FairQueueStats {
  running: number;
  queued: number;
  /** Waiting requests of each tenant that has any. */
  queuedByTenant: Record<string, number>;
}

interface Waiter {
  finish: number;
  /** Arrival order, the tie-break between equal tags. */
  seq: number;
  grant: () => void;
}

interface Backlog {
  /** Finish tags rise within a tenant, so its head always has its smallest tag. */
  waiters: Waiter[];
  lastFinish: number;
}

export class FairQueue {
  private running = 0;
  private queuedTotal = 0;
  private virtualTime = 0;
  private seq = 0;
  /** Only tenants with someone waiting: a tenant whose queue drains is forgotten, which is what stops credit banking. */
  private readonly backlogs = new Map<string, Backlog>();
  private readonly maxConcurrency: number;
  private readonly maxQueue: number;
  private readonly maxQueuePerTenant: number;
  private readonly weightOf: (tenantId: string) => number;
  private readonly now: () => number;

  constructor(opts: FairQueueOptions) {
    this.maxConcurrency = requireInt('maxConcurrency', opts.maxConcurrency, 1);
    this.maxQueue = requireInt('maxQueue', opts.maxQueue, 0);
    this.maxQueuePerTenant = requireInt('maxQueuePerTenant', opts.maxQueuePerTenant, 1);
    this.weightOf = opts.weightOf ?? (() => 1);
    this.now = opts.now ?? (() => performance.now());
  }

  /**
   * Undefined when the tenant's queue or the global queue is full: refuse (429), do not wait.
   * `cost` is the request's expected work in any unit shared by all tenants (1 = count requests).
   * `abandoned`: aborts when the client goes away; a request still waiting then leaves the queue
   * and the promise rejects with AdmissionAbandoned.
   */
  tryAdmit(tenantId: string, weight: number = this.weightOf(tenantId), cost = 1, abandoned?: AbortSignal): Promise<Admitted> | undefined {
    requirePositive('weight', weight);
    requirePositive('cost', cost);
    const enqueuedAt = this.now();
    // Without contention the signal is not looked at: a request that need not wait runs.
    if (this.running < this.maxConcurrency && this.queuedTotal === 0) {
      this.running++;
      return Promise.resolve({ release: this.releaser(), queueMs: 0 });
    }
    const backlog = this.backlogs.get(tenantId);
    if ((backlog?.waiters.length ?? 0) >= this.maxQueuePerTenant || this.queuedTotal >= this.maxQueue) return undefined;

    const finish = Math.max(this.virtualTime, backlog?.lastFinish ?? 0) + cost / weight;
    return new Promise<Admitted>((resolve, reject) => {
      const leave = () => {
        if (this.withdraw(tenantId, waiter)) reject(new AdmissionAbandoned());
      };
      const waiter: Waiter = {
        finish,
        seq: this.seq++,
        grant: () => {
          abandoned?.removeEventListener('abort', leave);
          resolve({ release: this.releaser(), queueMs: this.now() - enqueuedAt });
        },
      };
      if (backlog) {
        backlog.waiters.push(waiter);
        backlog.lastFinish = finish;
      } else {
        this.backlogs.set(tenantId, { waiters: [waiter], lastFinish: finish });
      }
      this.queuedTotal++;
      if (abandoned?.aborted) leave();
      else abandoned?.addEventListener('abort', leave, { once: true });
    });
  }

  /**
   * Takes a waiter whose client went away out of its tenant's queue, so it neither runs (and is
   * billed for an answer nobody receives) nor holds a place the tenant's next requests need.
   * False when it was already granted its slot.
   */
  private withdraw(tenantId: string, waiter: Waiter): boolean {
    const backlog = this.backlogs.get(tenantId);
    const at = backlog?.waiters.indexOf(waiter) ?? -1;
    if (!backlog || at === -1) return false;
    backlog.waiters.splice(at, 1);
    this.queuedTotal--;
    if (backlog.waiters.length === 0) this.backlogs.delete(tenantId);
    // The tenant's next request is tagged after its last one still waiting, not after one that left.
    else backlog.lastFinish = backlog.waiters[backlog.waiters.length - 1]!.finish;
    if (this.queuedTotal === 0) this.virtualTime = 0;
    return true;
  }

  /** Whether the tenant's own places are all taken (a refusal now is its doing, not the sidecar's load). */
  tenantQueueFull(tenantId: string): boolean {
    return (this.backlogs.get(tenantId)?.waiters.length ?? 0) >= this.maxQueuePerTenant;
  }

  get inFlight(): number {
    return this.running;
  }

  get queued(): number {
    return this.queuedTotal;
  }

  stats(): FairQueueStats {
    const queuedByTenant: Record<string, number> = {};
    for (const [tenantId, b] of this.backlogs) queuedByTenant[tenantId] = b.waiters.length;
    return { running: this.running, queued: this.queuedTotal, queuedByTenant };
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return; // a double release must not free a slot it does not hold
      released = true;
      // The slot passes straight to the next waiter, so a slot is never free while someone waits.
      if (!this.dispatchNext()) this.running--;
    };
  }

  private dispatchNext(): boolean {
    // A linear scan over backlogged tenants: at most maxQueue of them, cheap beside one inference,
    // and simpler to trust than a heap that must be re-keyed whenever a tenant's head changes.
    let bestTenant: string | undefined;
    let best: Waiter | undefined;
    for (const [tenantId, b] of this.backlogs) {
      const head = b.waiters[0];
      if (head && (!best || head.finish < best.finish || (head.finish === best.finish && head.seq < best.seq))) {
        best = head;
        bestTenant = tenantId;
      }
    }
    if (!best || bestTenant === undefined) return false;

    const backlog = this.backlogs.get(bestTenant);
    backlog?.waiters.shift(); // per-tenant queues hold at most maxQueuePerTenant, so shift() is cheap
    if (backlog?.waiters.length === 0) this.backlogs.delete(bestTenant);
    this.queuedTotal--;
    this.virtualTime = Math.max(this.virtualTime, best.finish);
    // With nobody waiting no tag survives, so virtual time can restart: this keeps tags small
    // (exact in floating point) on a sidecar that is only saturated now and then.
    if (this.queuedTotal === 0) this.virtualTime = 0;
    best.grant();
    return true;
  }
}

function requirePositive(name: string, value: number): void {
  // A zero, negative or NaN weight/cost would give tags that never advance (or go backwards): starvation.
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`FairQueue: ${name} must be a finite number > 0, got ${value}`);
}

function requireInt(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new RangeError(`FairQueue: ${name} must be an integer >= ${min}, got ${value}`);
  return value;
}
