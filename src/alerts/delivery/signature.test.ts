import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhookSignature } from './signature.ts';

const SECRET = 'whsec_0123456789abcdef';
const BODY = '{"version":1,"alerts":[]}';
const TS = 1_736_935_200;

describe('webhook signatures', () => {
  it('is sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>', () => {
    const hex = createHmac('sha256', SECRET).update(`${TS}.${BODY}`).digest('hex');
    expect(signWebhook(SECRET, TS, BODY)).toBe(`sha256=${hex}`);
  });

  const valid = { secret: SECRET, timestamp: String(TS), signature: signWebhook(SECRET, TS, BODY), body: BODY, nowS: TS + 10 };
  it.each([
    ['the intact request', {}, true],
    ['a tampered body', { body: BODY.replace('[]', '[{}]') }, false],
    ['another secret', { secret: 'whsec_another-secret-value' }, false],
    ['a changed timestamp', { timestamp: String(TS + 1) }, false],
    ['a stale timestamp (replay)', { nowS: TS + 301 }, false],
    ['a timestamp far in the future', { nowS: TS - 301 }, false],
    ['a missing signature', { signature: undefined }, false],
    ['a missing timestamp', { timestamp: undefined }, false],
    ['a malformed timestamp', { timestamp: '1e9' }, false],
    ['a truncated signature', { signature: signWebhook(SECRET, TS, BODY).slice(0, 20) }, false],
  ])('%s → %s', (_name, change, expected) => {
    expect(verifyWebhookSignature({ ...valid, ...change })).toBe(expected);
  });
});
