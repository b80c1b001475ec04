import { readFileSync } from 'node:fs';
import { serve, type ServerType } from '@hono/node-server';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, waitFor, type Harness } from '../support/platform.ts';

/**
 * `sidecar.dcgm_exporter_url`: the sidecar reads its GPUs from a DCGM exporter (here a local HTTP
 * server serving a two-H100 scrape in the exporter's format) instead of nvidia-smi, and its
 * resource samples carry them: the GPU count and model that capacity pricing reads, and one
 * gpu_samples row per GPU per window.
 */

const SCRAPE = readFileSync(new URL('../../src/sidecar/resources/fixtures/dcgm-exporter-h100x2.txt', import.meta.url), 'utf8');

let exporter: ServerType;
let h: Harness;

beforeAll(async () => {
  const port = await new Promise<number>((resolve) => {
    exporter = serve({ fetch: () => new Response(SCRAPE, { headers: { 'content-type': 'text/plain; version=0.0.4' } }), hostname: '127.0.0.1', port: 0 }, (info) => resolve(info.port));
  });
  h = await startHarness({ config: { sidecar: { dcgm_exporter_url: `http://127.0.0.1:${port}/metrics`, sample_interval_s: 0.2 } } });
});

afterAll(async () => {
  await h?.close();
  await new Promise<void>((resolve) => exporter?.close(() => resolve()));
});

describe('GPUs read from a DCGM exporter', () => {
  it('resource samples carry both GPUs, and each window has a row per GPU', async () => {
    const samples = await waitFor(async () => {
      await h.platform.flushTelemetry();
      const rows = await h.platform.store.query({
        query: 'SELECT gpu_count, gpu_model FROM resource_samples FINAL WHERE gpu_count > 0 LIMIT 1',
        schema: z.object({ gpu_count: z.coerce.number(), gpu_model: z.string() }),
      });
      return rows[0];
    }, 'a resource sample with GPUs');
    expect(samples).toEqual({ gpu_count: 2, gpu_model: 'NVIDIA H100 80GB HBM3' });
    const gpus = await h.platform.store.query({
      query: `SELECT gpu_index, gpu_uuid, utilization_pct, toString(memory_used_bytes) AS used, power_watts
              FROM gpu_samples FINAL ORDER BY window_start, gpu_index LIMIT 2`,
      schema: z.object({ gpu_index: z.coerce.number(), gpu_uuid: z.string(), utilization_pct: z.number().nullable(), used: z.string(), power_watts: z.number().nullable() }),
    });
    expect(gpus).toEqual([
      { gpu_index: 0, gpu_uuid: 'GPU-2b859756-e30b-a050-bd2d-f5ca36b42966', utilization_pct: 100, used: String(21619 * 1024 * 1024), power_watts: 697.71 },
      { gpu_index: 1, gpu_uuid: 'GPU-7c41a2e0-5d3b-4f1e-8a6c-9b0d2e3f4a51', utilization_pct: 0, used: '0', power_watts: 75.779 },
    ]);
  });
});
