import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Alert } from '../types.ts';
import { diskOutbox, memoryOutbox } from './outbox.ts';

const alert = (key: string, state: Alert['state'] = 'firing'): Alert => ({
  key, kind: 'quota', tenantId: 't', name: 'InferledgerQuotaThreshold', severity: 'critical', state,
  labels: { quota: 'requests_per_minute', threshold: '1' }, annotations: { summary: 's' }, value: 1.2, startsAt: 1, updatedAt: 2,
});

describe.each([
  ['memory', () => memoryOutbox()],
  ['disk', () => diskOutbox(mkdtempSync(join(tmpdir(), 'il-outbox-')))],
])('%s outbox', (_name, make) => {
  it('keeps offer order; the same id overwrites in place; delete removes', () => {
    const o = make();
    o.set('a', alert('a'));
    o.set('b', alert('b'));
    o.set('a', alert('a', 'resolved'));
    expect(o.entries().map(([id, a]) => [id, a.state])).toEqual([['a', 'resolved'], ['b', 'firing']]);
    o.delete('a');
    o.delete('never-there');
    expect(o.size).toBe(1);
    expect(o.entries().map(([id]) => id)).toEqual(['b']);
  });
});

describe('disk outbox', () => {
  it('survives a restart: a new instance on the same directory has every entry, in order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'il-outbox-restart-'));
    const before = diskOutbox(dir);
    for (const id of ['x', 'y', 'z']) before.set(id, alert(id));
    before.delete('y');
    const after = diskOutbox(dir);
    expect(after.entries()).toEqual([['x', alert('x')], ['z', alert('z')]]);
    after.set('w', alert('w')); // numbered after the survivors
    expect(diskOutbox(dir).entries().map(([id]) => id)).toEqual(['x', 'z', 'w']);
    after.delete('x');
    after.delete('z');
    after.delete('w');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('skips an unreadable file with a log line instead of failing to start', () => {
    const dir = mkdtempSync(join(tmpdir(), 'il-outbox-bad-'));
    writeFileSync(join(dir, '000000000000-bad.json'), '{"id":');
    const logs: string[] = [];
    const o = diskOutbox(dir, (l) => logs.push(l));
    expect(o.size).toBe(0);
    expect(logs[0]).toMatch(/skipped unreadable 000000000000-bad.json/);
  });
});
