import { describe, expect, it } from 'vitest';
import { isWellFormedText, jsonShapeProblem, MAX_JSON_DEPTH } from './json-shape.ts';

const nestedArrays = (depth: number): unknown => {
  let v: unknown = 'x';
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};

describe('jsonShapeProblem', () => {
  it('passes ordinary bodies, emoji (surrogate pairs) included', () => {
    expect(jsonShapeProblem({ a: ['b', 1, null, { c: 'hé 🚀' }], '🔑': true })).toBeUndefined();
    expect(jsonShapeProblem(nestedArrays(MAX_JSON_DEPTH))).toBeUndefined();
  });

  it.each<[string, unknown, string]>([
    ['a lone high surrogate in a value', { a: ['ok', 'x\ud800'] }, 'body.a.1: a string that is not valid Unicode'],
    ['a lone low surrogate at the start', { s: '\udc00y' }, 'body.s: a string that is not valid Unicode'],
    ['a lone surrogate in a key', { ['k\ud83d']: 1 }, 'body: a key that is not valid Unicode'],
    ['one level too deep', nestedArrays(MAX_JSON_DEPTH + 1), `nested more than ${MAX_JSON_DEPTH} levels deep`],
  ])('names %s', (_name, value, message) => {
    expect(jsonShapeProblem(value)).toContain(message);
  });

  it('a body nested 100,000 deep is refused without overflowing the stack', () => {
    expect(jsonShapeProblem(nestedArrays(100_000))).toContain('nested more than');
  });

  it('isWellFormedText agrees with String.prototype.isWellFormed', () => {
    for (const s of ['', 'a', '🚀', '\ud83d\ude80', '\ud83d', '\ude80', 'a\ud83db', '\ude80\ud83d']) {
      expect(isWellFormedText(s)).toBe((s as unknown as { isWellFormed(): boolean }).isWellFormed());
    }
  });
});
