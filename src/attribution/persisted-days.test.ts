import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore } from '../../test/support/store.ts';
import type { Store } from '../store/client.ts';
import { createPersistedDays, type DayCodec } from './persisted-days.ts';

/**
 * The attribution_days table against a real embedded ClickHouse, with a toy value: a day comes
 * back only under exactly the kind, version, day and fingerprint it was kept under, and the
 * latest value written for them wins.
 */

const DAY = 86_400_000;
const D1 = Date.UTC(2026, 9, 1);
const D2 = D1 + DAY;

/** Values are strings; a value starting with "!" does not decode (a damaged row). */
const codec: DayCodec<string> = {
  encode: (value) => JSON.stringify(value),
  decode: (text) => {
    const value = JSON.parse(text) as string;
    return value.startsWith('!') ? { error: `damaged: ${value}` } : { day: value };
  },
};

let store: Store;
beforeAll(async () => {
  ({ store } = await openTestStore());
});
afterAll(() => store?.close());

function days(kind: string, opts: { version?: number; at?: number; problems?: string[] } = {}) {
  return createPersistedDays({ store, kind, version: opts.version ?? 1, codec, now: () => opts.at ?? D2 + DAY, onProblem: (m) => opts.problems?.push(m) });
}

describe('days kept in attribution_days', () => {
  it('comes back only under exactly the day, fingerprint, kind and version it was kept under', async () => {
    await days('exact').save(D1, 'fp-a', 'one');
    await days('exact').save(D2, 'fp-b', 'two');
    expect(await days('exact').load([{ day: D1, fingerprint: 'fp-a' }, { day: D2, fingerprint: 'fp-b' }])).toEqual(new Map([[D1, 'one'], [D2, 'two']]));
    // Each day's fingerprint is the other's: both are asked for, neither pair exists.
    expect(await days('exact').load([{ day: D1, fingerprint: 'fp-b' }, { day: D2, fingerprint: 'fp-a' }])).toEqual(new Map());
    expect(await days('other-kind').load([{ day: D1, fingerprint: 'fp-a' }])).toEqual(new Map());
    expect(await days('exact', { version: 2 }).load([{ day: D1, fingerprint: 'fp-a' }])).toEqual(new Map());
    expect(await days('exact').load([])).toEqual(new Map());
  });

  it('serves the latest value written for a day, so a day priced again after a damaged row is read back', async () => {
    const problems: string[] = [];
    await days('latest', { at: D2 + DAY }).save(D1, 'fp', '!old and damaged');
    expect(await days('latest', { problems }).load([{ day: D1, fingerprint: 'fp' }])).toEqual(new Map());
    expect(problems).toEqual(['attribution days (latest): day 2026-10-01 is stored but unreadable, pricing it instead: damaged: !old and damaged']);
    await days('latest', { at: D2 + 2 * DAY }).save(D1, 'fp', 'priced again');
    expect(await days('latest').load([{ day: D1, fingerprint: 'fp' }])).toEqual(new Map([[D1, 'priced again']]));
  });

  it('refuses a day start that is not a UTC midnight (a caller bug, not a miss)', async () => {
    await expect(days('exact').load([{ day: D1 + 1, fingerprint: 'fp-a' }])).rejects.toThrow(RangeError);
  });
});
