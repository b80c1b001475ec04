/**
 * Paces the refusals of a tenant that keeps sending after it was told when its quota resets.
 *
 * A refused request is cheap but not free (HTTP, authentication, a recorded span, the answer:
 * about 1 ms of CPU on a small machine), and the event loop serves connections in arrival order:
 * a tenant retrying at once on 64 connections gets sixteen times the turns of a tenant on four,
 * and the light tenant's served requests queue behind its refusals (measured by `inferledger bench
 * --suite noisy-flood`). So the first refusal of a quota window is answered at once, with the
 * reset time; every further refusal of the same tenant in the same window is answered only after
 * `delayMs` (never past the reset). A client that honours Retry-After never sees the delay; one
 * that ignores it gets at most one answer per connection per `delayMs`, however fast it sends.
 *
 * Bounded: at most `maxHeld` refusals wait at any moment (beyond, they are answered at once), so a
 * client opening ever more connections cannot make the sidecar hold ever more of them.
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

export class RefusalPacer {
  /** Per tenant: the window it was last refused in (quota kind and reset time). */
  private readonly refusedIn = new Map<string, string>();
  private held = 0;

  constructor(private readonly opts: RefusalPacerOptions) {}

  /**
   * Resolves when a refusal for `tenantId` may be answered: at once for its first refusal in the
   * window that resets at `resetAt`, after the delay for a repeat. True when it was held back.
   */
  async pace(tenantId: string, kind: string, resetAt: number): Promise<boolean> {
    const window = `${kind}@${resetAt}`;
    const repeat = this.refusedIn.get(tenantId) === window;
    this.refusedIn.set(tenantId, window);
    const waitMs = Math.min(this.opts.delayMs, resetAt - this.opts.now());
    if (!repeat || waitMs <= 0 || this.held >= this.opts.maxHeld) return false;
    this.held++;
    try {
      await this.opts.sleep(waitMs);
    } finally {
      this.held--;
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
