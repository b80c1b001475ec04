import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { groupCommit } from './group-commit.ts';
import type { RowSink } from './row-sink.ts';

/** An inner sink whose writes the test completes by hand, recording what each insert held. */
function manualSink() {
  const writes: Array<{ table: string; rows: readonly object[]; finish: (err?: Error) => void }> = [];
  const sink: RowSink = {
    write: (table, rows) =>
      new Promise<void>((resolve, reject) => {
        writes.push({ table, rows, finish: (err) => (err ? reject(err) : resolve()) });
      }),
  };
  return { sink, writes };
}

const rows = (n: number, tag = 'r') => Array.from({ length: n }, (_, i) => ({ id: `${tag}${i}` }));
const settled = async <T>(p: Promise<T>) => {
  let state = 'pending';
  p.then(() => (state = 'resolved'), () => (state = 'rejected'));
  await new Promise((r) => setImmediate(r));
  return state;
};

describe('groupCommit', () => {
  it('writes at once when the table is idle: no added latency', async () => {
    const { sink, writes } = manualSink();
    const gc = groupCommit(sink, { maxBatchRows: 100, maxPendingRows: 1000 });
    const a = gc.write('t', rows(3));
    expect(writes.map((w) => w.rows.length)).toEqual([3]);
    expect(gc.pendingRows()).toBe(0);
    writes[0]!.finish();
    await expect(a).resolves.toBeUndefined();
  });

  it('coalesces the writes that arrive while an insert is in flight into one insert, acknowledged only when it lands', async () => {
    const { sink, writes } = manualSink();
    const gc = groupCommit(sink, { maxBatchRows: 100, maxPendingRows: 1000 });
    const first = gc.write('t', rows(2, 'a'));
    const b = gc.write('t', rows(3, 'b'));
    const c = gc.write('t', rows(4, 'c'));
    expect(writes).toHaveLength(1);
    expect(gc.pendingRows()).toBe(7);
    writes[0]!.finish();
    await first;
    expect(writes).toHaveLength(2);
    expect(writes[1]!.rows.map((r) => (r as { id: string }).id)).toEqual(['b0', 'b1', 'b2', 'c0', 'c1', 'c2', 'c3']);
    expect(await settled(b)).toBe('pending');
    writes[1]!.finish();
    await expect(Promise.all([b, c])).resolves.toEqual([undefined, undefined]);
    expect(gc.pendingRows()).toBe(0);
  });

  it('never merges writes to a writeAlone table: each waits its turn and goes out as its own insert', async () => {
    const { sink, writes } = manualSink();
    const gc = groupCommit(sink, { maxBatchRows: 100, maxPendingRows: 1000, writeAlone: (t) => t === 'metrics' });
    const first = gc.write('metrics', rows(2, 'a'));
    const b = gc.write('metrics', rows(3, 'b'));
    const c = gc.write('metrics', rows(1, 'c'));
    const other = [gc.write('spans', rows(1, 'x')), gc.write('spans', rows(1, 'y')), gc.write('spans', rows(1, 'z'))];
    expect(writes.map((w) => w.table)).toEqual(['metrics', 'spans']); // one insert in flight per table
    expect(gc.pendingRows()).toBe(6);
    // Land the inserts in the order they went out, until none is left in flight.
    for (let i = 0; i < writes.length; i++) {
      writes[i]!.finish();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all([first, b, c, ...other]);
    const ids = (table: string) => writes.filter((w) => w.table === table).map((w) => w.rows.map((r) => (r as { id: string }).id).join(' '));
    expect(ids('metrics')).toEqual(['a0 a1', 'b0 b1 b2', 'c0']);
    expect(ids('spans')).toEqual(['x0', 'y0 z0']); // other tables still coalesce
  });

  it('fails exactly the writers of a batch that could not be kept; the next batch still goes out', async () => {
    const { sink, writes } = manualSink();
    const gc = groupCommit(sink, { maxBatchRows: 100, maxPendingRows: 1000 });
    const first = gc.write('t', rows(1));
    const doomed = [gc.write('t', rows(1)), gc.write('t', rows(1))];
    writes[0]!.finish();
    await first;
    const later = gc.write('t', rows(5));
    writes[1]!.finish(new Error('store and spool both failed'));
    for (const d of doomed) await expect(d).rejects.toThrow('store and spool both failed');
    await new Promise((r) => setImmediate(r));
    expect(writes[2]!.rows).toHaveLength(5);
    writes[2]!.finish();
    await expect(later).resolves.toBeUndefined();
  });

  it('closes a batch at maxBatchRows without splitting any one write', async () => {
    const { sink, writes } = manualSink();
    const gc = groupCommit(sink, { maxBatchRows: 10, maxPendingRows: 1000 });
    const all = [gc.write('t', rows(1)), gc.write('t', rows(6)), gc.write('t', rows(6)), gc.write('t', rows(25)), gc.write('t', rows(2))];
    for (let i = 0; i < all.length; i++) {
      writes[i]!.finish();
      await all[i];
    }
    expect(writes.map((w) => w.rows.length)).toEqual([1, 6, 6, 25, 2]);
  });

  it('keeps tables apart: a busy table does not hold back another', async () => {
    const { sink, writes } = manualSink();
    const gc = groupCommit(sink, { maxBatchRows: 100, maxPendingRows: 1000 });
    void gc.write('gauge', rows(1));
    void gc.write('gauge', rows(1));
    void gc.write('sum', rows(2));
    expect(writes.map((w) => [w.table, w.rows.length])).toEqual([['gauge', 1], ['sum', 2]]);
  });

  it('refuses with 503 + retry-after once too many rows wait, and takes writes again when they drain', async () => {
    const { sink, writes } = manualSink();
    const gc = groupCommit(sink, { maxBatchRows: 1000, maxPendingRows: 10, retryAfterSeconds: 2 });
    const inFlight = gc.write('t', rows(50)); // alone: taken whole though larger than the bound
    const queued = gc.write('t', rows(8));
    const refused = gc.write('t', rows(3));
    await expect(refused).rejects.toSatisfy((e: unknown) => e instanceof AppError && e.kind === 'unavailable' && e.code === 'ingest_overloaded');
    await expect(refused).rejects.toMatchObject({ details: { retryAfterSeconds: 2 } });
    expect(gc.pendingRows()).toBe(8);
    writes[0]!.finish();
    await inFlight;
    const taken = gc.write('t', rows(3));
    writes[1]!.finish();
    await queued;
    await new Promise((r) => setImmediate(r));
    writes[2]!.finish();
    await expect(taken).resolves.toBeUndefined();
  });
});
