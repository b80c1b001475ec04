/**
 * One JSON POST with retries, shared by the webhook and Alertmanager destinations.
 */

export type FetchFn = typeof fetch;

export interface RetryPolicy {
  /** Retries after the first attempt (config `max_retries`). */
  maxRetries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Per attempt: a receiver that hangs costs at most this long. */
  timeoutMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({ maxRetries: 5, baseDelayMs: 500, maxDelayMs: 30_000, timeoutMs: 10_000 });

export type PostOutcome =
  | { ok: true; status: number; attempts: number }
  /** `retryable`: worth trying again later (network, 5xx, 429); otherwise the receiver refused it. */
  | { ok: false; retryable: boolean; reason: string; attempts: number };

/**
 * Exponential backoff with "equal jitter": half the capped exponential delay, plus a random
 * part of the other half. Replicas retrying one receiver spread out, yet every wait still grows.
 */
export function backoffDelay(attempt: number, policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Network errors (no status), 5xx and 429 are transient; any other 4xx will fail the same way again. */
export const isRetryableStatus = (status: number): boolean => status === 429 || status >= 500;

/** Retry-After in seconds (the HTTP-date form is rare from webhook receivers and ignored). */
function retryAfterMs(res: Response): number {
  const v = res.headers.get('retry-after');
  return v && /^\d{1,6}$/.test(v) ? Number(v) * 1000 : 0;
}

export interface PostDeps {
  fetch: FetchFn;
  policy: RetryPolicy;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/**
 * POSTs the request `build()` makes (called per attempt, so signatures carry a fresh timestamp)
 * until it succeeds, is refused, or retries run out. Never throws.
 */
export async function postWithRetry(url: string, build: () => { body: string; headers: Record<string, string> }, deps: PostDeps): Promise<PostOutcome> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = deps.random ?? Math.random;
  let reason = '';
  // A receiver's Retry-After (429/503) lengthens the next wait, never shortens it.
  let retryAfter = 0;
  for (let attempt = 0; attempt <= deps.policy.maxRetries; attempt++) {
    if (attempt > 0) await sleep(Math.max(backoffDelay(attempt - 1, deps.policy, random), retryAfter));
    retryAfter = 0;
    const { body, headers } = build();
    try {
      const res = await deps.fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
        signal: AbortSignal.timeout(deps.policy.timeoutMs),
      });
      // Read the body out so the connection goes back to the pool.
      const text = await res.text().catch(() => '');
      if (res.ok) return { ok: true, status: res.status, attempts: attempt + 1 };
      reason = `HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`;
      if (!isRetryableStatus(res.status)) return { ok: false, retryable: false, reason, attempts: attempt + 1 };
      retryAfter = Math.min(retryAfterMs(res), deps.policy.maxDelayMs);
    } catch (err) {
      reason = (err as Error).message;
    }
  }
  return { ok: false, retryable: true, reason, attempts: deps.policy.maxRetries + 1 };
}

/**
 * Backoff that outlives one delivery run. Without it, every evaluation (every few seconds) starts
 * a fresh burst of `maxRetries + 1` attempts at a receiver that is down, and a run queued behind
 * a failed one fires right after that one's last attempt. After a failed run the next may post
 * only once `notBefore` has passed, and then once, without retries; each further failure doubles
 * the wait, up to `maxDelayMs`. A success, or a refusal (the receiver is up), starts afresh.
 */
export class ReceiverBackoff {
  private failures = 0;
  private notBefore = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly policy: RetryPolicy,
    private readonly now: () => number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The retry policy for a run starting now, or undefined while the receiver is being left alone. */
  permit(): RetryPolicy | undefined {
    if (this.now() < this.notBefore) return undefined;
    return this.failures === 0 ? this.policy : { ...this.policy, maxRetries: 0 };
  }

  /** Records a run's outcome. */
  record(outcome: PostOutcome): void {
    if (outcome.ok || !outcome.retryable) {
      this.failures = 0;
      this.notBefore = Number.NEGATIVE_INFINITY;
      return;
    }
    this.failures++;
    this.notBefore = this.now() + backoffDelay(this.policy.maxRetries + this.failures - 1, this.policy, this.random);
  }

  /** Milliseconds until the next run may post (0 when it may now). */
  waitMs(): number {
    return Math.max(0, this.notBefore - this.now());
  }
}
