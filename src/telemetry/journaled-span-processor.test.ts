import { appendFileSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { parseLines, Spool, type HeldFile } from '../ingest/spool.ts';
import { JournaledSpanProcessor, SpanNotRecordedError, type SpanDestination } from './journaled-span-processor.ts';

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

  describe('when the journal cannot be written (disk full, read-only)', () => {
    const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

    /** A spool whose journal files fail as `fail` says: not at all, on open, or on an append (after tearing a line). */
    class FailingSpool extends Spool {
      fail: 'no' | 'open' | 'append' = 'no';
      override async openHeld(table: string): Promise<HeldFile> {
        if (this.fail === 'open') throw enospc();
        const held = await super.openHeld(table);
        return {
          file: held.file,
          append: async (rows) => {
            if (this.fail !== 'append') return held.append(rows);
            appendFileSync(held.file, '{"id":"torn'); // part of a line made it to disk
            throw enospc();
          },
          close: () => held.close(),
        };
      }
    }

    function failing(opts: { drainSpool?: boolean; maxBufferedRows?: number } = {}) {
      const dir = mkdtempSync(join(tmpdir(), 'il-journaled-full-'));
      const spool = new FailingSpool(dir);
      const { dest, delivered, state } = destination();
      const errors: string[] = [];
      const processor = new JournaledSpanProcessor(spool, dest, {
        batchDelayMs: 600_000,
        maxBatchSize: 1000,
        drainSpool: opts.drainSpool ?? false,
        maxBufferedRows: opts.maxBufferedRows,
        deferrable: (span) => span.name === 'refused',
        onError: (e) => errors.push((e as Error).message),
      });
      const tracer = new BasicTracerProvider({ spanProcessors: [processor] }).getTracer('t');
      const end = (name = 's') => {
        const span = tracer.startSpan(name);
        span.end();
        return span.spanContext().spanId;
      };
      const journaled = () =>
        readdirSync(join(dir, 'test_spans'))
          .filter((f) => f.endsWith('.jsonl'))
          .sort()
          .map((f) => (parseLines(readFileSync(join(dir, 'test_spans', f), 'utf8')) as Array<{ id: string }>).map((r) => r.id));
      return { spool, processor, delivered, state, errors, end, journaled };
    }

    it('recorded() resolves once the span is delivered at once instead, and says why in the log', async () => {
      const { spool, processor, delivered, errors, end } = failing();
      spool.fail = 'open';
      const id = end();
      await processor.recorded(id);
      expect(delivered).toEqual([id]); // no flush needed: delivered before the answer
      expect(errors).toEqual([expect.stringMatching(/^span journal: cannot write \(ENOSPC.*\); delivering spans at once instead until it can$/)]);
      await processor.flush();
      expect(delivered).toEqual([id]); // once
      await processor.recorded(end()); // still failing: no second line
      expect(errors).toHaveLength(1);
      spool.fail = 'no';
      await processor.recorded(end());
      expect(errors).toEqual([expect.any(String), 'span journal: writing again']);
    });

    it('when delivery fails too, recorded() rejects and the awaited span is dropped (never billed); a refusal riding with it is kept', async () => {
      const { spool, processor, delivered, state, errors, end } = failing();
      spool.fail = 'open';
      state.down = true;
      const refused = end('refused');
      const served = end();
      await expect(processor.recorded(served)).rejects.toBeInstanceOf(SpanNotRecordedError);
      expect(errors.join('\n')).toMatch(/delivery failed too \(receiver down\): 1 requests answered with an error, not recorded/);
      spool.fail = 'no';
      state.down = false;
      await processor.flush();
      expect(delivered).toEqual([refused]);
    });

    it('refusal records kept in memory while nothing takes them are bounded, oldest dropped', async () => {
      const { spool, processor, delivered, state, errors, end } = failing({ maxBufferedRows: 2 });
      spool.fail = 'open';
      state.down = true;
      const refused = [end('refused'), end('refused'), end('refused')];
      await expect(processor.recorded(end())).rejects.toBeInstanceOf(SpanNotRecordedError);
      expect(errors).toContain('span journal: dropped the 1 oldest refusal records kept in memory (neither the disk nor the destination takes them)');
      spool.fail = 'no';
      state.down = false;
      await processor.flush();
      expect(delivered).toEqual(refused.slice(1));
    });

    it('a torn append does not swallow the next rows: they go to a new file, and every span is delivered once', async () => {
      const { spool, processor, delivered, end, journaled } = failing({ drainSpool: true });
      const a = end();
      await processor.recorded(a);
      spool.fail = 'append';
      const b = end();
      await processor.recorded(b); // the append tore a line; b was delivered at once
      expect(delivered).toEqual([b]);
      spool.fail = 'no';
      const c = end();
      await processor.recorded(c);
      expect(journaled()).toEqual([[a], [c]]); // the torn file keeps a; c starts a new file
      await processor.flush();
      expect(delivered.sort()).toEqual([a, b, c].sort());
      expect(journaled()).toEqual([]);
    });
  });
});
