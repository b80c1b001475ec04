import { describe, expect, it } from 'vitest';
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
