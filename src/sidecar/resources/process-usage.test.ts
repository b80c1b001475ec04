import { describe, expect, it } from 'vitest';
import { CpuLedger } from './cpu-ledger.ts';
import { readProcessCpuMicros, readProcessRssBytes } from './process-usage.ts';

describe('process usage readers', () => {
  it('give integer, monotonic CPU micros that the ledger accepts', () => {
    const start = readProcessCpuMicros();
    const ledger = new CpuLedger(start);
    ledger.begin('busy', 1, readProcessCpuMicros());
    let x = 0;
    for (let i = 0; i < 2_000_000; i++) x += Math.sqrt(i);
    expect(x).toBeGreaterThan(0);
    const attributed = ledger.end('busy', readProcessCpuMicros());
    const window = ledger.closeWindow(readProcessCpuMicros());
    expect(Number.isSafeInteger(start)).toBe(true);
    expect(attributed).toBeGreaterThan(0);
    expect(window.inferenceCpuMicros).toBe(attributed);
  });

  it('give a positive integer RSS', () => {
    const rss = readProcessRssBytes();
    expect(Number.isSafeInteger(rss) && rss > 0).toBe(true);
  });
});
