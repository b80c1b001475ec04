import { describe, expect, it } from 'vitest';
import { limitIssues } from './errors.ts';

describe('limitIssues', () => {
  it('keeps a short list as it is', () => {
    expect(limitIssues(['a: bad', 'b: worse'])).toBe('a: bad; b: worse');
  });

  it('names the first ten and counts the rest, each cut at 500 characters', () => {
    const lines = Array.from({ length: 10_000 }, (_, i) => `rows.${i}: ${'x'.repeat(i === 0 ? 2000 : 10)}`);
    const message = limitIssues(lines);
    expect(message.endsWith('; and 9990 more problems')).toBe(true);
    expect(message.split('; ')).toHaveLength(11);
    expect(message.split('; ')[0]).toBe(`rows.0: ${'x'.repeat(492)}…`);
  });
});
