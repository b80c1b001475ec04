import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from '../../../test/support/http-receiver.ts';
import { backoffDelay, isRetryableStatus, postWithRetry, type RetryPolicy } from './http-post.ts';

describe('backoffDelay', () => {
  const policy = { baseDelayMs: 100, maxDelayMs: 1000 };
  it.each([
    [0, 0, 50],
    [0, 1, 100],
    [1, 0, 100],
    [2, 0.5, 300],
    [3, 1, 800],
    [4, 0, 500],
    [10, 1, 1000],
  ])('attempt %i, random %d → %i ms', (attempt, random, expected) => {
    expect(backoffDelay(attempt, policy, () => random)).toBe(expected);
  });

  it('never exceeds the cap and never falls below half the exponential ceiling', () => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const ceiling = Math.min(1000, 100 * 2 ** attempt);
      const d = backoffDelay(attempt, policy, Math.random);
      expect(d).toBeGreaterThanOrEqual(ceiling / 2);
      expect(d).toBeLessThanOrEqual(ceiling);
    }
  });
});

describe('isRetryableStatus', () => {
  it.each([
    [429, true],
    [500, true],
    [502, true],
    [503, true],
    [400, false],
    [401, false],
    [404, false],
    [413, false],
  ])('%i → %s', (status, expected) => expect(isRetryableStatus(status)).toBe(expected));
});

describe('postWithRetry (real local server)', () => {
  const policy: RetryPolicy = { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 5, timeoutMs: 2000 };
  let server: Receiver;
  beforeAll(async () => {
    server = await startReceiver();
  });
  afterAll(() => server.close());

  const post = (p = policy) => postWithRetry(server.url + '/hook', () => ({ body: '{"a":1}', headers: { 'x-test': '1' } }), { fetch, policy: p });

  it('retries 5xx and 429 until it gets through', async () => {
    server.received.length = 0;
    server.respond((_r, i) => (i === 0 ? { status: 503 } : i === 1 ? { status: 429, headers: { 'retry-after': '0' } } : { status: 204 }));
    expect(await post()).toEqual({ ok: true, status: 204, attempts: 3 });
    expect(server.received.map((r) => [r.method, r.path, r.headers['content-type'], r.headers['x-test'], r.body])).toEqual(
      Array(3).fill(['POST', '/hook', 'application/json', '1', '{"a":1}']),
    );
  });

  it('does not retry another 4xx', async () => {
    server.received.length = 0;
    server.respond(() => ({ status: 400, body: 'bad payload' }));
    expect(await post()).toEqual({ ok: false, retryable: false, reason: 'HTTP 400: bad payload', attempts: 1 });
    expect(server.received).toHaveLength(1);
  });

  it('gives up after max_retries, retryable', async () => {
    server.received.length = 0;
    server.respond(() => ({ status: 500 }));
    expect(await post()).toMatchObject({ ok: false, retryable: true, attempts: 4 });
    expect(server.received).toHaveLength(4);
  });

  it('treats a refused connection as retryable', async () => {
    const gone = await startReceiver();
    const url = gone.url;
    await gone.close();
    const outcome = await postWithRetry(url, () => ({ body: '{}', headers: {} }), { fetch, policy: { ...policy, maxRetries: 1 } });
    expect(outcome).toMatchObject({ ok: false, retryable: true, attempts: 2 });
  });
});
