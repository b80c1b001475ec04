import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore } from '../../test/support/store.ts';
import type { Store } from '../store/client.ts';
import { createPersistedDays, type DayCodec } from './persisted-days.ts';

/**
 * The attribution_days table against a real embedded ClickHouse, with a toy value: a day comes
 * back only under exactly the kind, version, day and fingerprint it was kept under, and the
 * latest value written for them wins.
 */

const H = 3_600_000;
const DAY = 24 * H;
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

const day = (from: number, fingerprint: string) => ({ from, to: from + DAY, fingerprint });
const hour = (from: number, fingerprint: string) => ({ from, to: from + H, fingerprint });

describe('days kept in attribution_days', () => {
  it('comes back only under exactly the day, fingerprint, kind and version it was kept under', async () => {
    await days('exact').save([{ ...day(D1, 'fp-a'), value: 'one' }]);
    await days('exact').save([{ ...day(D2, 'fp-b'), value: 'two' }]);
    expect(await days('exact').load([day(D1, 'fp-a'), day(D2, 'fp-b')])).toEqual(['one', 'two']);
    // Each day's fingerprint is the other's: both are asked for, neither pair exists.
    expect(await days('exact').load([day(D1, 'fp-b'), day(D2, 'fp-a')])).toEqual([undefined, undefined]);
    expect(await days('other-kind').load([day(D1, 'fp-a')])).toEqual([undefined]);
    expect(await days('exact', { version: 2 }).load([day(D1, 'fp-a')])).toEqual([undefined]);
    expect(await days('exact').load([])).toEqual([]);
  });

  it('keeps hours apart from their day and from each other, whatever their fingerprints', async () => {
    await days('hours').save([
      { ...hour(D1, 'fp'), value: 'first hour' },
      { ...hour(D1 + 13 * H, 'fp'), value: 'hour 13' },
    ]);
    await days('hours').save([{ ...day(D1, 'fp'), value: 'whole day' }]);
    expect(await days('hours').load([hour(D1 + 13 * H, 'fp'), day(D1, 'fp'), hour(D1, 'fp'), hour(D1 + 14 * H, 'fp')])).toEqual([
      'hour 13',
      'whole day',
      'first hour',
      undefined,
    ]);
    // The same hour of another day is another row.
    expect(await days('hours').load([hour(D2 + 13 * H, 'fp')])).toEqual([undefined]);
  });

  it('serves the latest value written for a day, so a day priced again after a damaged row is read back', async () => {
    const problems: string[] = [];
    await days('latest', { at: D2 + DAY }).save([{ ...day(D1, 'fp'), value: '!old and damaged' }]);
    await days('latest', { at: D2 + DAY }).save([{ ...hour(D1 + 5 * H, 'fp'), value: '!damaged too' }]);
    expect(await days('latest', { problems }).load([day(D1, 'fp'), hour(D1 + 5 * H, 'fp')])).toEqual([undefined, undefined]);
    expect(problems.sort()).toEqual([
      'attribution days (latest): day 2026-10-01 is stored but unreadable, pricing it instead: damaged: !old and damaged',
      'attribution days (latest): hour 2026-10-01 05:00 is stored but unreadable, pricing it instead: damaged: !damaged too',
    ]);
    await days('latest', { at: D2 + 2 * DAY }).save([{ ...day(D1, 'fp'), value: 'priced again' }]);
    expect(await days('latest').load([day(D1, 'fp')])).toEqual(['priced again']);
  });

  it('refuses a piece that is neither a whole UTC day nor a whole hour (a caller bug, not a miss)', async () => {
    for (const piece of [{ from: D1 + 1, to: D1 + 1 + DAY }, { from: D1, to: D1 + 2 * H }, { from: D1 + H / 2, to: D1 + 1.5 * H }]) {
      await expect(days('exact').load([{ ...piece, fingerprint: 'fp-a' }])).rejects.toThrow(RangeError);
      await expect(days('exact').save([{ ...piece, fingerprint: 'fp-a', value: 'x' }])).rejects.toThrow(RangeError);
    }
  });
});
