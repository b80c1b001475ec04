import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNvidiaSmiCsv, probeGpus, type GpuReading } from './nvidia-smi.ts';

const fixturePath = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const fixture = (name: string) => readFileSync(fixturePath(name), 'utf8');
const MiB = 1024 * 1024;

describe('parseNvidiaSmiCsv on fixtures (see fixtures/README.md for which are real captures)', () => {
  // Captured on a real H100 (driver 580.159.04) on 2026-11-27: idle, then under a bf16 matmul load.
  const realH100 = { index: 0, uuid: 'GPU-2b859756-e30b-a050-bd2d-f5ca36b42966', name: 'NVIDIA H100 80GB HBM3' };

  it('reads a real idle H100', () => {
    expect(parseNvidiaSmiCsv(fixture('nvidia-smi-h100.csv'))).toEqual<GpuReading[]>([
      { ...realH100, utilizationPct: 0, memoryUsedBytes: 0, memoryTotalBytes: 81559 * MiB, powerWatts: 75.77, powerLimitWatts: 700 },
    ]);
  });

  it('reads a real H100 under load', () => {
    expect(parseNvidiaSmiCsv(fixture('nvidia-smi-h100-load.csv'))).toEqual<GpuReading[]>([
      {
        ...realH100,
        utilizationPct: 100,
        memoryUsedBytes: 21619 * MiB,
        memoryTotalBytes: 81559 * MiB,
        powerWatts: 697.71,
        powerLimitWatts: 700,
      },
    ]);
  });

  it('refuses the real output of the same query with a header and units, instead of misreading it', () => {
    // What a changed invocation (no `noheader,nounits`) prints; it must fail loudly, not turn into zeros.
    expect(() => parseNvidiaSmiCsv(fixture('nvidia-smi-h100-with-units.csv'))).toThrow(/line 1 is malformed \(index 'index'/);
    const unitsOnly = fixture('nvidia-smi-h100-with-units.csv').split('\n')[1]!;
    expect(() => parseNvidiaSmiCsv(unitsOnly)).toThrow(/utilization.gpu '0 %' is not a number/);
  });

  it('reads eight loaded A100s in index order', () => {
    const gpus = parseNvidiaSmiCsv(fixture('nvidia-smi-a100x8-load.csv'));
    expect(gpus.map((g) => g.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(gpus.map((g) => g.name))).toEqual(new Set(['NVIDIA A100-SXM4-80GB']));
    expect(new Set(gpus.map((g) => g.uuid)).size).toBe(8);
    expect(gpus[2]).toMatchObject({ utilizationPct: 100, memoryUsedBytes: 78112 * MiB, powerWatts: 398.77 });
    for (const g of gpus) {
      expect(g.memoryTotalBytes).toBe(81920 * MiB);
      expect(g.powerLimitWatts).toBe(400);
      expect(Number.isSafeInteger(g.memoryUsedBytes)).toBe(true);
    }
  });

  it('reads [N/A] power as null', () => {
    expect(parseNvidiaSmiCsv(fixture('nvidia-smi-power-na.csv'))).toEqual([
      expect.objectContaining({ name: 'NVIDIA GeForce GTX 1650', utilizationPct: 12, powerWatts: null, powerLimitWatts: null }),
    ]);
  });
});

describe('parseNvidiaSmiCsv edge cases', () => {
  it.each<[string, string, Partial<GpuReading>[]]>([
    ['empty output', '', []],
    ['only blank lines', '\n  \r\n\n', []],
    ['CRLF and blank lines', '\r\n0, GPU-a, Tesla T4, 5, 10, 15360, 27.5, 70.00\r\n\r\n', [{ index: 0, powerWatts: 27.5 }]],
    ['extra spaces', '  3 ,  GPU-b ,  NVIDIA L4 ,  7 , 2 , 23034 , 16.1 , 72.00  ', [{ index: 3, uuid: 'GPU-b', name: 'NVIDIA L4' }]],
    ['[Not Supported] utilisation', '0, MIG-c, NVIDIA A100-SXM4-40GB, [Not Supported], 0, 40960, [N/A], [N/A]', [{ utilizationPct: null, powerWatts: null }]],
    ['a comma inside the name', '1, GPU-d, Odd, Name, 1, 2, 3, 4.5, 6', [{ name: 'Odd, Name', memoryUsedBytes: 2 * MiB, powerLimitWatts: 6 }]],
  ])('%s', (_name, text, expected) => {
    const readings = parseNvidiaSmiCsv(text);
    expect(readings).toHaveLength(expected.length);
    expected.forEach((e, i) => expect(readings[i]).toMatchObject(e));
  });

  it.each<[string, string, RegExp]>([
    ['too few fields', '0, GPU-a, NVIDIA H100', /line 1 is malformed \(expected 8 comma-separated fields, got 3\)/],
    ['a non-integer index', 'x, GPU-a, T4, 1, 2, 3, 4, 5', /index 'x' is not an integer/],
    ['memory reported as [N/A]', '0, GPU-a, T4, 1, [N/A], 3, 4, 5', /memory.used '\[N\/A\]' is not a number/],
    ['a header line', 'index, uuid, name, utilization.gpu [%], memory.used [MiB], memory.total [MiB], power.draw [W], power.limit [W]', /index 'index' is not an integer/],
    ['garbage on the second line', '0, GPU-a, T4, 1, 2, 3, 4, 5\nNVIDIA-SMI has failed', /line 2 is malformed/],
    ['a negative number', '0, GPU-a, T4, -1, 2, 3, 4, 5', /utilization.gpu '-1' is not a number/],
  ])('rejects %s', (_name, text, message) => {
    expect(() => parseNvidiaSmiCsv(text)).toThrow(message);
  });
});

describe('probeGpus', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nvidia-smi-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const script = (name: string, body: string): string => {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  };

  it('returns [] when the binary does not exist', async () => {
    await expect(probeGpus({ command: join(dir, 'no-such-nvidia-smi') })).resolves.toEqual([]);
  });

  it('parses what the binary prints', async () => {
    const command = script('fake-nvidia-smi', `cat '${fixturePath('nvidia-smi-a100x8-load.csv')}'`);
    const gpus = await probeGpus({ command });
    expect(gpus).toHaveLength(8);
    expect(gpus[7]).toMatchObject({ index: 7, utilizationPct: 76, powerWatts: 289.65 });
  });

  it('passes the documented query arguments', async () => {
    const argsFile = join(dir, 'args.txt');
    const command = script('record-args', `printf '%s\\n' "$@" > '${argsFile}'`);
    await expect(probeGpus({ command })).resolves.toEqual([]);
    expect(readFileSync(argsFile, 'utf8').trim().split('\n')).toEqual([
      '--query-gpu=index,uuid,name,utilization.gpu,memory.used,memory.total,power.draw,power.limit',
      '--format=csv,noheader,nounits',
    ]);
  });

  it('reports a driver failure with what nvidia-smi said', async () => {
    const command = script('no-driver', "echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\"; exit 9");
    await expect(probeGpus({ command })).rejects.toThrow(/nvidia-smi failed: exit code 9: NVIDIA-SMI has failed/);
  });

  it('reports a timeout', async () => {
    const command = script('hang', 'exec sleep 5');
    await expect(probeGpus({ command, timeoutMs: 100 })).rejects.toThrow(/nvidia-smi failed: timed out after 100 ms/);
  });
});
