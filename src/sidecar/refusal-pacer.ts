/**
 * Paces the refusals of a tenant that keeps sending after it was told when its quota resets.
 *
 * A refused request is cheap but not free (HTTP, authentication, a recorded span, the answer:
 * 0.6-1 ms of CPU on a small machine), and the event loop serves connections in arrival order:
 * a tenant retrying at once on 64 connections gets sixteen times the turns of a tenant on four,
 * and the light tenant's served requests queue behind its refusals (measured by `inferledger bench
 * --suite noisy-flood`). So the first refusal of a quota window is answered at once, with the
 * reset time; a request the tenant sends after that answer, in the same window, is refused only
 * after `delayMs` (never in the window's last second), and that answer closes its connection. A
 * client that honours Retry-After never sees the delay; one that ignores it gets at most one
 * answer per connection per `delayMs`, however fast it sends or pipelines.
 *
 * Bounded: at most `maxHeld` refusals wait at any moment (beyond, they are answered at once), and
 * at most one per connection, so neither more connections nor pipelining makes the sidecar hold
 * ever more of them.
 */
export interface RefusalPacerOptions {
  /** How long a repeated refusal waits before its answer (0: never). */
  delayMs: number;
  /** Refusals held at once, at most. */
  maxHeld: number;
  /** Epoch ms. */
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}

export const DEFAULT_MAX_HELD_REFUSALS = 1024;
/** A held answer is never given in the window's last second: its Retry-After would point at a reset already past. */
const RESET_MARGIN_MS = 1000;

export interface Refusal {
  tenantId: string;
  kind: string;
  /** When the quota window resets, epoch ms. */
  resetAt: number;
  /** When the request arrived, epoch ms. */
  receivedAt: number;
  /** The connection it came on, when known: at most one refusal is held per connection. */
  connection?: object;
}

export class RefusalPacer {
  /** Per tenant: the window it was last refused in, and when its first refusal there was decided. */
  private readonly refusedIn = new Map<string, { window: string; at: number }>();
  private readonly holdingOn = new WeakSet<object>();
  /** Per tenant: its last spell of own-queue-full refusals (see paceFullQueue). */
  private readonly fullQueueSpell = new Map<string, { at: number; until: number }>();
  private held = 0;

  constructor(private readonly opts: RefusalPacerOptions) {}

  /**
   * Resolves when a refusal may be answered: at once for the tenant's first refusal in the window,
   * for a request sent before that refusal was answered (it could not have seen Retry-After), and
   * for a request pipelined behind one already held on its connection (HTTP answers in order, and
   * the held answer closes the connection); after the delay otherwise. True when it was held: the
   * answer should then close its connection, so a pipelining client gains nothing either.
   */
  async pace(r: Refusal): Promise<boolean> {
    const now = this.opts.now();
    const window = `${r.kind}@${r.resetAt}`;
    const first = this.refusedIn.get(r.tenantId);
    if (first?.window !== window) {
      this.refusedIn.set(r.tenantId, { window, at: now });
      return false;
    }
    if (r.receivedAt <= first.at) return false;
    return this.hold(r.connection, Math.min(this.opts.delayMs, r.resetAt - RESET_MARGIN_MS - now));
  }

  /**
   * The same for a tenant refused because its own `max_queue_per_tenant` places are all taken
   * (`queue_full`, told to retry in `retryAfterMs`): the first refusal is answered at once and
   * opens a spell of `retryAfterMs`; a request sent after that answer, within the spell, is held
   * until the spell ends (at most `delayMs`). Found by dogfooding: a tenant retrying at once on 40
   * connections, ignoring `Retry-After: 1`, got about 1,500 refusals a second, and the HTTP work
   * cut another tenant's service from 60 to 2 requests a second. A client that honours the
   * Retry-After is never held; a refusal for the whole sidecar's queue (not the tenant's own) is
   * not paced, since it is not that tenant's doing.
   */
  async paceFullQueue(r: { tenantId: string; receivedAt: number; retryAfterMs: number; connection?: object }): Promise<boolean> {
    const now = this.opts.now();
    const spell = this.fullQueueSpell.get(r.tenantId);
    if (!spell || now >= spell.until) {
      this.fullQueueSpell.set(r.tenantId, { at: now, until: now + r.retryAfterMs });
      return false;
    }
    if (r.receivedAt <= spell.at) return false;
    return this.hold(r.connection, Math.min(this.opts.delayMs, spell.until - now));
  }

  private async hold(connection: object | undefined, waitMs: number): Promise<boolean> {
    if (waitMs <= 0 || this.held >= this.opts.maxHeld) return false;
    if (connection) {
      if (this.holdingOn.has(connection)) return false;
      this.holdingOn.add(connection);
    }
    this.held++;
    try {
      await this.opts.sleep(waitMs);
    } finally {
      this.held--;
      if (connection) this.holdingOn.delete(connection);
    }
    return true;
  }

  /** Refusals waiting for their answer now. */
  get holding(): number {
    return this.held;
  }
}

/** A timer that does not keep a stopping process alive. */
export const unrefSleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
  });
