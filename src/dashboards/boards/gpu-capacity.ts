import type { BoardSpec } from '../board.ts';
import { downIsBad, upIsBad, type PanelSpec } from '../panels.ts';
import { anyOf, hourBucket, hourInRange } from '../sql.ts';
import { instanceVariable } from './variables.ts';

/** What the sidecars held and used: GPUs (nvidia-smi samples), CPU, memory, idle capacity. */

const INSTANCES = anyOf('instance', 'instance_id');
const SAMPLES = `$__timeFilter(window_start)
        AND ${INSTANCES}`;
const ATTRIBUTION = 'Idle capacity in money (idle_cost, unallocated_idle): GET /v1/attribution?from=…&to=… (admin).';

const gpu: PanelSpec[] = [
  {
    source: 'clickhouse',
    viz: 'timeseries',
    title: 'GPU utilisation',
    description: 'utilization.gpu per GPU as sampled from nvidia-smi each sampling window (gpu_samples FINAL). GPUs that do not report it (MIG, vGPU) have no line. Sustained low utilisation is paid-for idle.',
    unit: 'percent',
    w: 12,
    h: 8,
    min: 0,
    max: 100,
    thresholds: downIsBad(20, 50),
    sql: `
      SELECT $__timeInterval(window_start) AS time, concat(instance_id, ' gpu', toString(gpu_index)) AS gpu,
        avg(utilization_pct) AS utilization
      FROM gpu_samples FINAL
      WHERE ${SAMPLES}
      GROUP BY time, gpu
      ORDER BY time, gpu`,
    columns: ['time', 'gpu', 'utilization'],
  },
  {
    source: 'clickhouse',
    viz: 'timeseries',
    title: 'GPU memory used',
    description: 'Device memory in use per GPU (nvidia-smi memory.used), against its total.',
    unit: 'bytes',
    w: 12,
    h: 8,
    sql: `
      SELECT $__timeInterval(window_start) AS time, concat(instance_id, ' gpu', toString(gpu_index)) AS gpu,
        avg(memory_used_bytes) AS used, max(memory_total_bytes) AS total
      FROM gpu_samples FINAL
      WHERE ${SAMPLES}
      GROUP BY time, gpu
      ORDER BY time, gpu`,
    columns: ['time', 'gpu', 'used', 'total'],
  },
  {
    source: 'clickhouse',
    viz: 'timeseries',
    title: 'GPU power draw',
    description: 'Board power per GPU (nvidia-smi power.draw); GPUs that do not report it have no line.',
    unit: 'watt',
    w: 12,
    h: 8,
    sql: `
      SELECT $__timeInterval(window_start) AS time, concat(instance_id, ' gpu', toString(gpu_index)) AS gpu,
        avg(power_watts) AS power
      FROM gpu_samples FINAL
      WHERE ${SAMPLES}
      GROUP BY time, gpu
      ORDER BY time, gpu`,
    columns: ['time', 'gpu', 'power'],
  },
  {
    source: 'clickhouse',
    viz: 'stat',
    title: 'GPU time held vs busy',
    description: `GPU-seconds the instances held (capacity_hourly: GPUs × window) and GPU-seconds requests used (usage_hourly), and the idle share. ${ATTRIBUTION}`,
    unit: 's',
    w: 12,
    h: 8,
    columnUnits: { idle_share: 'percentunit' },
    thresholds: upIsBad(0.5, 0.8),
    sql: `
      SELECT held_seconds, busy_seconds,
        if(held_seconds = 0, 0, greatest(0, 1 - busy_seconds / held_seconds)) AS idle_share
      FROM (
        SELECT
          (SELECT sum(gpu_ms) / 1000 FROM capacity_hourly FINAL WHERE ${hourInRange()} AND ${INSTANCES}) AS held_seconds,
          (SELECT sum(gpu_us) / 1e6 FROM usage_hourly FINAL WHERE ${hourInRange()} AND ${INSTANCES}) AS busy_seconds
      )`,
    columns: ['held_seconds', 'busy_seconds', 'idle_share'],
  },
];

