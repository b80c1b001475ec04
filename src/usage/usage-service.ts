import type { Store } from '../store/client.ts';
import type { TimeRange } from '../store/queries/time.ts';
import {
  usageByGroupQuery,
  usageGroupRow,
  usageSeriesQuery,
  usageSeriesRow,
  type UsageGroup,
} from '../store/queries/usage.ts';
import { microsToSeconds } from './units.ts';

export interface UsageTotals {
  requests: number;
  errors: number;
  rejected: number;
  cpu_seconds: number;
  gpu_seconds: number;
  input_tokens: number;
  output_tokens: number;
}

export interface UsageGroupEntry extends UsageTotals {
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
}

export interface UsageReport {
  tenant: string;
  from: string;
  to: string;
  step_seconds: number;
  totals: UsageTotals;
  by_model: Array<UsageGroupEntry & { model: string }>;
  groups?: { by: UsageGroup; entries: Array<UsageGroupEntry & { key: string }> };
  series: Array<UsageTotals & { t: string }>;
}

type AggregateRow = { requests: number; errors: number; rejected: number; cpu_us: bigint; gpu_us: bigint; input_tokens: number; output_tokens: number };

export async function readUsage(
  store: Store,
  tenantId: string,
  range: TimeRange,
  stepSeconds: number,
  groupBy?: UsageGroup,
): Promise<UsageReport> {
  const [byModel, series, groups] = await Promise.all([
    store.query({ ...usageByGroupQuery(tenantId, range, 'model'), schema: usageGroupRow }),
    store.query({ ...usageSeriesQuery(tenantId, range, stepSeconds), schema: usageSeriesRow }),
    groupBy && groupBy !== 'model'
      ? store.query({ ...usageByGroupQuery(tenantId, range, groupBy), schema: usageGroupRow })
      : Promise.resolve(undefined),
  ]);
  const toEntry = (r: (typeof byModel)[number]) => ({ ...toTotals([r]), ...toLatency(r.latency_ms) });
  const report: UsageReport = {
    tenant: tenantId,
    from: new Date(range.from).toISOString(),
    to: new Date(range.to).toISOString(),
    step_seconds: stepSeconds,
    totals: toTotals(byModel),
    by_model: byModel.map((r) => ({ model: r.key, ...toEntry(r) })),
    series: denseSeries(range, stepSeconds, series),
  };
  if (groupBy) {
    const rows = groups ?? byModel;
    report.groups = { by: groupBy, entries: rows.map((r) => ({ key: r.key, ...toEntry(r) })) };
  }
  return report;
}

/** Every bucket of the range from its start, zeros where nothing was recorded: charts need no gap-filling and line up with the cost series. */
function denseSeries(range: TimeRange, stepSeconds: number, rows: ReadonlyArray<AggregateRow & { bucket: number }>): Array<UsageTotals & { t: string }> {
  const stepMs = stepSeconds * 1000;
  const byBucket = new Map(rows.map((r) => [r.bucket, r]));
  const out: Array<UsageTotals & { t: string }> = [];
  for (let k = 0, t = range.from; t < range.to; k++, t += stepMs) {
    const row = byBucket.get(k);
    out.push({ t: new Date(t).toISOString(), ...toTotals(row ? [row] : []) });
  }
  return out;
}

/** Sums in integer microseconds first, converts once: seconds never accumulate float error. */
export function toTotals(rows: readonly AggregateRow[]): UsageTotals {
  let cpu = 0n;
  let gpu = 0n;
  const t = { requests: 0, errors: 0, rejected: 0, input_tokens: 0, output_tokens: 0 };
  for (const r of rows) {
    t.requests += r.requests;
    t.errors += r.errors;
    t.rejected += r.rejected;
    t.input_tokens += r.input_tokens;
    t.output_tokens += r.output_tokens;
    cpu += r.cpu_us;
    gpu += r.gpu_us;
  }
  return { ...t, cpu_seconds: microsToSeconds(cpu), gpu_seconds: microsToSeconds(gpu) };
}

function toLatency(q: number[]): { p50_ms: number | null; p95_ms: number | null; p99_ms: number | null } {
  const ms = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? null : Math.round(v * 1000) / 1000);
  return { p50_ms: ms(q[0]), p95_ms: ms(q[1]), p99_ms: ms(q[2]) };
}
