import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { Spool } from '../ingest/spool.ts';
import { JournaledSpanProcessor, type SpanDestination } from './journaled-span-processor.ts';

/** A destination that records what it is given and refuses while `down`. */
function destination() {
  const delivered: string[] = [];
  const state = { down: false };
  const dest: SpanDestination<{ id: string }> = {
    table: 'test_spans',
    toRow: (span) => ({ id: span.spanContext().spanId }),
    async deliver(rows) {
      if (state.down) throw new Error('receiver down');
      delivered.push(...rows.map((r) => r.id));
    },
  };
  return { dest, delivered, state };
}

function setup(drainSpool: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'il-journaled-'));
  const { dest, delivered, state } = destination();
  const errors: unknown[] = [];
  const processor = new JournaledSpanProcessor(new Spool(dir), dest, { batchDelayMs: 600_000, maxBatchSize: 1000, drainSpool, onError: (e) => errors.push(e) });
  const tracer = new BasicTracerProvider({ spanProcessors: [processor] }).getTracer('t');
  const end = () => {
    const span = tracer.startSpan('s');
    span.end();
    return span.spanContext().spanId;
  };
  const files = () => {
    try {
      return readdirSync(join(dir, 'test_spans')).filter((f) => f.endsWith('.jsonl'));
    } catch {
      return [];
    }
  };
  return { dir, processor, delivered, state, errors, end, files, dest };
}

describe('JournaledSpanProcessor', () => {
  it('a span is in the journal file when recorded() resolves; a delivered file is deleted', async () => {
    const { processor, delivered, end, files } = setup(false);
    const ids = [end(), end()];
    await Promise.all(ids.map((id) => processor.recorded(id)));
    expect(files()).toHaveLength(1);
    expect(delivered).toEqual([]);
    await processor.flush();
    expect(delivered).toEqual(ids);
    expect(files()).toEqual([]);
  });

  it('a failed delivery keeps the file, and the drain delivers it once the destination is back', async () => {
    const { processor, delivered, state, errors, end, files } = setup(true);
    state.down = true;
    const id = end();
    await processor.recorded(id);
    await processor.flush();
    expect(files()).toHaveLength(1);
    expect(errors.length).toBeGreaterThan(0);
    state.down = false;
    await processor.flush(); // nothing new; the drain replays the kept file
    expect(delivered).toEqual([id]);
    expect(files()).toEqual([]);
  });

  it('while the destination is down, a flush (and shutdown) tries it once, not once more per leftover file', async () => {
    const { processor, state, end, dest } = setup(true);
    let attempts = 0;
    const deliver = dest.deliver.bind(dest);
    dest.deliver = (rows) => {
      attempts++;
      return deliver(rows);
    };
    state.down = true;
    for (let i = 0; i < 3; i++) {
      await processor.recorded(end());
      await processor.flush(); // each leaves a file behind
    }
    attempts = 0;
    await processor.recorded(end());
    await processor.shutdown();
    expect(attempts).toBe(1);
  });

  it('a new processor on the same spool replays what a crashed one left (drainSpool)', async () => {
    const first = setup(false);
    const id = first.end();
    await first.processor.recorded(id); // on disk, never delivered: the process "dies" here
    const { dest, delivered } = destination();
    const second = new JournaledSpanProcessor(new Spool(first.dir), dest, { batchDelayMs: 600_000, maxBatchSize: 1000, drainSpool: true });
    await second.flush();
    expect(delivered).toEqual([id]);
    expect(first.delivered).toEqual([]);
  });

  it('while a delivery hangs, flushes queue at most one more delivery, which takes every span journaled meanwhile', async () => {
    const { dest, delivered } = destination();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const batches: number[] = [];
    const slow: SpanDestination<{ id: string }> = {
      ...dest,
      async deliver(rows) {
        batches.push(rows.length);
        if (batches.length === 1) await gate; // the receiver hangs on the first export
        await dest.deliver(rows);
      },
    };
    const dir = mkdtempSync(join(tmpdir(), 'il-journaled-slow-'));
    const processor = new JournaledSpanProcessor(new Spool(dir), slow, { batchDelayMs: 600_000, maxBatchSize: 1000 });
    const tracer = new BasicTracerProvider({ spanProcessors: [processor] }).getTracer('t');
    const end = () => {
      const span = tracer.startSpan('s');
      span.end();
      return span.spanContext().spanId;
    };
    const first = end();
    await processor.recorded(first);
    const inFlight = processor.flush();
    const later: string[] = [];
    const flushes: Array<Promise<void>> = [];
    for (let i = 0; i < 20; i++) {
      const id = end();
      later.push(id);
      await processor.recorded(id);
      flushes.push(processor.flush()); // every tick while the receiver hangs
    }
    expect(new Set(flushes).size).toBe(1); // one queued flush, shared
    release();
    await Promise.all([inFlight, ...flushes]);
    // Two deliveries in all (not 21): the one in flight, and the one queued behind it.
    expect(batches).toHaveLength(2);
    expect(batches[0]! + batches[1]!).toBe(21);
    expect(delivered).toEqual([first, ...later]);
  });

  describe('deferrable spans (refusals: no answer waits for them)', () => {
    function deferring(deferMs: number) {
      const dir = mkdtempSync(join(tmpdir(), 'il-journaled-defer-'));
      const { dest, delivered } = destination();
      const processor = new JournaledSpanProcessor(new Spool(dir), dest, {
        batchDelayMs: 600_000,
        maxBatchSize: 1000,
        deferrable: (span) => span.name === 'refused',
        deferMs,
      });
      const tracer = new BasicTracerProvider({ spanProcessors: [processor] }).getTracer('t');
      const end = (name: string) => {
        const span = tracer.startSpan(name);
        span.end();
        return span.spanContext().spanId;
      };
      const journaled = (): string[] => {
        const folder = join(dir, 'test_spans');
        let names: string[] = [];
        try {
          names = readdirSync(folder).filter((f) => f.endsWith('.jsonl'));
        } catch {
          return [];
        }
        return names.flatMap((f) => readFileSync(join(folder, f), 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { id: string }).id));
      };
      return { processor, delivered, end, journaled };
    }
    const ticks = async () => {
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    };

    it('get no journal write of their own: they ride with the next awaited span', async () => {
      const { processor, end, journaled } = deferring(600_000);
      const refused = [end('refused'), end('refused')];
      await ticks();
      expect(journaled()).toEqual([]);
      const served = end('served');
      await processor.recorded(served);
      expect(journaled().sort()).toEqual([...refused, served].sort());
      await processor.shutdown();
    });

    it('are written within deferMs when no awaited span comes', async () => {
      const { processor, end, journaled } = deferring(20);
      const refused = end('refused');
      await expect.poll(journaled, { timeout: 5000 }).toEqual([refused]);
      await processor.shutdown();
    });

    it('a flush delivers those not yet written, and shutdown does too', async () => {
      const { processor, delivered, end, journaled } = deferring(600_000);
      const first = end('refused');
      await processor.flush();
      expect(delivered).toEqual([first]);
      const second = end('refused');
      await processor.shutdown();
      expect(delivered).toEqual([first, second]);
      expect(journaled()).toEqual([]);
    });
  });
});
