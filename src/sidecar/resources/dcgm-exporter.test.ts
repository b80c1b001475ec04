import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDcgmExporterText, probeDcgmExporter } from './dcgm-exporter.ts';
import { parseNvidiaSmiCsv } from './nvidia-smi.ts';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const MIB = 1024 * 1024;

describe('DCGM exporter readings', () => {
  it('reads each GPU of a default-collector scrape, as nvidia-smi reads the same GPU', () => {
    const gpus = parseDcgmExporterText(fixture('dcgm-exporter-h100x2.txt'));
    expect(gpus).toEqual([
      { index: 0, uuid: 'GPU-2b859756-e30b-a050-bd2d-f5ca36b42966', name: 'NVIDIA H100 80GB HBM3', utilizationPct: 100, memoryUsedBytes: 21619 * MIB, memoryTotalBytes: 81559 * MIB, powerWatts: 697.71, powerLimitWatts: null },
      { index: 1, uuid: 'GPU-7c41a2e0-5d3b-4f1e-8a6c-9b0d2e3f4a51', name: 'NVIDIA H100 80GB HBM3', utilizationPct: 0, memoryUsedBytes: 0, memoryTotalBytes: 81559 * MIB, powerWatts: 75.779, powerLimitWatts: null },
    ]);
    // The same H100 under the same load, captured with nvidia-smi: one reading, field for field.
    const [smi] = parseNvidiaSmiCsv(fixture('nvidia-smi-h100-load.csv'));
    expect({ ...gpus[0], powerLimitWatts: smi!.powerLimitWatts }).toEqual(smi);
  });

  it('a MIG GPU: memory summed over its instances, no utilisation', () => {
    expect(parseDcgmExporterText(fixture('dcgm-exporter-h100-mig.txt'))).toEqual([
      { index: 0, uuid: 'GPU-2b859756-e30b-a050-bd2d-f5ca36b42966', name: 'NVIDIA H100 80GB HBM3', utilizationPct: null, memoryUsedBytes: 15000 * MIB, memoryTotalBytes: 80000 * MIB, powerWatts: 310.5, powerLimitWatts: null },
    ]);
  });

  it('takes FB_TOTAL and the power limit when the collectors include them; an old exporter without modelName gives ""', () => {
    const text = ['DCGM_FI_DEV_FB_USED{gpu="3",UUID="GPU-x"} 100', 'DCGM_FI_DEV_FB_TOTAL{gpu="3",UUID="GPU-x"} 40960', 'DCGM_FI_DEV_POWER_MGMT_LIMIT{gpu="3",UUID="GPU-x"} 400'].join('\n');
    expect(parseDcgmExporterText(text)).toEqual([{ index: 3, uuid: 'GPU-x', name: '', utilizationPct: null, memoryUsedBytes: 100 * MIB, memoryTotalBytes: 40960 * MIB, powerWatts: null, powerLimitWatts: 400 }]);
  });

  it('a scrape without GPU fields is no GPUs', () => {
    expect(parseDcgmExporterText('# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 12\n')).toEqual([]);
  });

  it.each<[string, string, RegExp]>([
    ['a GPU without its memory', 'DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-x"} 5', /GPU 0 \(GPU-x\) lacks its memory/],
    ['a series without a gpu label', 'DCGM_FI_DEV_FB_USED{UUID="GPU-x"} 5', /without a numeric gpu label/],
    ['a GPU without a UUID', 'DCGM_FI_DEV_FB_USED{gpu="0"} 5\nDCGM_FI_DEV_FB_FREE{gpu="0"} 5', /GPU 0 has no UUID/],
  ])('refuses %s (a changed format must fail loudly, not read as zeros)', (_name, text, message) => {
    expect(() => parseDcgmExporterText(text)).toThrow(message);
  });

  it('probe: scrapes the URL; a failed or refused scrape is an error naming the exporter', async () => {
    const ok = (async () => new Response(fixture('dcgm-exporter-h100x2.txt'))) as unknown as typeof fetch;
    expect(await probeDcgmExporter({ url: 'http://localhost:9400/metrics', fetch: ok })).toHaveLength(2);
    const refused = (async () => new Response('no', { status: 503 })) as unknown as typeof fetch;
    await expect(probeDcgmExporter({ url: 'http://localhost:9400/metrics', fetch: refused })).rejects.toThrow(/DCGM exporter http:\/\/localhost:9400\/metrics answered 503/);
    const down = (async () => {
      throw new TypeError('fetch failed');
    }) as unknown as typeof fetch;
    await expect(probeDcgmExporter({ url: 'http://localhost:9400/metrics', fetch: down })).rejects.toThrow(/unreachable: fetch failed/);
  });
});
