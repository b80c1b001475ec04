import type { CpuLedger, WindowCpu } from './cpu-ledger.ts';
import type { GpuReading } from './nvidia-smi.ts';
import { formatClickHouseTime } from '../../store/queries/time.ts';

/**
 * Emits one resource row per window (plus one row per GPU), shaped like the ClickHouse
 * columns. The window boundary (clock + CPU counter + ledger close) is taken synchronously,
 * so a slow nvidia-smi or a slow sink never shifts CPU between windows; the slow parts are
 * queued so that rows still reach `onSample` in window order.
 */

export interface ResourceSample {
  ts: string;
  window_start: string;
  instance_id: string;
  host: string;
  service_name: string;
  cpu_capacity_millicores: number;
  /** UInt64 columns travel as decimal strings: JSON numbers lose precision above 2^53. */
  memory_limit_bytes: string;
  cpu_used_us: string;
  inference_cpu_us: string;
  rss_bytes: string;
  gpu_count: number;
  gpu_model: string;
}

export interface GpuSampleRow {
  ts: string;
  window_start: string;
  instance_id: string;
  gpu_index: number;
  gpu_uuid: string;
  gpu_model: string;
  utilization_pct: number | null;
  memory_used_bytes: string;
  memory_total_bytes: string;
  power_watts: number | null;
}

export interface ResourceSamplerDeps {
  intervalMs: number;
  instanceId: string;
  host: string;
  serviceName: string;
  ledger: Pick<CpuLedger, 'closeWindow'>;
  readCpuMicros: () => number;
  readRssBytes: () => number;
  readCapacity: () => { cpuMillicores: number; memoryBytes: number };
  probeGpus: () => Promise<GpuReading[]>;
  onSample: (sample: ResourceSample, gpus: GpuSampleRow[]) => void | Promise<void>;
  /** Epoch milliseconds. */
  now: () => number;
  /** Timer-driven failures and GPU probe failures land here; defaults to a process warning. */
  onError?: (err: unknown) => void;
}

export interface ResourceSampler {
  start(): void;
  /** Stops the timer, closes the final partial window, emits it, and waits for pending rows. */
  stop(): Promise<void>;
  /** Closes the current window now; resolves once its rows were handed to `onSample`. */
  sampleNow(): Promise<void>;
}


/** Everything measured at one window boundary; the input of the pure row builder. */
export interface WindowMeasurement {
  windowStartMs: number;
  windowEndMs: number;
  cpu: WindowCpu;
  rssBytes: number;
  capacity: { cpuMillicores: number; memoryBytes: number };
  gpus: readonly GpuReading[];
  /**
   * The GPUs of the last probe that worked, when this window's probe failed: the GPUs are still
   * held (capacity to price) though nothing was measured (no gpu_samples rows).
   */
  heldGpus?: readonly GpuReading[];
}

export function buildResourceRows(
  m: WindowMeasurement,
  ids: { instanceId: string; host: string; serviceName: string },
): { sample: ResourceSample; gpus: GpuSampleRow[] } {
  const ts = formatClickHouseTime(m.windowEndMs);
  const window_start = formatClickHouseTime(m.windowStartMs);
  const gpus = [...m.gpus].sort((a, b) => a.index - b.index);
  const held = m.gpus.length === 0 && m.heldGpus ? [...m.heldGpus].sort((a, b) => a.index - b.index) : gpus;
  const sample: ResourceSample = {
    ts,
    window_start,
    instance_id: ids.instanceId,
    host: ids.host,
    service_name: ids.serviceName,
    cpu_capacity_millicores: m.capacity.cpuMillicores,
    memory_limit_bytes: toUInt64(m.capacity.memoryBytes, 'memory_limit_bytes'),
    cpu_used_us: toUInt64(m.cpu.cpuUsedMicros, 'cpu_used_us'),
    inference_cpu_us: toUInt64(m.cpu.inferenceCpuMicros, 'inference_cpu_us'),
    rss_bytes: toUInt64(m.rssBytes, 'rss_bytes'),
    gpu_count: held.length,
    // A mixed box lists each model once, in index order; a uniform one reads like a single GPU.
    gpu_model: [...new Set(held.map((g) => g.name))].join(', '),
  };
  const gpuRows = gpus.map((g) => ({
    ts,
    window_start,
    instance_id: ids.instanceId,
    gpu_index: g.index,
    gpu_uuid: g.uuid,
    gpu_model: g.name,
    utilization_pct: g.utilizationPct,
    memory_used_bytes: toUInt64(g.memoryUsedBytes, 'memory_used_bytes'),
    memory_total_bytes: toUInt64(g.memoryTotalBytes, 'memory_total_bytes'),
    power_watts: g.powerWatts,
  }));
  return { sample, gpus: gpuRows };
}

function toUInt64(value: number, column: string): string {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${column} must be a non-negative number, got ${value}`);
  // BigInt keeps large values out of exponent notation (1e21 would not parse as UInt64).
  return BigInt(Math.round(value)).toString();
}

export function createResourceSampler(deps: ResourceSamplerDeps): ResourceSampler {
  const onError = deps.onError ?? warn;
  let windowStartMs = deps.now();
  let timer: ReturnType<typeof setInterval> | undefined;
  let stopped = false;
  let lastGpus: readonly GpuReading[] = [];
  // Serialises probe + emit so rows reach the sink in window order; never rejects.
  let tail: Promise<void> = Promise.resolve();

  const closeWindow = (): Promise<void> => {
    let boundary: Omit<WindowMeasurement, 'gpus'>;
    try {
      const windowEndMs = deps.now();
      const rssBytes = deps.readRssBytes();
      const capacity = deps.readCapacity();
      // Closed last: if a read above throws, the ledger window simply stays open.
      const cpu = deps.ledger.closeWindow(deps.readCpuMicros());
      boundary = { windowStartMs, windowEndMs, cpu, rssBytes, capacity };
      windowStartMs = windowEndMs;
    } catch (err) {
      return Promise.reject(err);
    }
    const emitted = tail.then(async () => {
      let failed = false;
      const gpus = await deps.probeGpus().catch((err: unknown) => {
        // GPU trouble must not cost the CPU row, nor the GPU capacity: the window keeps the GPUs
        // of the last probe that worked (priced), with no measurement rows, and the log says why.
        onError(err);
        failed = true;
        return [];
      });
      if (!failed) lastGpus = gpus;
      const rows = buildResourceRows({ ...boundary, gpus, heldGpus: failed ? lastGpus : undefined }, deps);
      await deps.onSample(rows.sample, rows.gpus);
    });
    tail = emitted.catch(() => undefined);
    return emitted;
  };

  return {
    start() {
      if (stopped) throw new Error('resource sampler: start() after stop()');
      if (timer) return;
      timer = setInterval(() => {
        closeWindow().catch(onError);
      }, deps.intervalMs);
      // Sampling alone should not keep the process alive at shutdown.
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (stopped) return tail;
      stopped = true;
      await closeWindow();
    },
    async sampleNow() {
      if (stopped) throw new Error('resource sampler: sampleNow() after stop()');
      await closeWindow();
    },
  };
}

function warn(err: unknown): void {
  process.emitWarning(err instanceof Error ? err : String(err), { code: 'INFERLEDGER_RESOURCE_SAMPLER' });
}
