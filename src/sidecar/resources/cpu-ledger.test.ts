import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CpuLedger, type WindowCpu } from './cpu-ledger.ts';

const sumValues = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

describe('CpuLedger', () => {
  it('splits overlapping requests by weight and counts gaps as non-inference CPU', () => {
    const ledger = new CpuLedger(1_000);
    ledger.begin('a', 1, 1_100); // 100 µs before any request: non-inference
    ledger.begin('b', 3, 1_200); // 100 µs, a alone
    expect(ledger.inFlight()).toBe(2);
    expect(ledger.end('a', 1_600)).toBe(100 + 100); // 400 µs split 1:3
    const first = ledger.closeWindow(1_700); // 100 µs, b alone
    expect(first).toEqual({
      cpuUsedMicros: 700,
      inferenceCpuMicros: 600,
      nonInferenceCpuMicros: 100,
      perRequestMicros: new Map([['a', 200], ['b', 400]]),
    });
    expect(ledger.end('b', 1_750)).toBe(450);
    const second = ledger.closeWindow(1_800);
    expect(second.inferenceCpuMicros).toBe(50);
    expect(second.perRequestMicros).toEqual(new Map([['b', 50]]));
    expect(ledger.inFlight()).toBe(0);
  });

  it('lists a request in flight across a window close with 0 when it received nothing', () => {
    const ledger = new CpuLedger(0);
    ledger.begin('a', 1, 0);
    ledger.closeWindow(0);
    expect(ledger.closeWindow(0).perRequestMicros).toEqual(new Map([['a', 0]]));
  });

  it('breaks equal-remainder ties by request id, whatever the begin order', () => {
    const ledger = new CpuLedger(0);
    ledger.begin('z', 1, 0);
    ledger.begin('m', 1, 0);
    ledger.begin('a', 1, 0);
    expect(Object.fromEntries(ledger.closeWindow(5).perRequestMicros)).toEqual({ a: 2, m: 2, z: 1 });
  });

  it.each<[string, (l: CpuLedger) => unknown, RegExp]>([
    ['end of an unknown id', (l) => l.end('nope', 10), /end\('nope'\): no such request in flight/],
    ['a duplicate begin', (l) => l.begin('x', 1, 10), /begin\('x'\): request is already in flight/],
    ['a counter going backwards', (l) => l.closeWindow(4), /went backwards: 4 µs < previous 5 µs/],
    ['a fractional counter', (l) => l.closeWindow(5.5), /integer number of µs, got 5.5/],
    ['a NaN counter', (l) => l.end('x', Number.NaN), /integer number of µs, got NaN/],
    ['a zero weight', (l) => l.begin('y', 0, 10), /weight must be a finite number > 0, got 0/],
    ['a negative weight', (l) => l.begin('y', -2, 10), /weight must be a finite number > 0, got -2/],
    ['an infinite weight', (l) => l.begin('y', Infinity, 10), /got Infinity/],
  ])('rejects %s and leaves its state untouched', (_name, act, message) => {
    const ledger = new CpuLedger(0);
    ledger.begin('x', 1, 5);
    expect(() => act(ledger)).toThrow(message);
    expect(ledger.inFlight()).toBe(1);
    expect(ledger.end('x', 15)).toBe(10);
  });

  it('rejects a bad start counter', () => {
    expect(() => new CpuLedger(-1)).toThrow(/start counter must be a non-negative integer/);
  });
});

type Op =
  | { kind: 'begin'; weight: number; cpuStep: number }
  | { kind: 'end'; pick: number; cpuStep: number }
  | { kind: 'close'; cpuStep: number };

const cpuStepArb = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 10_000_000 }));
const weightArb = fc.oneof(
  fc.integer({ min: 1, max: 64 }),
  fc.integer({ min: 1, max: 1e12 }),
  fc.double({ min: 0, max: 1e6, minExcluded: true, noNaN: true, noDefaultInfinity: true }),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('begin' as const), weight: weightArb, cpuStep: cpuStepArb }),
  fc.record({ kind: fc.constant('end' as const), pick: fc.nat(), cpuStep: cpuStepArb }),
  fc.record({ kind: fc.constant('close' as const), cpuStep: cpuStepArb }),
);

describe('CpuLedger invariants (property-based)', () => {
  it('conserves CPU exactly over random overlapping requests and window closes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e12 }), fc.array(opArb, { maxLength: 80 }), (start, ops) => {
        const ledger = new CpuLedger(start);
        const windows: WindowCpu[] = [];
        const ended = new Map<string, number>();
        const open: string[] = [];
        let cpu = start;
        let next = 0;
        let expectedInference = 0;
        let windowNonInference = 0;
        const nonInferencePerWindow: number[] = [];

        for (const op of ops) {
          cpu += op.cpuStep;
          // Model: the step went to inference iff something was in flight during it.
          if (open.length > 0) expectedInference += op.cpuStep;
          else windowNonInference += op.cpuStep;
          if (op.kind === 'begin') {
            const id = `r${(next++).toString(36)}`;
            ledger.begin(id, op.weight, cpu);
            open.push(id);
          } else if (op.kind === 'end' && open.length > 0) {
            const [id] = open.splice(op.pick % open.length, 1);
            ended.set(id!, ledger.end(id!, cpu));
          } else {
            windows.push(ledger.closeWindow(cpu));
            nonInferencePerWindow.push(windowNonInference);
            windowNonInference = 0;
          }
          expect(ledger.inFlight()).toBe(open.length);
        }
        windows.push(ledger.closeWindow(cpu));
        nonInferencePerWindow.push(windowNonInference);

        const received = new Map<string, number>();
        windows.forEach((w, i) => {
          // (a) each window's per-request parts add up to its inference CPU exactly.
          expect(sumValues(w.perRequestMicros)).toBe(w.inferenceCpuMicros);
          // (d) used = inference + non-inference, and non-inference matches the model.
          expect(w.cpuUsedMicros).toBe(w.inferenceCpuMicros + w.nonInferenceCpuMicros);
          expect(w.nonInferenceCpuMicros).toBe(nonInferencePerWindow[i]);
          // (c) every attribution is a non-negative integer.
          for (const [id, micros] of w.perRequestMicros) {
            expect(Number.isSafeInteger(micros) && micros >= 0).toBe(true);
            received.set(id, (received.get(id) ?? 0) + micros);
          }
        });
        for (const micros of ended.values()) expect(Number.isSafeInteger(micros) && micros >= 0).toBe(true);

        const totalInference = windows.reduce((a, w) => a + w.inferenceCpuMicros, 0);
        const totalUsed = windows.reduce((a, w) => a + w.cpuUsedMicros, 0);
        const inFlightRemainder = open.reduce((a, id) => a + (received.get(id) ?? 0), 0);
        // (b) all inference CPU is accounted for by ended requests plus those still in flight.
        expect(totalInference).toBe(sumValues(ended) + inFlightRemainder);
        expect(totalInference).toBe(expectedInference);
        expect(totalUsed).toBe(cpu - start);
        // end() returns exactly what the windows attributed to that request.
        for (const [id, micros] of ended) expect(received.get(id)).toBe(micros);
      }),
      { numRuns: 400 },
    );
  });
});
