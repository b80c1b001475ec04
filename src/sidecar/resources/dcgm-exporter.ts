import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { AppError } from '../../errors.ts';
import type { GpuReading } from './nvidia-smi.ts';

/**
 * GPU readings from NVIDIA's DCGM exporter (`/metrics`, Prometheus text), for hosts where the
 * sidecar cannot run `nvidia-smi` (a container without the driver tools) but a DCGM exporter
 * runs beside it, as the GPU Operator deploys one per node. The same readings as nvidia-smi's:
 *
 * | reading | DCGM field (default collectors) |
 * |---|---|
 * | utilisation % | DCGM_FI_DEV_GPU_UTIL (absent on MIG: null) |
 * | memory used / total | DCGM_FI_DEV_FB_USED, + DCGM_FI_DEV_FB_FREE (+ FB_RESERVED), or FB_TOTAL; MiB |
 * | power draw / limit | DCGM_FI_DEV_POWER_USAGE, DCGM_FI_DEV_POWER_MGMT_LIMIT (W; null when absent) |
 *
 * A GPU is a `gpu` label (its index) with its `UUID`; its model is `modelName` (exporters before
 * 2.4 have none: ""). Series of MIG instances (a `GPU_I_ID` label) add up to their GPU's memory.
 * Parsing is strict like nvidia-smi's: a scrape without one GPU's memory is an error, not zeros.
 */

const MIB = 1024 * 1024;
const FIELDS = {
  util: 'DCGM_FI_DEV_GPU_UTIL',
  used: 'DCGM_FI_DEV_FB_USED',
  free: 'DCGM_FI_DEV_FB_FREE',
  reserved: 'DCGM_FI_DEV_FB_RESERVED',
  total: 'DCGM_FI_DEV_FB_TOTAL',
  power: 'DCGM_FI_DEV_POWER_USAGE',
  powerLimit: 'DCGM_FI_DEV_POWER_MGMT_LIMIT',
} as const;
type Field = keyof typeof FIELDS;
const FIELD_OF = new Map<string, Field>(Object.entries(FIELDS).map(([k, v]) => [v, k as Field]));

interface GpuSeries {
  index: number;
  uuid: string;
  name: string;
  /** Whole-GPU values, and the sums over the GPU's MIG instances. */
  whole: Partial<Record<Field, number>>;
  mig: Partial<Record<Field, number>>;
}

export function parseDcgmExporterText(text: string): GpuReading[] {
  const gpus = new Map<number, GpuSeries>();
  // The format ends every line with \n; the parser silently drops a last line without one.
  for (const family of parsePrometheusTextFormat(text.endsWith('\n') ? text : `${text}\n`)) {
    const field = FIELD_OF.get(family.name);
    if (!field) continue;
    for (const sample of family.metrics) {
      const labels = sample.labels ?? {};
      const index = Number(labels.gpu);
      if (!/^\d+$/.test(labels.gpu ?? '')) throw malformed(`${family.name} has a series without a numeric gpu label (${JSON.stringify(labels)})`);
      const value = Number(sample.value);
      // DCGM marks a field it cannot read with a huge sentinel (e.g. 9223372036854775794) or NaN.
      if (!Number.isFinite(value) || value < 0 || value >= 9e18) continue;
      let gpu = gpus.get(index);
      if (!gpu) {
        gpu = { index, uuid: labels.UUID ?? '', name: labels.modelName ?? '', whole: {}, mig: {} };
        gpus.set(index, gpu);
      }
      if (labels.GPU_I_ID !== undefined) gpu.mig[field] = (gpu.mig[field] ?? 0) + value;
      else gpu.whole[field] = value;
    }
  }
  return [...gpus.values()].sort((a, b) => a.index - b.index).map(toReading);
}

function toReading(gpu: GpuSeries): GpuReading {
  const v = (f: Field): number | undefined => gpu.whole[f] ?? gpu.mig[f];
  const used = v('used');
  const total = v('total') ?? (used !== undefined && v('free') !== undefined ? used + v('free')! + (v('reserved') ?? 0) : undefined);
  if (!gpu.uuid) throw malformed(`GPU ${gpu.index} has no UUID label`);
  if (used === undefined || total === undefined) {
    throw malformed(`GPU ${gpu.index} (${gpu.uuid}) lacks its memory: ${FIELDS.used} and ${FIELDS.free} (or ${FIELDS.total}) are in the default collectors`);
  }
  return {
    index: gpu.index,
    uuid: gpu.uuid,
    name: gpu.name,
    // MIG instances report no whole-GPU utilisation, and a sum of per-instance ones is not one.
    utilizationPct: gpu.whole.util ?? null,
    memoryUsedBytes: Math.round(used * MIB),
    memoryTotalBytes: Math.round(total * MIB),
    powerWatts: v('power') ?? null,
    powerLimitWatts: v('powerLimit') ?? null,
  };
}

function malformed(why: string): AppError {
  return new AppError('internal', `DCGM exporter: ${why}`, { code: 'dcgm_exporter_malformed' });
}

export interface DcgmProbeOptions {
  /** The exporter's metrics URL, e.g. http://localhost:9400/metrics. */
  url: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** Scrapes the exporter once; an unreachable exporter or a non-2xx answer is an error. */
export async function probeDcgmExporter(opts: DcgmProbeOptions): Promise<GpuReading[]> {
  const doFetch = opts.fetch ?? fetch;
  let res: Response;
  try {
    res = await doFetch(opts.url, { signal: AbortSignal.timeout(opts.timeoutMs ?? 5000), headers: { accept: 'text/plain' } });
  } catch (err) {
    throw new AppError('unavailable', `DCGM exporter ${opts.url} unreachable: ${(err as Error).message}`, { code: 'dcgm_exporter_failed', cause: err });
  }
  if (!res.ok) throw new AppError('unavailable', `DCGM exporter ${opts.url} answered ${res.status}`, { code: 'dcgm_exporter_failed' });
  return parseDcgmExporterText(await res.text());
}
