import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { registerJobMetrics } from '../telemetry/job-metrics.ts';
import { startJobs } from './scheduler.ts';

/** Order of events, not durations: node-cron fires every second here, so each test waits for about one tick. */
describe('startJobs: stop, pause and resume', () => {
  it('waits for a run in progress to end before it resolves (the caller closes the store next)', async () => {
    const events: string[] = [];
    let release!: () => void;
    let started!: () => void;
    const runStarted = new Promise<void>((r) => (started = r));
    const scheduler = startJobs(
      [{ name: 'slow', cron: '* * * * * *', run: () => (events.push('run started'), started(), new Promise<void>((r) => (release = () => (events.push('run ended'), r())))) }],
      () => {},
    );
    await runStarted;
    const stopped = scheduler.stop().then(() => events.push('stopped'));
    await new Promise((r) => setImmediate(r));
    expect(events).toEqual(['run started']);
    release();
    await stopped;
    expect(events).toEqual(['run started', 'run ended', 'stopped']);
  });

  it('gives up waiting after the grace period, so a run that never ends cannot hold shutdown', async () => {
    let started!: () => void;
    const runStarted = new Promise<void>((r) => (started = r));
    const scheduler = startJobs([{ name: 'stuck', cron: '* * * * * *', run: () => (started(), new Promise<void>(() => {})) }], () => {}, { stopGraceMs: 10 });
    await runStarted;
    await expect(scheduler.stop()).resolves.toBeUndefined();
  });

  it('reports a failed run to onError, a synchronous throw included, and keeps scheduling', async () => {
    const errors: string[] = [];
    let failed!: () => void;
    const twoFailures = new Promise<void>((r) => (failed = r));
    const scheduler = startJobs(
      [
        {
          name: 'broken',
          cron: '* * * * * *',
          run: () => {
            throw new Error('boom');
          },
        },
      ],
      (job, err) => {
        errors.push(`${job}: ${(err as Error).message}`);
        if (errors.length === 2) failed();
      },
    );
    await twoFailures;
    await scheduler.stop();
    expect(errors.slice(0, 2)).toEqual(['broken: boom', 'broken: boom']);
  });

  it('pause() waits for the run in progress; resume() lets the jobs run again', async () => {
    const events: string[] = [];
    let release!: () => void;
    let started!: () => void;
    let runs = 0;
    let next = new Promise<void>((r) => (started = r));
    const scheduler = startJobs(
      [
        {
          name: 'job',
          cron: '* * * * * *',
          run: () => {
            runs += 1;
            events.push(`run ${runs} started`);
            started();
            return runs === 1 ? new Promise<void>((r) => (release = () => (events.push('run 1 ended'), r()))) : Promise.resolve();
          },
        },
      ],
      () => {},
    );
    await next;
    const paused = scheduler.pause().then(() => events.push('paused'));
    await new Promise((r) => setImmediate(r));
    release();
    await paused;
    expect(events).toEqual(['run 1 started', 'run 1 ended', 'paused']);
    next = new Promise<void>((r) => (started = r));
    await scheduler.resume();
    await next;
    expect(events.at(-1)).toBe('run 2 started');
    await scheduler.stop();
  });
});

describe('startJobs: job metrics', () => {
  async function sample(registry: Registry, name: string): Promise<string[]> {
    const text = await registry.metrics();
    return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  }

  it('skips a run that is due while the previous one is still going, counts it and logs the streak once', async () => {
    const registry = new Registry();
    const log: string[] = [];
    let runs = 0;
    let release!: () => void;
    let started!: () => void;
    const runStarted = new Promise<void>((r) => (started = r));
    let skippedTwice!: () => void;
    const twoSkips = new Promise<void>((r) => (skippedTwice = r));
    const metrics = registerJobMetrics(registry);
    let skips = 0;
    const counting: typeof metrics = {
      ...metrics,
      skipped(job, reason) {
        metrics.skipped(job, reason);
        if (++skips === 2) skippedTwice();
      },
    };
    const scheduler = startJobs(
      [{ name: 'slow', cron: '* * * * * *', run: () => ((runs += 1), started(), new Promise<void>((r) => (release = r))) }],
      () => {},
      { metrics: counting, log: (line) => log.push(line) },
    );
    await runStarted;
    await twoSkips;
    expect(runs).toBe(1);
    expect(await sample(registry, 'inferledger_job_skipped_runs_total')).toContain('inferledger_job_skipped_runs_total{job_name="slow",reason="overlap"} 2');
    expect(log).toEqual([expect.stringMatching(/^job slow: a run is due while the previous one is still going/)]);
    release();
    await scheduler.stop();
    expect(await sample(registry, 'inferledger_job_runs_total')).toEqual([
      'inferledger_job_runs_total{job_name="slow",outcome="succeeded"} 1',
      'inferledger_job_runs_total{job_name="slow",outcome="failed"} 0',
    ]);
    expect(await sample(registry, 'inferledger_job_duration_seconds_count')).toEqual(['inferledger_job_duration_seconds_count{job_name="slow"} 1']);
    const [lastSuccess] = await sample(registry, 'inferledger_job_last_success_timestamp_seconds');
    expect(Number(lastSuccess?.split(' ')[1])).toBeGreaterThan(Date.UTC(2020, 0, 1) / 1000);
  });

  it('counts failed runs apart from successes; a job that never succeeded has no last-success time', async () => {
    const registry = new Registry();
    let failed!: () => void;
    const twoFailures = new Promise<void>((r) => (failed = r));
    let failures = 0;
    const scheduler = startJobs(
      [
        {
          name: 'broken',
          cron: '* * * * * *',
          run: () => {
            throw new Error('boom');
          },
        },
      ],
      () => {
        if (++failures === 2) failed();
      },
      { metrics: registerJobMetrics(registry) },
    );
    await twoFailures;
    await scheduler.stop();
    const [succeeded, failedRuns] = await sample(registry, 'inferledger_job_runs_total');
    expect(succeeded).toBe('inferledger_job_runs_total{job_name="broken",outcome="succeeded"} 0');
    expect(Number(failedRuns?.split(' ')[1])).toBeGreaterThanOrEqual(2);
    expect(await sample(registry, 'inferledger_job_last_success_timestamp_seconds')).toEqual([]);
  });

  it('declares every job at start, so its counters exist at 0 before the first run', async () => {
    const registry = new Registry();
    const scheduler = startJobs([{ name: 'hourly', cron: '0 0 * * * *', run: async () => {} }], () => {}, { metrics: registerJobMetrics(registry) });
    await scheduler.stop();
    expect(await sample(registry, 'inferledger_job_skipped_runs_total')).toEqual([
      'inferledger_job_skipped_runs_total{job_name="hourly",reason="overlap"} 0',
      'inferledger_job_skipped_runs_total{job_name="hourly",reason="missed"} 0',
    ]);
  });
});
