import { describe, expect, it } from 'vitest';
import { parseTimestamp } from './parse-timestamp.ts';
import { formatScore } from './format-score.ts';

describe('parseTimestamp', () => {
  it.each([
    ['2015-07-10 14:24:00', Date.UTC(2015, 6, 10, 14, 24)],
    ['2014-04-10 07:15:00.000000', Date.UTC(2014, 3, 10, 7, 15)],
    ['2015-07-10T14:24', Date.UTC(2015, 6, 10, 14, 24)],
    ['2015-07-10T14:24:00Z', Date.UTC(2015, 6, 10, 14, 24)],
    ['2015-07-10T16:24:00.5+02:00', Date.UTC(2015, 6, 10, 14, 24, 0, 500)],
    ['1436538240000', Date.UTC(2015, 6, 10, 14, 24)],
    ['1436538240', Date.UTC(2015, 6, 10, 14, 24)], // epoch seconds: the same instant
    ['99999999999', 99_999_999_999_000],
    ['100000000000', 100_000_000_000],
    [' 0 ', 0],
    ['2015-07-10T14:24:00-02:30', Date.UTC(2015, 6, 10, 16, 54)],
    ['2016-02-29T23:59:59Z', Date.UTC(2016, 1, 29, 23, 59, 59)],
    // A fraction rounding up to the next second carries into the next day (and year), not back to 00:00.
    ['2015-01-31 23:59:59.9996', Date.UTC(2015, 1, 1)],
    ['2015-12-31T23:59:59.9999Z', Date.UTC(2016, 0, 1)],
    ['0099-06-01 12:00:00', new Date(Date.UTC(2000, 0, 1, 12)).setUTCFullYear(99, 5, 1)], // not 1999
  ])('%s', (text, ms) => {
    expect(parseTimestamp(text)).toBe(ms);
  });

  it.each([
    '', 'yesterday', '2015-02-30 00:00:00', '2015-07-10 25:00:00', '2015/07/10 14:24', '1e12', '99999999999999999999',
    '2014-04-01 00:00:99', '2014-04-01 00:60:00', '2015-02-30T00:00:00Z', '2015-02-29T00:00:00Z', '2015-07-10T24:00:00Z',
    '2015-07-10T14:24:00+24:00', '2015-13-01T00:00:00Z',
  ])(
    'rejects %j',
    (text) => {
      expect(parseTimestamp(text)).toBeUndefined();
    },
  );
});

describe('formatScore', () => {
  it.each([
    [0, '0'],
    [0.5, '0.5'],
    [0.1234567, '0.123457'],
    [0.9999999, '1'],
  ])('%s → %s', (score, text) => {
    expect(formatScore(score)).toBe(text);
  });
});
