import { Counter, type Registry } from 'prom-client';
import type { DaySource } from '../attribution/cost-service.ts';
import type { KeptDayProblem } from '../attribution/persisted-days.ts';

/**
 * How month-scale cost work is served (README "Attribution at scale"): every past UTC day an
 * attribution or anomaly scan needs comes from this process's memory, from `attribution_days`
 * in ClickHouse (priced earlier, or by another replica), or is priced from the rollups now. A
 * steady stream of `priced` days on a quiet fleet, or any problem, means the kept days are not
 * doing their job and every restart prices whole months again.
 */

export interface KeptDaysMetrics {
  days(kind: string, source: DaySource, count: number): void;
  problem(kind: string, problem: KeptDayProblem): void;
}

/** The kinds the API keeps (persisted-days.ts); their series start at 0. */
export const KEPT_DAY_KINDS = ['attribution', 'anomaly-costs'] as const;

export function registerKeptDaysMetrics(registry: Registry): KeptDaysMetrics {
  const registers = [registry];
  const days = new Counter({
    name: 'inferledger_attribution_day_lookups_total',
    help: 'Past UTC days that cost computations needed, by kind (attribution, anomaly-costs) and source: memory (this process), stored (attribution_days in ClickHouse) or priced (from the rollups, now).',
    labelNames: ['kind', 'source'] as const,
    registers,
  });
  const problems = new Counter({
    name: 'inferledger_attribution_day_problems_total',
    help: 'Kept days that could not be used, by kind and problem: read_failed (attribution_days unreadable), unreadable (a stored day that does not decode) or write_failed. The days are priced from the rollups instead.',
    labelNames: ['kind', 'problem'] as const,
    registers,
  });
  for (const kind of KEPT_DAY_KINDS) {
    for (const source of ['memory', 'stored', 'priced'] as const) days.inc({ kind, source }, 0);
    for (const problem of ['read_failed', 'unreadable', 'write_failed'] as const) problems.inc({ kind, problem }, 0);
  }
  return {
    days: (kind, source, count) => days.inc({ kind, source }, count),
    problem: (kind, problem) => problems.inc({ kind, problem }),
  };
}
