import { setTimeout as delay } from 'node:timers/promises';
import { schedule, type ScheduledTask } from 'node-cron';

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
}

/**
 * Runs periodic jobs with node-cron. `noOverlap` keeps a slow run from stacking on itself; every
 * job must be safe to re-run for the same window, since a crash can repeat one. node-cron's own
 * stop() only stops scheduling, so stop() here also waits (bounded) for runs in progress: the
 * caller closes the store next, and a job should end, not find it closed mid-run.
 */
export function startJobs(jobs: readonly JobSpec[], onError: (job: string, err: unknown) => void, opts: JobSchedulerOptions = {}): JobScheduler {
  const running = new Set<Promise<void>>();
  const tasks: ScheduledTask[] = jobs.map((job) =>
    schedule(
      job.cron,
      () => {
        const run = (async () => {
          try {
            await job.run();
          } catch (err) {
            onError(job.name, err);
          }
        })();
        running.add(run);
        void run.then(() => running.delete(run));
        return run;
      },
      { name: job.name, noOverlap: true },
    ),
  );
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
