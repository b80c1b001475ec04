import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  parseCfsQuota,
  parseCpuMax,
  parseMemoryLimit,
  readCpuCapacityMillicores,
  readMemoryLimitBytes,
  resolveCpuMillicores,
  resolveMemoryBytes,
} from './cgroup.ts';

describe('cgroup parsers', () => {
  it.each<[string, number | null]>([
    ['max 100000\n', null],
    ['max', null],
    ['150000 100000\n', 1500],
    ['100000 100000', 1000],
    ['50000 100000', 500],
    ['200000 50000', 4000],
    ['33333 100000', 333],
    ['1000 1000000', 1],
    ['1 1000000', 1],
    ['  250000   100000  ', 2500],
    ['', null],
    ['garbage', null],
    ['0 100000', null],
  ])('parseCpuMax(%j) → %s', (text, expected) => {
    expect(parseCpuMax(text)).toBe(expected);
  });

  it.each<[string, string, number | null]>([
    ['-1\n', '100000\n', null],
    ['150000\n', '100000\n', 1500],
    ['200000', '100000', 2000],
    ['50000', '0', null],
    ['x', '100000', null],
  ])('parseCfsQuota(%j, %j) → %s', (quota, period, expected) => {
    expect(parseCfsQuota(quota, period)).toBe(expected);
  });

  it.each<[string, number | null]>([
    ['max\n', null],
    ['536870912\n', 536_870_912],
    ['9223372036854771712\n', null], // v1 "unlimited" (LONG_MAX rounded down to a page)
    ['9223372036854775807', null],
    [String(2 ** 60), null],
    ['17179869184', 17_179_869_184],
    ['0', null],
    ['-1', null],
    ['', null],
  ])('parseMemoryLimit(%j) → %s', (text, expected) => {
    expect(parseMemoryLimit(text)).toBe(expected);
  });

  it.each<[number | null, number, number]>([
    [null, 8, 8000],
    [1500, 8, 1500],
    [64_000, 8, 8000], // quota above the machine cannot be used
    [null, 1, 1000],
  ])('resolveCpuMillicores(%s, %s cores) → %s', (quota, cores, expected) => {
    expect(resolveCpuMillicores(quota, cores)).toBe(expected);
  });

  it.each<[number | null, number, number]>([
    [null, 1024, 1024],
    [512, 1024, 512],
    [4096, 1024, 1024],
  ])('resolveMemoryBytes(%s, %s) → %s', (limit, total, expected) => {
    expect(resolveMemoryBytes(limit, total)).toBe(expected);
  });
});

describe('cgroup readers on a directory tree', () => {
  const dirs: string[] = [];
  const tree = (files: Record<string, string>): string => {
    const root = mkdtempSync(join(tmpdir(), 'cgroup-'));
    dirs.push(root);
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), content);
    }
    return root;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const GiB = 1024 ** 3;

  it('reads cgroup v2 limits', () => {
    const root = tree({ 'cpu.max': '150000 100000\n', 'memory.max': '2147483648\n' });
    expect(readCpuCapacityMillicores(root, 16)).toBe(1500);
    expect(readMemoryLimitBytes(root, 64 * GiB)).toBe(2 * GiB);
  });

  it('treats cgroup v2 "max" as the machine and does not fall through to v1 files', () => {
    const root = tree({
      'cpu.max': 'max 100000\n',
      'memory.max': 'max\n',
      'cpu/cpu.cfs_quota_us': '50000\n',
      'cpu/cpu.cfs_period_us': '100000\n',
      'memory/memory.limit_in_bytes': '1024\n',
    });
    expect(readCpuCapacityMillicores(root, 4)).toBe(4000);
    expect(readMemoryLimitBytes(root, 8 * GiB)).toBe(8 * GiB);
  });

  it('reads cgroup v1 limits', () => {
    const root = tree({
      'cpu/cpu.cfs_quota_us': '250000\n',
      'cpu/cpu.cfs_period_us': '100000\n',
      'memory/memory.limit_in_bytes': '1073741824\n',
    });
    expect(readCpuCapacityMillicores(root, 16)).toBe(2500);
    expect(readMemoryLimitBytes(root, 64 * GiB)).toBe(GiB);
  });

  it('reads cgroup v1 from cpu,cpuacct and treats v1 "unlimited" as the machine', () => {
    const root = tree({
      'cpu,cpuacct/cpu.cfs_quota_us': '-1\n',
      'cpu,cpuacct/cpu.cfs_period_us': '100000\n',
      'memory/memory.limit_in_bytes': '9223372036854771712\n',
    });
    expect(readCpuCapacityMillicores(root, 12)).toBe(12_000);
    expect(readMemoryLimitBytes(root, 32 * GiB)).toBe(32 * GiB);
  });

  it('falls back to the machine when there are no cgroup files at all', () => {
    const root = tree({});
    expect(readCpuCapacityMillicores(root, 3)).toBe(3000);
    expect(readMemoryLimitBytes(root, 5 * GiB)).toBe(5 * GiB);
    expect(readCpuCapacityMillicores(join(root, 'does-not-exist'), 2)).toBe(2000);
  });

  it('uses the host defaults without throwing', () => {
    expect(readCpuCapacityMillicores()).toBeGreaterThan(0);
    expect(readMemoryLimitBytes()).toBeGreaterThan(0);
  });
});
