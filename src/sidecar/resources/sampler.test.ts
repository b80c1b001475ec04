import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatClickHouseTime } from '../../store/queries/time.ts';
import { CpuLedger } from './cpu-ledger.ts';
import type { GpuReading } from './nvidia-smi.ts';
import {
  buildResourceRows,
  createResourceSampler,
  type GpuSampleRow,
  type ResourceSample,
  type ResourceSamplerDeps,
} from './sampler.ts';

const T0 = Date.UTC(2025, 0, 15, 12, 0, 0, 0);
const GiB = 1024 ** 3;
const h100: GpuReading = {
  index: 0,
  uuid: 'GPU-h100',
  name: 'NVIDIA H100 80GB HBM3',
  utilizationPct: 42,
  memoryUsedBytes: 1024 * 1024 * 1024,
  memoryTotalBytes: 81559 * 1024 * 1024,
  powerWatts: 312.5,
  powerLimitWatts: 700,
};

/** A fake world: a clock and a CPU counter the test moves by hand. */
function world(overrides: Partial<ResourceSamplerDeps> = {}) {
  const state = { nowMs: T0, cpu: 5_000_000 };
  const ledger = new CpuLedger(state.cpu);
  const rows: { sample: ResourceSample; gpus: GpuSampleRow[] }[] = [];
  const errors: unknown[] = [];
  const deps: ResourceSamplerDeps = {
    intervalMs: 10_000,
    instanceId: 'inst-1',
    host: 'node-a',
    serviceName: 'inferledger-sidecar',
    ledger,
    readCpuMicros: () => state.cpu,
    readRssBytes: () => 300 * 1024 * 1024,
    readCapacity: () => ({ cpuMillicores: 1500, memoryBytes: 2 * GiB }),
    probeGpus: async () => [h100],
    onSample: (sample, gpus) => {
      rows.push({ sample, gpus });
    },
    now: () => state.nowMs,
    onError: (err) => errors.push(err),
    ...overrides,
  };
  return { state, ledger, rows, errors, sampler: createResourceSampler(deps) };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('formatClickHouseTime', () => {
  it.each<[number, string]>([
    [0, '1970-01-01 00:00:00.000'],
    [T0 + 7, '2025-01-15 12:00:00.007'],
    [1_700_000_000_123, '2023-11-14 22:13:20.123'],
    [T0 + 0.9, '2025-01-15 12:00:00.000'],
  ])('%s → %s', (ms, text) => {
    expect(formatClickHouseTime(ms)).toBe(text);
  });

  it('rejects a non-time', () => {
    expect(() => formatClickHouseTime(Number.NaN)).toThrow(/not a time/);
  });
});

describe('buildResourceRows', () => {
  it('writes UInt64 columns as exact decimal strings and lists each GPU model once', () => {
    const { sample, gpus } = buildResourceRows(
      {
        windowStartMs: T0,
        windowEndMs: T0 + 10_000,
        cpu: { cpuUsedMicros: 2 ** 53 - 1, inferenceCpuMicros: 7, nonInferenceCpuMicros: 2 ** 53 - 8, perRequestMicros: new Map() },
        rssBytes: 1e21,
        capacity: { cpuMillicores: 8000, memoryBytes: 2 ** 60 },
        gpus: [{ ...h100, index: 1, uuid: 'GPU-b', powerWatts: null }, h100],
      },
      { instanceId: 'i', host: 'h', serviceName: 's' },
    );
    expect(sample).toMatchObject({
      memory_limit_bytes: '1152921504606846976',
      cpu_used_us: '9007199254740991',
      inference_cpu_us: '7',
      rss_bytes: '1000000000000000000000',
      gpu_count: 2,
      gpu_model: 'NVIDIA H100 80GB HBM3',
    });
    expect(gpus.map((g) => [g.gpu_index, g.gpu_uuid, g.power_watts])).toEqual([
      [0, 'GPU-h100', 312.5],
      [1, 'GPU-b', null],
    ]);
  });

  it('rejects a negative counter instead of writing it', () => {
    const cpu = { cpuUsedMicros: -1, inferenceCpuMicros: 0, nonInferenceCpuMicros: -1, perRequestMicros: new Map() };
    const m = { windowStartMs: T0, windowEndMs: T0, cpu, rssBytes: 1, capacity: { cpuMillicores: 1, memoryBytes: 1 }, gpus: [] };
    expect(() => buildResourceRows(m, { instanceId: 'i', host: 'h', serviceName: 's' })).toThrow(/cpu_used_us must be a non-negative number/);
  });
});

describe('createResourceSampler', () => {
  it("emits two windows carrying the ledger's inference CPU", async () => {
    const { state, ledger, rows, sampler } = world();
    state.cpu += 1_000; // idle
    ledger.begin('req-1', 2, state.cpu);
    state.cpu += 30_000;
    state.nowMs += 10_000;
    await sampler.sampleNow();

    state.cpu += 6_000;
    ledger.end('req-1', state.cpu);
    state.cpu += 500; // idle
    state.nowMs += 10_000;
    await sampler.sampleNow();

    expect(rows.map((r) => r.sample)).toEqual<ResourceSample[]>([
      {
        ts: '2025-01-15 12:00:10.000',
        window_start: '2025-01-15 12:00:00.000',
        instance_id: 'inst-1',
        host: 'node-a',
        service_name: 'inferledger-sidecar',
        cpu_capacity_millicores: 1500,
        memory_limit_bytes: String(2 * GiB),
        cpu_used_us: '31000',
        inference_cpu_us: '30000',
        rss_bytes: String(300 * 1024 * 1024),
        gpu_count: 1,
        gpu_model: 'NVIDIA H100 80GB HBM3',
      },
      expect.objectContaining({
        ts: '2025-01-15 12:00:20.000',
        window_start: '2025-01-15 12:00:10.000',
        cpu_used_us: '6500',
        inference_cpu_us: '6000',
      }),
    ]);
    expect(rows[0]!.gpus).toEqual<GpuSampleRow[]>([
      {
        ts: '2025-01-15 12:00:10.000',
        window_start: '2025-01-15 12:00:00.000',
        instance_id: 'inst-1',
        gpu_index: 0,
        gpu_uuid: 'GPU-h100',
        gpu_model: 'NVIDIA H100 80GB HBM3',
        utilization_pct: 42,
        memory_used_bytes: String(GiB),
        memory_total_bytes: String(81559 * 1024 * 1024),
        power_watts: 312.5,
      },
    ]);
  });

  it('stop() flushes the final partial window, once', async () => {
    const { state, ledger, rows, sampler } = world();
    ledger.begin('req', 1, state.cpu);
    state.cpu += 2_500;
    state.nowMs += 3_250;
    await sampler.stop();
    await sampler.stop();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.sample).toMatchObject({ window_start: '2025-01-15 12:00:00.000', ts: '2025-01-15 12:00:03.250', inference_cpu_us: '2500' });
    await expect(sampler.sampleNow()).rejects.toThrow(/after stop/);
  });

  it('keeps the CPU row when the GPU probe fails and reports the failure', async () => {
    const failure = new Error('nvidia-smi failed: exit code 9');
    const { state, rows, errors, sampler } = world({ probeGpus: () => Promise.reject(failure) });
    state.cpu += 100;
    await sampler.sampleNow();
    expect(rows[0]!.sample).toMatchObject({ gpu_count: 0, gpu_model: '', cpu_used_us: '100' });
    expect(rows[0]!.gpus).toEqual([]);
    expect(errors).toEqual([failure]);
  });

  it('a failed probe after a good one keeps the held GPUs as capacity, with no measurement rows', async () => {
    const probes: Array<() => Promise<GpuReading[]>> = [async () => [h100], () => Promise.reject(new Error('DCGM exporter answered 503')), async () => []];
    const { state, rows, errors, sampler } = world({ probeGpus: () => probes.shift()!() });
    for (let i = 0; i < 3; i++) {
      state.cpu += 10;
      await sampler.sampleNow();
    }
    expect(rows.map((r) => [r.sample.gpu_count, r.sample.gpu_model, r.gpus.length])).toEqual([
      [1, h100.name, 1],
      [1, h100.name, 0],
      // A probe that works and finds no GPU is believed: they are gone.
      [0, '', 0],
    ]);
    expect(errors).toHaveLength(1);
  });

  it('samples on the interval with fake timers and reports sink failures without stopping', async () => {
    vi.useFakeTimers({ now: T0 });
    let calls = 0;
    const { state, rows, errors, sampler } = world({
      now: () => Date.now(),
      onSample: (sample, gpus) => {
        calls++;
        if (calls === 2) throw new Error('sink down');
        rows.push({ sample, gpus });
      },
    });
    sampler.start();
    sampler.start(); // idempotent: one timer
    for (let i = 0; i < 3; i++) {
      state.cpu += 1_000;
      await vi.advanceTimersByTimeAsync(10_000);
    }
    await sampler.stop();
    expect(calls).toBe(4);
    expect(errors).toEqual([new Error('sink down')]);
    expect(rows.map((r) => [r.sample.window_start.slice(11), r.sample.ts.slice(11), r.sample.cpu_used_us])).toEqual([
      ['12:00:00.000', '12:00:10.000', '1000'],
      ['12:00:20.000', '12:00:30.000', '1000'],
      ['12:00:30.000', '12:00:30.000', '0'],
    ]);
  });

  it('delivers rows in window order even when an earlier GPU probe is slower', async () => {
    let resolveFirst: (g: GpuReading[]) => void = () => undefined;
    const probes = [new Promise<GpuReading[]>((r) => (resolveFirst = r)), Promise.resolve([])];
    const { state, rows, sampler } = world({ probeGpus: () => probes.shift()! });
    state.cpu += 10;
    const first = sampler.sampleNow();
    state.cpu += 20;
    const second = sampler.sampleNow();
    resolveFirst([h100]);
    await Promise.all([first, second]);
    expect(rows.map((r) => [r.sample.cpu_used_us, r.sample.gpu_count])).toEqual([
      ['10', 1],
      ['20', 0],
    ]);
  });

  it('leaves the window open when a reading throws, so no CPU is lost', async () => {
    let broken = true;
    const { state, rows, errors, sampler } = world({
      readRssBytes: () => {
        if (broken) throw new Error('rss unavailable');
        return 1;
      },
    });
    vi.useFakeTimers({ now: T0 });
    sampler.start();
    state.cpu += 700;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(errors).toEqual([new Error('rss unavailable')]);
    broken = false;
    state.cpu += 300;
    await sampler.stop();
    expect(rows.map((r) => r.sample.cpu_used_us)).toEqual(['1000']);
  });
});
