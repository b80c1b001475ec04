import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseLines, Spool } from './spool.ts';

const spoolDir = () => mkdtempSync(join(tmpdir(), 'il-spool-unit-'));

async function drained(spool: Spool) {
  const inserts: Array<[string, object[]]> = [];
  const n = await spool.drain(async (table, rows) => void inserts.push([table, rows]));
  return { n, inserts };
}

describe('Spool', () => {
  it('replays appended batches oldest first and deletes them', async () => {
    const spool = new Spool(spoolDir());
    spool.append('t', [{ a: 1 }]);
    spool.append('t', [{ a: 2 }, { a: 3 }]);
    expect(spool.append('t', [])).toBeUndefined();
    expect(await drained(spool)).toEqual({ n: 2, inserts: [['t', [{ a: 1 }]], ['t', [{ a: 2 }, { a: 3 }]]] });
    expect(spool.pending()).toEqual([]);
  });

  it('leaves a held file to its writer until it is released', async () => {
    const spool = new Spool(spoolDir());
    const held = await spool.openHeld('t');
    await held.append([{ a: 1 }]);
    await held.append([{ a: 2 }]);
    expect(spool.pending()).toEqual([]);
    expect(await drained(spool)).toEqual({ n: 0, inserts: [] });
    await held.close();
    expect(readFileSync(held.file, 'utf8')).toBe('{"a":1}\n{"a":2}\n');
    spool.release(held.file);
    expect(await drained(spool)).toEqual({ n: 1, inserts: [['t', [{ a: 1 }, { a: 2 }]]] });
  });

  it('removes a held file whose rows were stored (twice is harmless)', async () => {
    const spool = new Spool(spoolDir());
    const held = await spool.openHeld('t');
    await held.append([{ a: 1 }]);
    await held.close();
    spool.remove(held.file);
    spool.remove(held.file);
    expect(spool.pending()).toEqual([]);
  });

  it('skips a line torn by a crash instead of blocking the spool forever', async () => {
    const spool = new Spool(spoolDir());
    const held = await spool.openHeld('t');
    await held.append([{ a: 1 }]);
    await held.close();
    appendFileSync(held.file, '{"a":2,"b":"half-writ'); // the process died mid-append
    spool.release(held.file);
    expect(await drained(spool)).toEqual({ n: 1, inserts: [['t', [{ a: 1 }]]] });
    expect(parseLines('{"x":1}\nnot json\n\n{"y":2}\n')).toEqual([{ x: 1 }, { y: 2 }]);
  });

  it('a file that holds only a torn line is dropped without an insert', async () => {
    const spool = new Spool(spoolDir());
    const held = await spool.openHeld('t');
    await held.close();
    appendFileSync(held.file, '{"a":');
    spool.release(held.file);
    expect(await drained(spool)).toEqual({ n: 1, inserts: [] });
    expect(spool.pending()).toEqual([]);
  });

  it('keeps a batch whose replay fails, for the next drain', async () => {
    const spool = new Spool(spoolDir());
    spool.append('t', [{ a: 1 }]);
    expect(await spool.drain(() => Promise.reject(new Error('down')))).toBe(0);
    expect(spool.pending()).toHaveLength(1);
  });

  it('a table whose replay fails waits, in order, while the other tables replay', async () => {
    const spool = new Spool(spoolDir());
    spool.append('a_refused', [{ a: 1 }]);
    spool.append('a_refused', [{ a: 2 }]);
    spool.append('b_fine', [{ b: 1 }]);
    const tried: string[] = [];
    const errors: string[] = [];
    const insert = async (table: string, rows: object[]) => {
      tried.push(`${table} ${JSON.stringify(rows)}`);
      if (table === 'a_refused') throw new Error('Code: 16. No such column');
    };
    expect(await spool.drain(insert, (table, err) => errors.push(`${table}: ${(err as Error).message}`))).toBe(1);
    // a_refused's second batch was not tried before its first: order within a table is kept.
    expect(tried).toEqual(['a_refused [{"a":1}]', 'b_fine [{"b":1}]']);
    expect(spool.pending().map((p) => p.table)).toEqual(['a_refused', 'a_refused']);
    // The same failure again is not reported again; a recovery and a new failure are.
    await spool.drain(insert, (table, err) => errors.push(`${table}: ${(err as Error).message}`));
    expect(errors).toEqual(['a_refused: Code: 16. No such column']);
    expect(await spool.drain(async () => {})).toBe(2);
    spool.append('a_refused', [{ a: 3 }]);
    await spool.drain(insert, (table, err) => errors.push(`${table}: ${(err as Error).message}`));
    expect(errors).toHaveLength(2);
  });
});
