import { setTimeout as delay } from 'node:timers/promises';
import { schedule, type Logger, type ScheduledTask } from 'node-cron';
import type { JobMetrics, JobRunOutcome, JobSkipReason } from '../telemetry/job-metrics.ts';

export interface JobSpec {
  name: string;
  /** node-cron expression (six fields: seconds first). */
  cron: string;
  run: () => Promise<unknown>;
}

export interface JobScheduler {
  /** No new runs; resolves once the runs in progress have ended, or after the grace period. */
  stop(): Promise<void>;
  /** No new runs until resume(); resolves once the runs in progress have ended (however long). */
  pause(): Promise<void>;
  resume(): Promise<void>;
}

export interface JobSchedulerOptions {
  /** How long stop() waits for runs in progress (default 5 s). A longer run is left to fail on what shutdown closes next. */
  stopGraceMs?: number;
  /** Runs, failures, durations and skipped runs per job (Prometheus). */
  metrics?: JobMetrics;
  /** Hears when runs start being skipped (once per streak) and what node-cron itself reports. */
  log?: (line: string) => void;
}

/**
 * Runs periodic jobs with node-cron. A run that is due while the job's previous run is still
 * going is skipped (never stacked on it) and counted; every job must be safe to re-run for the
 * same window, since a crash can repeat one. node-cron's own stop() only stops scheduling, so
 * stop() here also waits (bounded) for runs in progress: the caller closes the store next, and a
 * job should end, not find it closed mid-run.
 *
 * Overlap is checked here rather than with node-cron's `noOverlap`, which warns on the console
 * at every skipped slot: a job slower than its period printed a line at each one for as long as
 * it ran. Here skips are a counter and one log line per streak.
 */
export function startJobs(jobs: readonly JobSpec[], onError: (job: string, err: unknown) => void, opts: JobSchedulerOptions = {}): JobScheduler {
  const running = new Set<Promise<void>>();
  const { metrics, log } = opts;
  const tasks: ScheduledTask[] = jobs.map((job) => {
    metrics?.declare(job.name);
    let current: Promise<void> | undefined;
    let skipping = false;
    const skip = (reason: JobSkipReason) => {
      metrics?.skipped(job.name, reason);
      if (!skipping) log?.(`job ${job.name}: ${SKIP_REASONS[reason]}; skipped runs are counted in inferledger_job_skipped_runs_total`);
      skipping = true;
    };
    const task = schedule(
      job.cron,
      () => {
        if (current) return skip('overlap');
        skipping = false;
        const started = performance.now();
        const run = (async () => {
          let outcome: JobRunOutcome = 'succeeded';
          try {
            await job.run();
          } catch (err) {
            outcome = 'failed';
            onError(job.name, err);
          }
          metrics?.ran(job.name, outcome, (performance.now() - started) / 1000, Date.now());
        })();
        current = run;
        running.add(run);
        void run.then(() => {
          running.delete(run);
          current = undefined;
        });
        return run;
      },
      { name: job.name, logger: cronLogger(job.name, log) },
    );
    // A listener also keeps node-cron from printing its own warning for each missed slot.
    task.on('execution:missed', () => skip('missed'));
    return task;
  });
  const halt = () => Promise.all(tasks.map((t) => t.stop()));
  return {
    async stop() {
      await halt();
      if (running.size === 0) return;
      const grace = new AbortController();
      await Promise.race([Promise.allSettled([...running]), delay(opts.stopGraceMs ?? 5_000, undefined, { signal: grace.signal }).catch(() => undefined)]);
      grace.abort();
    },
    async pause() {
      await halt();
      await Promise.allSettled([...running]);
    },
    async resume() {
      await Promise.all(tasks.map((t) => t.start()));
    },
  };
}

const SKIP_REASONS: Record<JobSkipReason, string> = {
  overlap: 'a run is due while the previous one is still going (the job takes longer than its period)',
  missed: 'a run was missed: the event loop was blocked past its slot',
};

/** node-cron's own messages through our log (its default is the console); debug and info dropped. */
function cronLogger(job: string, log: ((line: string) => void) | undefined): Logger {
  const write = (message: string | Error, err?: Error) => log?.(`job ${job} (node-cron): ${message instanceof Error ? message.message : message}${err ? `: ${err.message}` : ''}`);
  return { info: () => {}, debug: () => {}, warn: write, error: write };
}
