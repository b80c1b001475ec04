import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isDataRefusal } from './refusal.ts';
import { parseLines, Spool, type PoisonPolicy, type QuarantinedBatch } from './spool.ts';

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

  describe('a batch refused for its rows (poison)', () => {
    const poisonRig = () => {
      const spool = new Spool(spoolDir());
      const stored: string[] = [];
      const quarantined: QuarantinedBatch[] = [];
      const policy: PoisonPolicy = { isRefusal: isDataRefusal, after: 3, onQuarantine: (b) => quarantined.push(b) };
      // ClickHouse refuses any batch holding a row with bad: true, for its data (code 407).
      const insert = async (table: string, rows: object[]) => {
        if (rows.some((r) => (r as { bad?: boolean }).bad)) throw new Error('ClickHouse: Code: 407. DB::Exception: Decimal math overflow (while reading the value of key ts)');
        stored.push(...rows.map((r) => `${table}:${JSON.stringify(r)}`));
      };
      return { spool, stored, quarantined, drain: () => spool.drain(insert, undefined, policy) };
    };

    it("is quarantined after 3 refusals in a row, kept with its reason, and the table's later batches go in", async () => {
      const { spool, stored, quarantined, drain } = poisonRig();
      spool.append('t', [{ n: 1, bad: true }, { n: 2 }]);
      spool.append('t', [{ n: 3 }]);
      expect(await drain()).toBe(0);
      expect(await drain()).toBe(0);
      expect(stored).toEqual([]); // held back in order while it might still be a passing fault
      expect(await drain()).toBe(1);
      expect(stored).toEqual(['t:{"n":3}']);
      expect(quarantined).toHaveLength(1);
      expect(quarantined[0]).toMatchObject({ table: 't', rows: 2, reason: expect.stringMatching(/^refused 3 times in a row; last: ClickHouse: Code: 407\./) });
      expect(spool.pending()).toEqual([]);
      expect(spool.quarantined()).toEqual(quarantined);
      expect(readFileSync(quarantined[0]!.file, 'utf8')).toBe('{"n":1,"bad":true}\n{"n":2}\n');
    });

    it('is never quarantined for a failure that heals by itself (server down, missing table)', async () => {
      const spool = new Spool(spoolDir());
      spool.append('t', [{ n: 1 }]);
      const policy: PoisonPolicy = { isRefusal: isDataRefusal, after: 1 };
      for (const message of ['connect ECONNREFUSED 127.0.0.1:8123', 'ClickHouse: Code: 60. DB::Exception: Unknown table expression identifier', 'Timeout error.']) {
        await spool.drain(() => Promise.reject(new Error(message)), undefined, policy);
      }
      expect(spool.pending()).toHaveLength(1);
      expect(spool.quarantined()).toEqual([]);
    });

    it('counts refusals only: a drain that fails because the server is down counts for nothing', async () => {
      const { spool, quarantined, drain } = poisonRig();
      spool.append('t', [{ n: 1, bad: true }]);
      const down = () => spool.drain(() => Promise.reject(new Error('connect ECONNREFUSED')), undefined, { isRefusal: isDataRefusal, after: 3 });
      await drain();
      await down();
      await drain();
      await down();
      await down();
      expect(quarantined).toEqual([]);
      expect(spool.pending()).toHaveLength(1);
      await drain();
      expect(quarantined).toHaveLength(1);
    });

    it('goes back to the spool, in its place, with requeue (after the cause is fixed)', async () => {
      const { spool, stored, drain } = poisonRig();
      spool.append('t', [{ n: 1, bad: true }]);
      spool.append('u', [{ n: 9, bad: true }]);
      for (let i = 0; i < 3; i++) await drain();
      expect(spool.quarantined().map((b) => b.table)).toEqual(['t', 'u']);
      expect(spool.requeue('t')).toBe(1);
      expect(spool.pending().map((p) => p.table)).toEqual(['t']);
      expect(spool.quarantined().map((b) => b.table)).toEqual(['u']);
      // Fixed (here: the store now takes it): it is replayed like any batch.
      expect(await spool.drain(async (table, rows) => void stored.push(`${table}:${JSON.stringify(rows)}`))).toBe(1);
      expect(stored).toEqual(['t:[{"n":1,"bad":true}]']);
      expect(spool.requeue()).toBe(1);
      expect(spool.quarantined()).toEqual([]);
    });
  });
});
