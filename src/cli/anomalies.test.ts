import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { runAnomaliesCommand } from './anomalies.ts';

const dir = mkdtempSync(join(tmpdir(), 'anomalies-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function csvFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const code = await runAnomaliesCommand(args, { stdout, stderr });
  return { code, out: Buffer.concat(out).toString(), err: Buffer.concat(err).toString() };
}

describe('inferledger anomalies detect', () => {
  it('writes one scored row per input row, same timestamp and value text', async () => {
    const rows = Array.from({ length: 300 }, (_, i) => {
      const ts = new Date(Date.UTC(2015, 6, 10) + i * 300_000).toISOString().replace('T', ' ').slice(0, 19);
      return `${ts},${i === 250 ? '900.50' : String(100 + (i % 7))}`;
    });
    const { code, out, err } = await run(['detect', csvFile('ok.csv', `timestamp,value\r\n${rows.join('\r\n')}\r\n`)]);
    expect(err).toBe('');
    expect(code).toBe(0);
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toBe('timestamp,value,anomaly_score');
    expect(lines).toHaveLength(rows.length + 1);
    lines.slice(1).forEach((line, i) => {
      const [ts, value, score] = line.split(',');
      expect(`${ts},${value}`).toBe(rows[i]);
      expect(score).toMatch(/^(0|1|0\.\d{1,6})$/);
    });
    const spike = Number(lines[251]?.split(',')[2]);
    expect(spike).toBeGreaterThan(0.5);
  });

  it('accepts epoch ms and RFC 3339 timestamps and missing values', async () => {
    const text = 'timestamp,value\n1436538240000,1\n2015-07-10T14:29:00Z,\n2015-07-10T14:34:00+00:00,NaN\n';
    const { code, out } = await run(['detect', csvFile('mixed.csv', text)]);
    expect(code).toBe(0);
    expect(out).toBe('timestamp,value,anomaly_score\n1436538240000,1,0\n2015-07-10T14:29:00Z,,0\n2015-07-10T14:34:00+00:00,NaN,0\n');
  });

  it('streams input given as chunks that split lines', async () => {
    const stdout = new PassThrough();
    const chunks: string[] = [];
    stdout.on('data', (c: Buffer) => chunks.push(c.toString()));
    const readFile = async function* (): AsyncGenerator<string> {
      yield 'timesta';
      yield 'mp,value\n2015-07-10 14:24:00,5\n2015-07-10 14:';
      yield '29:00,6';
    };
    const code = await runAnomaliesCommand(['detect', 'in-memory.csv'], { stdout, stderr: new PassThrough(), readFile });
    expect(code).toBe(0);
    expect(chunks.join('')).toBe('timestamp,value,anomaly_score\n2015-07-10 14:24:00,5,0\n2015-07-10 14:29:00,6,0\n');
  });

  it.each([
    { name: 'missing file', file: 'absent.csv', text: undefined, message: 'absent.csv: no such file' },
    { name: 'empty file', file: 'empty.csv', text: '', message: 'empty file' },
    { name: 'missing header', file: 'nohead.csv', text: '2015-07-10 14:24:00,5\n', message: 'line 1: expected the header "timestamp,value"' },
    { name: 'bad timestamp', file: 'badts.csv', text: 'timestamp,value\n2015-07-10 14:24:00,5\nlater,6\n', message: 'line 3: unparsable timestamp' },
    { name: 'bad value', file: 'badval.csv', text: 'timestamp,value\n2015-07-10 14:24:00,five\n', message: 'line 2: unparsable value' },
    { name: 'a hexadecimal value', file: 'hex.csv', text: 'timestamp,value\n2015-07-10 14:24:00,0x10\n', message: 'line 2: unparsable value' },
    { name: 'a third column in the header', file: 'head3.csv', text: 'timestamp,value,label\n2015-07-10 14:24:00,5\n', message: 'line 1: expected the header "timestamp,value"' },
    { name: 'seconds past 59', file: 'sec.csv', text: 'timestamp,value\n2014-04-01 00:00:99,5\n', message: 'line 2: unparsable timestamp' },
    { name: 'extra column', file: 'cols.csv', text: 'timestamp,value\n2015-07-10 14:24:00,5,6\n', message: 'line 2: expected 2 columns' },
    {
      name: 'time going backwards',
      file: 'back.csv',
      text: 'timestamp,value\n2015-07-10 14:24:00,5\n2015-07-10 14:20:00,5\n',
      message: 'line 3: timestamp earlier than the previous row',
    },
  ])('exits 2 on $name', async ({ file, text, message }) => {
    const path = text === undefined ? join(dir, file) : csvFile(file, text);
    const { code, err } = await run(['detect', path]);
    expect(code).toBe(2);
    expect(err).toContain(message);
  });

  it.each([[[]], [['detect']], [['frobnicate', 'x.csv']], [['detect', 'a.csv', 'b.csv']]])('exits 2 with usage for %j', async (args) => {
    const { code, err } = await run(args);
    expect(code).toBe(2);
    expect(err).toContain('usage: inferledger anomalies detect <file.csv>');
  });

  it('prints usage on --help and exits 0', async () => {
    const { code, out } = await run(['--help']);
    expect(code).toBe(0);
    expect(out).toContain('usage:');
  });

  it('a file with CR-only line ends is refused early as having no line end, not scanned quadratically', async () => {
    const rows = Array.from({ length: 60_000 }, (_, i) => `2015-01-01 00:00:${String(i % 60).padStart(2, '0')},${i}`);
    const { code, out, err } = await run(['detect', csvFile('cr.csv', `timestamp,value\r${rows.join('\r')}\r`)]);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toContain('has no line end: lines must end in LF or CRLF');
  });
});
