import { AppError } from '../errors.ts';

/**
 * Turns a detected anomaly on a per-tenant metric into what an alert shows, in the spirit of
 * AWS Cost Anomaly Detection: expected vs actual, the impact, a severity, and the root causes
 * (the model, variant or instance rows that moved most in the anomaly's direction).
 *
 * 1. impact.absolute = actual − expected; impact.percent = 100·absolute/|expected|, or null when
 *    nothing was expected (a percentage of zero is not a number worth printing).
 * 2. Severity from |percent|: < 20 low, < 50 medium, < 100 high, ≥ 100 critical. With nothing
 *    expected, any change is high: a metric appearing from zero is notable but carries no scale.
 * 3. Contributors: breakdown rows whose impact has the same sign as the total (a row moving the
 *    other way did not cause this anomaly), sorted by |impact| (then dimension, key, so the order
 *    is deterministic), top 3.
 */
export type AnomalyMetric = 'cost_per_hour' | 'requests_per_hour' | 'error_rate' | 'p95_latency' | 'gpu_seconds';
export type ContributorDimension = 'model' | 'variant' | 'instance';
export type Severity = 'low' | 'medium' | 'high' | 'critical';

export interface BreakdownRow {
  dimension: ContributorDimension;
  key: string;
  expected: number;
  actual: number;
}

export interface AnomalyInput {
  metric: AnomalyMetric;
  expected: number;
  actual: number;
  breakdown?: readonly BreakdownRow[];
}

export interface Contributor extends BreakdownRow {
  impact: number;
}

export interface AnomalyDescription {
  metric: AnomalyMetric;
  expected: number;
  actual: number;
  impact: { absolute: number; percent: number | null };
  severity: Severity;
  topContributors: Contributor[];
}

const TOP_CONTRIBUTORS = 3;
const SEVERITY_STEPS: ReadonlyArray<readonly [number, Severity]> = [
  [20, 'low'],
  [50, 'medium'],
  [100, 'high'],
];

export function describeAnomaly(input: AnomalyInput): AnomalyDescription {
  requireFinite(input.metric, input.expected, input.actual);
  const absolute = input.actual - input.expected;
  const percent = input.expected === 0 ? null : (100 * absolute) / Math.abs(input.expected);
  return {
    metric: input.metric,
    expected: input.expected,
    actual: input.actual,
    impact: { absolute, percent },
    severity: severityOf(absolute, percent),
    topContributors: topContributors(input.breakdown ?? [], Math.sign(absolute)),
  };
}

export function severityOf(absolute: number, percent: number | null): Severity {
  if (percent === null) return absolute === 0 ? 'low' : 'high';
  const size = Math.abs(percent);
  for (const [limit, severity] of SEVERITY_STEPS) if (size < limit) return severity;
  return 'critical';
}

function topContributors(rows: readonly BreakdownRow[], direction: number): Contributor[] {
  return rows
    .map((row) => {
      requireFinite(`${row.dimension} ${row.key}`, row.expected, row.actual);
      return { ...row, impact: row.actual - row.expected };
    })
    .filter((c) => c.impact !== 0 && (direction === 0 || Math.sign(c.impact) === direction))
    .sort((a, b) => Math.abs(b.impact) - Math.abs(a.impact) || a.dimension.localeCompare(b.dimension) || a.key.localeCompare(b.key))
    .slice(0, TOP_CONTRIBUTORS);
}

function requireFinite(what: string, expected: number, actual: number): void {
  if (!Number.isFinite(expected) || !Number.isFinite(actual)) {
    throw new AppError('invalid', `${what}: expected and actual must be finite numbers (got ${expected}, ${actual})`);
  }
}
