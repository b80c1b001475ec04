import { schedule, type ScheduledTask } from 'node-cron';

export interface JobSpec {
  name: string;
  /** node-cron expression (six fields: seconds first). */
  cron: string;
  run: () => Promise<unknown>;
}

export interface JobScheduler {
  stop(): Promise<void>;
}

/**
 * Runs periodic jobs with node-cron. `noOverlap` keeps a slow run from stacking on itself; every
 * job must be safe to re-run for the same window, since a crash can repeat one.
 */
export function startJobs(jobs: readonly JobSpec[], onError: (job: string, err: unknown) => void): JobScheduler {
  const tasks: ScheduledTask[] = jobs.map((job) =>
    schedule(
      job.cron,
      async () => {
        try {
          await job.run();
        } catch (err) {
          onError(job.name, err);
        }
      },
      { name: job.name, noOverlap: true },
    ),
  );
  return {
    async stop() {
      await Promise.all(tasks.map((t) => t.stop()));
    },
  };
}
