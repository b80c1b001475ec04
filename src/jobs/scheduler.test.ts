import { describe, expect, it } from 'vitest';
import { startJobs } from './scheduler.ts';

/** Order of events, not durations: node-cron fires every second here, so each test waits for about one tick. */
describe('startJobs stop()', () => {
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
});
