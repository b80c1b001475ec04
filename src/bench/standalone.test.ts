import { describe, expect, it } from 'vitest';
import { listeningUrl, vmRssBytes } from './standalone.ts';
import { cpuMsOfStat } from './child-process.ts';

describe('standalone suite helpers', () => {
  it('reads VmRSS (kB) from /proc/<pid>/status as bytes', () => {
    const status = 'Name:\tnode\nVmPeak:\t 2000000 kB\nVmRSS:\t  123456 kB\nRssAnon:\t  100000 kB\n';
    expect(vmRssBytes(status)).toBe(123456 * 1024);
    expect(vmRssBytes('Name:\tnode\nVmPeak:\t 2000000 kB\n')).toBeUndefined(); // a zombie has no VmRSS
  });

  it('finds the URL a process prints once it listens, on 127.0.0.1', () => {
    expect(listeningUrl('applying migration 0001\ninferledger api listening on http://localhost:40123 (ClickHouse: embedded, /tmp/x/clickhouse)\n')).toBe('http://127.0.0.1:40123');
    expect(listeningUrl('inferledger sidecar listening on http://127.0.0.1:8081 (ClickHouse: server)')).toBe('http://127.0.0.1:8081');
    expect(listeningUrl('applying migration 0001_otel_traces\n')).toBeUndefined();
  });
});

describe('cpuMsOfStat', () => {
  it('reads utime + stime after the command name, spaces and parentheses in it included', () => {
    const rest = 'S 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 76 0 123';
    expect(cpuMsOfStat(`4242 (node) ${rest}`, 100)).toBe(2000);
    expect(cpuMsOfStat(`4242 (my (odd) cmd) ${rest}`, 100)).toBe(2000);
    expect(cpuMsOfStat('4242 (node) S 1', 100)).toBeUndefined();
  });
});