const capacity: PanelSpec[] = [
  {
    source: 'clickhouse',
    viz: 'timeseries',
    title: 'CPU cores held vs used',
    description: 'Cores of all the selected instances together, averaged over each interval: the cgroup capacity held, the process CPU used, and the part of it spent in inference (resource_samples FINAL). An instance up for half an interval counts half.',
    unit: 'short',
    w: 12,
    h: 8,
    min: 0,
    // Core-microseconds of every instance over the interval's microseconds: the fleet's total, not
    // one instance's average (found by dogfooding: two replicas of 4 cores showed 4, not 8).
    sql: `
      SELECT $__timeInterval(window_start) AS time,
        sum(cpu_capacity_millicores * window_us) / 1000 / ($__interval_s * 1e6) AS held_cores,
        sum(cpu_used_us) / ($__interval_s * 1e6) AS used_cores,
        sum(inference_cpu_us) / ($__interval_s * 1e6) AS inference_cores
      FROM (
        SELECT *, toUInt64(greatest(0, dateDiff('microsecond', window_start, ts))) AS window_us
        FROM resource_samples FINAL
        WHERE ${SAMPLES}
      )
      GROUP BY time
      ORDER BY time`,
    columns: ['time', 'held_cores', 'used_cores', 'inference_cores'],
  },
  {
    source: 'clickhouse',
    viz: 'timeseries',
    title: 'Memory limit vs resident',
    description: 'Memory limit of each instance (cgroup) against the sidecar\'s resident set size.',
    unit: 'bytes',
    w: 12,
    h: 8,
    min: 0,
    sql: `
      SELECT $__timeInterval(window_start) AS time, instance_id AS instance,
        max(memory_limit_bytes) AS limit_bytes, avg(rss_bytes) AS resident_bytes
      FROM resource_samples FINAL
      WHERE ${SAMPLES}
      GROUP BY time, instance
      ORDER BY time, instance`,
    columns: ['time', 'instance', 'limit_bytes', 'resident_bytes'],
  },
  {
    source: 'clickhouse',
    viz: 'timeseries',
    title: 'Idle share of capacity',
    description: `Per hour, the share of held capacity that did no inference: CPU (1 − inference CPU / vCPU held) and GPU (1 − GPU busy / GPU held). This is what the idle policy spreads over tenants (or leaves unallocated). ${ATTRIBUTION}`,
    unit: 'percentunit',
    w: 12,
    h: 8,
    min: 0,
    max: 1,
    thresholds: upIsBad(0.5, 0.8),
    sql: `
      SELECT c.time AS time,
        if(c.cpu_held = 0, 0, greatest(0, 1 - c.cpu_inference / c.cpu_held)) AS cpu_idle_share,
        if(c.gpu_held = 0, 0, greatest(0, 1 - u.gpu_busy / c.gpu_held)) AS gpu_idle_share
      FROM (
        SELECT ${hourBucket()} AS time, sum(cpu_millicore_ms) AS cpu_held, sum(inference_cpu_us) AS cpu_inference,
          sum(gpu_ms) * 1000 AS gpu_held
        FROM capacity_hourly FINAL
        WHERE ${hourInRange()} AND ${INSTANCES}
        GROUP BY time
      ) AS c
      LEFT JOIN (
        SELECT ${hourBucket()} AS time, sum(gpu_us) AS gpu_busy
        FROM usage_hourly FINAL
        WHERE ${hourInRange()} AND ${INSTANCES}
        GROUP BY time
      ) AS u ON u.time = c.time
      ORDER BY time`,
    columns: ['time', 'cpu_idle_share', 'gpu_idle_share'],
  },
  {
    source: 'clickhouse',
    viz: 'stat',
    title: 'Idle capacity',
    description: `vCPU-seconds held but not used by inference, and GPU-seconds held but not busy, over the range. ${ATTRIBUTION}`,
    unit: 's',
    w: 12,
    h: 8,
    sql: `
      SELECT
        greatest(0, (SELECT (toFloat64(sum(cpu_millicore_ms)) - sum(inference_cpu_us)) / 1e6 FROM capacity_hourly FINAL WHERE ${hourInRange()} AND ${INSTANCES})) AS idle_vcpu_seconds,
        greatest(0, (SELECT sum(gpu_ms) / 1000 FROM capacity_hourly FINAL WHERE ${hourInRange()} AND ${INSTANCES})
          - (SELECT sum(gpu_us) / 1e6 FROM usage_hourly FINAL WHERE ${hourInRange()} AND ${INSTANCES})) AS idle_gpu_seconds`,
    columns: ['idle_vcpu_seconds', 'idle_gpu_seconds'],
  },
  {
    source: 'clickhouse',
    viz: 'table',
    title: 'Instances',
    description: 'Each sidecar instance as last sampled in the range: host, GPUs, CPU capacity and memory limit.',
    unit: 'short',
    w: 24,
    h: 7,
    columnUnits: { memory_limit: 'bytes', last_sample: 'dateTimeAsIso' },
    sql: `
      SELECT instance_id AS instance, argMax(host, ts) AS host, argMax(service_name, ts) AS service,
        argMax(gpu_model, ts) AS gpu_model, argMax(gpu_count, ts) AS gpus,
        argMax(cpu_capacity_millicores, ts) / 1000 AS cpu_cores, argMax(memory_limit_bytes, ts) AS memory_limit,
        max(ts) AS last_sample
      FROM resource_samples FINAL
      WHERE ${SAMPLES}
      GROUP BY instance
      ORDER BY instance`,
    columns: ['instance', 'host', 'service', 'gpu_model', 'gpus', 'cpu_cores', 'memory_limit', 'last_sample'],
  },
];

export const gpuCapacity: BoardSpec = {
  key: 'capacity',
  description: 'GPU utilisation, memory and power, CPU and memory held vs used, and idle capacity per instance.',
  tags: ['capacity', 'gpu'],
  time: { from: 'now-6h', to: 'now' },
  variables: [instanceVariable],
  rows: [
    { title: 'GPUs', panels: gpu },
    { title: 'CPU, memory, idle', panels: capacity },
  ],
};
