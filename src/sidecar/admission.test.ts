import { describe, expect, it } from 'vitest';
import { AdmissionQueue } from './admission.ts';

describe('AdmissionQueue', () => {
  it('runs up to the limit, queues FIFO, refuses beyond the queue', async () => {
    let clock = 0;
    const q = new AdmissionQueue(2, 1, () => clock);
    const a = await q.tryAdmit()!;
    const b = await q.tryAdmit()!;
    const c = q.tryAdmit();
    expect(c).toBeDefined();
    expect(q.tryAdmit()).toBeUndefined(); // queue of 1 is full
    expect(q.inFlight).toBe(2);

    clock = 25;
    a.release();
    a.release(); // double release is ignored
    const admitted = await c!;
    expect(admitted.queueMs).toBe(25);
    expect(q.inFlight).toBe(2);
    b.release();
    admitted.release();
    expect(q.inFlight).toBe(0);
    expect(q.queued).toBe(0);
  });
});
