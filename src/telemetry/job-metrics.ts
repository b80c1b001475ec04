import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * Health of the scheduled jobs (rollups, spool drain, quota usage, alert evaluation, cost gauge,
 * statements): whether they run, fail, overrun their period, and when each last succeeded. A
 * rollup job that fails every run leaves usage, costs and monthly quotas behind with no other
 * sign: SREs alert on these (collectors/prometheus/rules/jobs.yml).
 *
 * The label is `job_name`, not `job`: Prometheus sets `job` on every scraped series (the scrape
 * job) and would rename ours to `exported_job`.
 */

export type JobRunOutcome = 'succeeded' | 'failed';
/** `overlap`: the previous run was still going; `missed`: the event loop was blocked past the slot. */
export type JobSkipReason = 'overlap' | 'missed';

export interface JobMetrics {
  /** A job this process schedules: its series start at 0, so increase() and alerts work at once. */
  declare(job: string): void;
  ran(job: string, outcome: JobRunOutcome, durationS: number, endedAtMs: number): void;
  skipped(job: string, reason: JobSkipReason): void;
}

/** From a spool drain (milliseconds) to a cold month's pricing at 100M requests (minutes). */
export const JOB_DURATION_BUCKETS = [0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export function registerJobMetrics(registry: Registry): JobMetrics {
  const registers = [registry];
  const runs = new Counter({
    name: 'inferledger_job_runs_total',
    help: 'Scheduled job runs that ended, by job and outcome (succeeded, failed).',
    labelNames: ['job_name', 'outcome'] as const,
    registers,
  });
  const skipped = new Counter({
    name: 'inferledger_job_skipped_runs_total',
    help: 'Scheduled job runs that did not start, by job and reason: overlap (the previous run was still going) or missed (the event loop was blocked past the slot).',
    labelNames: ['job_name', 'reason'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'inferledger_job_duration_seconds',
    help: 'Duration of scheduled job runs, failed ones included, by job.',
    labelNames: ['job_name'] as const,
    buckets: JOB_DURATION_BUCKETS,
    registers,
  });
  const lastSuccess = new Gauge({
    name: 'inferledger_job_last_success_timestamp_seconds',
    help: 'When a run of the job last succeeded (Unix seconds); absent until one has.',
    labelNames: ['job_name'] as const,
    registers,
  });
  return {
    declare(job) {
      for (const outcome of ['succeeded', 'failed'] as const) runs.inc({ job_name: job, outcome }, 0);
      for (const reason of ['overlap', 'missed'] as const) skipped.inc({ job_name: job, reason }, 0);
    },
    ran(job, outcome, durationS, endedAtMs) {
      runs.inc({ job_name: job, outcome });
      duration.observe({ job_name: job }, Math.max(0, durationS));
      if (outcome === 'succeeded') lastSuccess.set({ job_name: job }, endedAtMs / 1000);
    },
    skipped(job, reason) {
      skipped.inc({ job_name: job, reason });
    },
  };
}
