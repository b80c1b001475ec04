/**
 * Admission control: at most `maxConcurrency` inferences run at once; up to `maxQueue` more wait
 * in FIFO order; beyond that a request is refused at once (the caller answers 429) rather than
 * queued without bound. Weighted fair queueing across tenants replaces the FIFO in the quotas work.
 */
export type Release = () => void;

export interface Admitted {
  release: Release;
  /** Milliseconds spent waiting for a slot. */
  queueMs: number;
}

export class AdmissionQueue {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly maxConcurrency: number,
    private readonly maxQueue: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Undefined when the queue is full: refuse, do not wait. */
  tryAdmit(): Promise<Admitted> | undefined {
    const enqueuedAt = this.now();
    if (this.running < this.maxConcurrency) {
      this.running++;
      return Promise.resolve({ release: this.releaser(), queueMs: 0 });
    }
    if (this.waiting.length >= this.maxQueue) return undefined;
    return new Promise<Admitted>((resolve) => {
      this.waiting.push(() => resolve({ release: this.releaser(), queueMs: this.now() - enqueuedAt }));
    });
  }

  get inFlight(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return; // a double release must not free a slot it does not hold
      released = true;
      const next = this.waiting.shift();
      if (next) next(); // the slot passes straight to the next waiter
      else this.running--;
    };
  }
}
