import { describe, expect, it } from 'vitest';
import { buildResourceRows } from '../sidecar/resources/sampler.ts';
import { checkSamples, ResourceSamplesBody } from './resource-samples.ts';

const END = Date.UTC(2026, 10, 29, 8, 0, 10);
const WINDOW = { notBeforeMs: END - 86_400_000, notAfterMs: END + 86_400_000 };

/** Rows exactly as the sidecar's sampler builds them. */
function sampled() {
  const { sample, gpus } = buildResourceRows(
    {
      windowStartMs: END - 10_000,
      windowEndMs: END,
      cpu: { cpuUsedMicros: 9_000_000, inferenceCpuMicros: 6_000_000, nonInferenceCpuMicros: 3_000_000, perRequestMicros: new Map() },
      rssBytes: 2 ** 33,
      capacity: { cpuMillicores: 4000, memoryBytes: 2 ** 34 },
      gpus: [{ index: 0, uuid: 'GPU-1', name: 'NVIDIA H200', utilizationPct: 40, memoryUsedBytes: 2 ** 30, memoryTotalBytes: 2 ** 37, powerWatts: 300, powerLimitWatts: 700 }],
    },
    { instanceId: 'sidecar-1', host: 'node-1', serviceName: 'inferledger-sidecar' },
  );
  return { resource_samples: [sample], gpu_samples: gpus };
}

const parse = (body: unknown) => ResourceSamplesBody.safeParse(body);

describe('resource samples on the wire', () => {
  it("takes the sampler's own rows unchanged, and an empty body", () => {
    const body = sampled();
    const parsed = parse(body);
    expect(parsed.success).toBe(true);
    expect(parsed.data).toEqual(body);
    expect(checkSamples(parsed.data!, WINDOW)).toEqual([]);
    expect(parse({}).data).toEqual({ resource_samples: [], gpu_samples: [] });
  });

  it.each<[string, (b: ReturnType<typeof sampled>) => void]>([
    ['an unknown field', (b) => Object.assign(b.resource_samples[0]!, { tenant_id: 'acme' })],
    ['a UInt64 as a JSON number', (b) => Object.assign(b.resource_samples[0]!, { cpu_used_us: 9000000 })],
    ['a negative UInt64', (b) => Object.assign(b.resource_samples[0]!, { rss_bytes: '-1' })],
    ['a UInt64 beyond 2^64 - 1', (b) => Object.assign(b.resource_samples[0]!, { rss_bytes: '18446744073709551616' })],
    ['an ISO time instead of ClickHouse time', (b) => Object.assign(b.resource_samples[0]!, { ts: '2026-11-29T08:00:10.000Z' })],
    ['a date that does not exist', (b) => Object.assign(b.resource_samples[0]!, { window_start: '2026-02-30 00:00:00.000' })],
    ['an empty instance id', (b) => Object.assign(b.resource_samples[0]!, { instance_id: '' })],
    ['gpu_count over 255', (b) => Object.assign(b.resource_samples[0]!, { gpu_count: 256 })],
    ['utilisation over 100 %', (b) => Object.assign(b.gpu_samples[0]!, { utilization_pct: 101 })],
    ['a fractional millicore count', (b) => Object.assign(b.resource_samples[0]!, { cpu_capacity_millicores: 0.5 })],
    // Found by dogfooding: accepted, then refused by ClickHouse and stuck in the spool.
    ['a host with a lone UTF-16 surrogate', (b) => Object.assign(b.resource_samples[0]!, { host: 'h\ud800' })],
  ])('refuses %s', (_name, spoil) => {
    const body = sampled();
    spoil(body);
    expect(parse(body).success).toBe(false);
  });

  it.each<[string, (b: ReturnType<typeof sampled>) => void, RegExp]>([
    ['a window that ends before it starts', (b) => Object.assign(b.resource_samples[0]!, { window_start: '2026-11-29 08:00:11.000' }), /resource_samples\[0\]: ts is before window_start/],
    ['a window longer than a day', (b) => Object.assign(b.gpu_samples[0]!, { window_start: '2026-11-27 08:00:00.000' }), /gpu_samples\[0\]: a window of more than a day/],
    ['a time the store no longer keeps', (b) => Object.assign(b.resource_samples[0]!, { ts: '2026-11-20 00:00:00.000', window_start: '2026-11-20 00:00:00.000' }), /outside the time the store keeps/],
    ['inference CPU beyond the process CPU', (b) => Object.assign(b.resource_samples[0]!, { inference_cpu_us: '9000001' }), /inference_cpu_us exceeds cpu_used_us/],
    ['GPU memory used beyond the total', (b) => Object.assign(b.gpu_samples[0]!, { memory_used_bytes: String(2 ** 38) }), /memory_used_bytes exceeds memory_total_bytes/],
  ])('names %s', (_name, spoil, message) => {
    const body = sampled();
    spoil(body);
    const problems = checkSamples(parse(body).data!, WINDOW);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });
});
