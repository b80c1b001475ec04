import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore } from '../../test/support/store.ts';
import type { Store } from '../store/client.ts';
import { formatClickHouseTime } from '../store/queries/time.ts';
import { refreshRollups } from './rollup.ts';

const HOUR = 3_600_000;

function sample(instance: string, startMs: number, windowMs: number, millicores: number, memory: bigint, rss: bigint, gpus = 0) {
  return {
    ts: formatClickHouseTime(startMs + windowMs),
    window_start: formatClickHouseTime(startMs),
    instance_id: instance,
    host: 'h',
    service_name: 's',
    cpu_capacity_millicores: millicores,
    memory_limit_bytes: memory.toString(),
    cpu_used_us: '1000',
    inference_cpu_us: '600',
    rss_bytes: rss.toString(),
    gpu_count: gpus,
    gpu_model: gpus ? 'NVIDIA H100 80GB HBM3' : '',
  };
}

describe('capacity rollup (chdb)', () => {
  let store: Store;
  beforeAll(async () => {
    ({ store } = await openTestStore());
  });
  afterAll(() => store.close());

  it('sums resource x time per instance and hour, once per window however often it is written', async () => {
    const hour = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    const rows = [
      sample('i-cap', hour, 10_000, 2000, 8n << 30n, 1n << 30n, 1),
      sample('i-cap', hour + 10_000, 10_000, 2000, 8n << 30n, 3n << 30n, 1),
      // Starts in the next hour: belongs to it.
      sample('i-cap', hour + HOUR, 5_000, 4000, 8n << 30n, 1n << 30n, 1),
    ];
    await store.insert('resource_samples', rows);
    await store.insert('resource_samples', rows.slice(0, 1)); // a retried window
    const result = await refreshRollups(store, { rawTtlDays: 30 });
    expect(result.capacityHours).toBe(2);

    const got = await store.query({
      query: `SELECT toUnixTimestamp(hour) * 1000 AS hour_ms, window_ms, cpu_millicore_ms, memory_byte_ms, memory_used_byte_ms, gpu_model, gpu_ms, inference_cpu_us
              FROM capacity_hourly FINAL WHERE instance_id = 'i-cap' ORDER BY hour`,
    });
    expect(got).toEqual([
      {
        hour_ms: String(hour),
        window_ms: '20000',
        cpu_millicore_ms: String(2000 * 20_000),
        memory_byte_ms: String((8n << 30n) * 20_000n),
        memory_used_byte_ms: String((1n << 30n) * 10_000n + (3n << 30n) * 10_000n),
        gpu_model: 'NVIDIA H100 80GB HBM3',
        gpu_ms: '20000',
        inference_cpu_us: '1200',
      },
      expect.objectContaining({ hour_ms: String(hour + HOUR), window_ms: '5000', cpu_millicore_ms: String(4000 * 5000) }),
    ]);
  });

  it('never recomputes an hour whose raw rows may have expired', async () => {
    const old = Math.floor(Date.now() / HOUR) * HOUR - 40 * 24 * HOUR;
    await store.insert('resource_samples', [sample('i-old', old, 10_000, 1000, 1n << 30n, 1n << 30n)]);
    await refreshRollups(store, { rawTtlDays: 30 });
    const got = await store.query({ query: "SELECT count() c FROM capacity_hourly WHERE instance_id = 'i-old'" });
    expect(got).toEqual([{ c: '0' }]);
  });
});
