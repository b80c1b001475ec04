import { describe, expect, it } from 'vitest';
import { csvCell, csvDocument } from './csv.ts';
import { parseCsv } from './test-support.ts';

describe('csvCell', () => {
  it.each([
    ['plain', 'resnet50', 'resnet50'],
    ['a formula', '=cmd()', "'=cmd()"],
    ['a plus', '+1', "'+1"],
    ['a minus', '-1', "'-1"],
    ['a negative amount', '-1.500000', "'-1.500000"],
    ['an at', '@x', "'@x"],
    ['a leading tab', '\tx', "'\tx"],
    ['a leading CR (quoted too)', '\rx', `"'\rx"`],
    ['a comma', 'a,b', '"a,b"'],
    ['quotes', 'say "hi"', '"say ""hi"""'],
    ['a newline', 'a\nb', '"a\nb"'],
    ['a formula with a comma', '=SUM(A1,A2)', `"'=SUM(A1,A2)"`],
    ['an equals sign later on', 'a=b', 'a=b'],
    ['empty', '', ''],
  ])('%s', (_name, value, expected) => expect(csvCell(value)).toBe(expected));

  it.each([
    ['-1.500000', '-1.500000'],
    ['-12', '-12'],
    ['-1+2', "'-1+2"],
    ['-1e3', "'-1e3"],
    ['=1', "'=1"],
    ['+1', "'+1"],
  ])('with keepPlainNumbers, %j → %j (only plain decimals are left alone)', (value, expected) => {
    expect(csvCell(value, { keepPlainNumbers: true })).toBe(expected);
  });
});

describe('csvDocument', () => {
  it('joins with CRLF, terminates the last record, and reads back', () => {
    const doc = csvDocument([['a', 'b,c'], ['x"y', 'line\nbreak']]);
    expect(doc).toBe('a,"b,c"\r\n"x""y","line\nbreak"\r\n');
    expect(parseCsv(doc)).toEqual([['a', 'b,c'], ['x"y', 'line\nbreak']]);
  });
});
