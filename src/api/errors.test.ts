import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { handleError } from './errors.ts';

/** The app's onError: status by kind, the one JSON error body, and when to retry. */
function appThrowing(err: Error) {
  const app = new Hono();
  app.get('/', () => {
    throw err;
  });
  app.onError(handleError);
  return app;
}

describe('handleError', () => {
  it.each<[string, AppError, number, string | null]>([
    ['a quota refusal says when to retry (default 1 s)', new AppError('quota_exceeded', 'over'), 429, '1'],
    ['a quota refusal rounds its retry time up', new AppError('quota_exceeded', 'over', { details: { retryAfterSeconds: 2.2 } }), 429, '3'],
    ['ingest back-pressure: 503 with its retry time', new AppError('unavailable', 'behind', { code: 'ingest_overloaded', details: { retryAfterSeconds: 2 } }), 503, '2'],
    ['an outage without a known retry time: 503 and no Retry-After', new AppError('unavailable', 'down'), 503, null],
    ['bad input', new AppError('invalid', 'nope', { code: 'bad_thing' }), 400, null],
  ])('%s', async (_name, err, status, retryAfter) => {
    const res = await appThrowing(err).request('/');
    expect(res.status).toBe(status);
    expect(res.headers.get('retry-after')).toBe(retryAfter);
    expect(await res.json()).toMatchObject({ error: { code: err.code, message: err.message } });
  });

  it('never shows the details of an internal error', async () => {
    const res = await appThrowing(new AppError('internal', 'boom', { details: { secret: 'x' } })).request('/');
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: { code: 'internal', message: 'boom' } });
  });
});

describe('closing the connection', () => {
  it('a paced refusal (closeConnection) and a 413 end their connection; other errors keep it', async () => {
    const paced = await appThrowing(new AppError('quota_exceeded', 'over', { closeConnection: true })).request('/');
    expect(paced.status).toBe(429);
    expect(paced.headers.get('connection')).toBe('close');
    expect((await appThrowing(new AppError('payload_too_large', 'big')).request('/')).headers.get('connection')).toBe('close');
    expect((await appThrowing(new AppError('quota_exceeded', 'over')).request('/')).headers.get('connection')).toBeNull();
  });
});

describe('AppError stacks', () => {
  it('a caller mistake carries no stack frames (refusals are cheap); a failure of ours keeps them', () => {
    const limit = Error.stackTraceLimit;
    const refusal = new AppError('quota_exceeded', 'over');
    expect(refusal.stack).toBe('AppError: over');
    expect(new AppError('internal', 'broke').stack).toMatch(/\n\s+at /);
    expect(new AppError('unavailable', 'down').stack).toMatch(/\n\s+at /);
    // The global limit is put back: other errors still get their stacks.
    expect(Error.stackTraceLimit).toBe(limit);
    expect(new Error('plain').stack).toMatch(/\n\s+at /);
  });
});
