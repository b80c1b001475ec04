import { describe, expect, it } from 'vitest';
import { negotiateFormat } from './statements.ts';

describe('negotiateFormat', () => {
  it.each([
    [undefined, 'json'],
    ['', 'json'],
    ['text/csv', 'csv'],
    ['application/json', 'json'],
    ['*/*', 'json'],
    ['text/html', 'json'],
    ['text/*', 'csv'],
    // Found by hand: a client refusing CSV, or preferring JSON, got CSV.
    ['text/csv;q=0, application/json', 'json'],
    ['application/json, text/csv;q=0.1', 'json'],
    ['application/json;q=0.5, text/csv', 'csv'],
    ['text/html, */*;q=0.8', 'json'],
    ['TEXT/CSV', 'csv'],
  ])('Accept %j → %s', (accept, format) => {
    expect(negotiateFormat(undefined, accept)).toBe(format);
  });

  it('?format= wins over Accept', () => {
    expect(negotiateFormat('focus', 'application/json')).toBe('focus');
    expect(negotiateFormat('json', 'text/csv')).toBe('json');
  });
});
