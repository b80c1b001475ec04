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
    [' 0 ', 0],
  ])('%s', (text, ms) => {
    expect(parseTimestamp(text)).toBe(ms);
  });

  it.each(['', 'yesterday', '2015-02-30 00:00:00', '2015-07-10 25:00:00', '2015/07/10 14:24', '1e12', '99999999999999999999'])(
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
