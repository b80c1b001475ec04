import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GpuTimeLedger } from './gpu-time-ledger.ts';

function clocked() {
  let t = 1_000;
  return { at: (us: number) => void (t = us), ledger: new GpuTimeLedger(() => t) };
}

describe('GpuTimeLedger', () => {
  it('gives a run alone on its GPU its whole wall time', () => {
    const { at, ledger } = clocked();
    at(1_000);
    ledger.begin(0, 'a', 1);
    at(5_500);
    expect(ledger.end(0, 'a')).toBe(4_500);
  });

  it('splits overlapping time on one GPU by weight, so the GPU is never billed twice', () => {
    const { at, ledger } = clocked();
    at(0);
    ledger.begin(0, 'a', 1);
    at(1_000); // a alone: 1,000
    ledger.begin(0, 'b', 3);
    at(5_000); // 4,000 shared 1:3
    expect(ledger.end(0, 'a')).toBe(1_000 + 1_000);
    at(6_000); // b alone: 1,000
    expect(ledger.end(0, 'b')).toBe(3_000 + 1_000);
  });

  it('keeps GPUs apart: runs on different GPUs each get their own wall time', () => {
    const { at, ledger } = clocked();
    at(0);
    ledger.begin(0, 'a', 1);
    ledger.begin(1, 'b', 1);
    at(2_000);
    expect(ledger.end(0, 'a')).toBe(2_000);
    expect(ledger.end(1, 'b')).toBe(2_000);
  });

  it('charges nothing for time when no run is in flight', () => {
    const { at, ledger } = clocked();
    at(0);
    ledger.begin(0, 'a', 1);
    at(100);
    ledger.end(0, 'a');
    at(10_000);
    ledger.begin(0, 'b', 1);
    at(10_250);
    expect(ledger.end(0, 'b')).toBe(250);
  });

  it('conserves: any interleaving of runs sums to the time the GPU had a run in flight', () => {
    // Random schedules of begin/end events on two GPUs with random weights and clock steps.
    const step = fc.record({ gpu: fc.integer({ min: 0, max: 1 }), dt: fc.integer({ min: 0, max: 5_000 }), weight: fc.double({ min: 0.001, max: 1e9, noNaN: true }), endFirst: fc.boolean() });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
        let t = 0;
        const ledger = new GpuTimeLedger(() => t);
        const open: string[][] = [[], []];
        const charged = [0, 0];
        const held = [0, 0];
        let n = 0;
        for (const s of steps) {
          for (const g of [0, 1]) if (open[g]!.length > 0) held[g]! += s.dt;
          t += s.dt;
          if (s.endFirst && open[s.gpu]!.length > 0) charged[s.gpu]! += ledger.end(s.gpu, open[s.gpu]!.shift()!);
          else {
            const id = `r${n++}`;
            ledger.begin(s.gpu, id, s.weight);
            open[s.gpu]!.push(id);
          }
        }
        t += 7;
        for (const g of [0, 1]) {
          if (open[g]!.length > 0) held[g]! += 7;
          for (const id of open[g]!) charged[g]! += ledger.end(g, id);
          expect(charged[g]).toBe(held[g]);
          expect(ledger.inFlight(g)).toBe(0);
        }
      }),
    );
  });

  it('refuses misuse without changing what is in flight', () => {
    let t = 10;
    const ledger = new GpuTimeLedger(() => t);
    ledger.begin(0, 'a', 1);
    expect(() => ledger.begin(0, 'a', 1)).toThrow(/already in flight on GPU 0/);
    expect(() => ledger.begin(0, 'b', 0)).toThrow(/weight must be a finite number > 0/);
    expect(() => ledger.end(1, 'a')).toThrow(/no such request in flight on GPU 1/);
    t = 5;
    expect(() => ledger.end(0, 'a')).toThrow(/monotonic/);
    t = 30;
    expect(ledger.inFlight(0)).toBe(1);
    expect(ledger.end(0, 'a')).toBe(20);
  });
});
