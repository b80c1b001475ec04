import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpanKind } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore } from '../../test/support/store.ts';
import { Spool } from '../ingest/spool.ts';
import type { Store } from '../store/client.ts';
import { AppError } from '../errors.ts';
import { ATTR } from './attributes.ts';
import { clickHouseJournal, ClickHouseSpanProcessor } from './span-writer.ts';

/** A store whose inserts can be switched off, standing in for a ClickHouse outage. */
function flakyStore(real: Store) {
  const state = { down: false };
  const store: Store = {
    ...real,
    insert: async (table, rows) => {
      if (state.down) throw new AppError('unavailable', 'ClickHouse: connection refused');
      return real.insert(table, rows);
    },
  };
  return { store, state };
}

describe('ClickHouseSpanProcessor (chdb)', () => {
  let real: Store;
  beforeAll(async () => {
    ({ store: real } = await openTestStore());
  });
  afterAll(() => real.close());

  async function countFor(tenant: string) {
    const [row] = await real.query<{ c: string }>({ query: 'SELECT count() c FROM requests FINAL WHERE tenant_id = {t:String}', params: { t: tenant } });
    return Number(row!.c);
  }

  it('spools batches during an outage, loses none and counts none twice after replay', async () => {
    const { store, state } = flakyStore(real);
    const spool = new Spool(mkdtempSync(join(tmpdir(), 'il-spool-')));
    const errors: unknown[] = [];
    const processor = new ClickHouseSpanProcessor(store, spool, { batchDelayMs: 60_000, maxBatchSize: 1000, onError: (e) => errors.push(e) });
    const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 's' }), spanProcessors: [processor] });
    const tracer = provider.getTracer('t');
    const emit = (n: number) => {
      for (let i = 0; i < n; i++) {
        tracer
          .startSpan('inference', { kind: SpanKind.SERVER, attributes: { [ATTR.tenantId]: 'outage', [ATTR.operationName]: 'inference', [ATTR.requestModel]: 'm' } })
          .end();
      }
    };

    emit(5);
    await processor.flush();
    state.down = true;
    emit(7);
    await processor.flush();
    expect(errors).toHaveLength(1);
    expect(spool.pending()).toHaveLength(1);
    expect(await countFor('outage')).toBe(5);

    // Still down: the drain keeps the file for later.
    expect(await spool.drain((t, rows) => store.insert(t, rows))).toBe(0);
    expect(spool.pending()).toHaveLength(1);

    state.down = false;
    expect(await spool.drain((t, rows) => store.insert(t, rows))).toBe(1);
    expect(spool.pending()).toHaveLength(0);
    expect(await countFor('outage')).toBe(12);

    // A crash after the insert but before the unlink replays the batch: still 12.
    const replay = new Spool(mkdtempSync(join(tmpdir(), 'il-replay-')));
    const rows = await real.query<Record<string, unknown>>({ query: "SELECT * FROM otel_traces WHERE SpanAttributes['tenant.id'] = 'outage'" });
    replay.append('otel_traces', rows);
    await replay.drain((t, r) => store.insert(t, r));
    expect(await countFor('outage')).toBe(12);
    await provider.shutdown();
  });

  describe('with the span journal', () => {
    const span = (tracer: ReturnType<BasicTracerProvider['getTracer']>, tenant: string) => {
      const s = tracer.startSpan('inference', { kind: SpanKind.SERVER, attributes: { [ATTR.tenantId]: tenant, [ATTR.operationName]: 'inference', [ATTR.requestModel]: 'm' } });
      s.end();
      return s.spanContext().spanId;
    };
    const journalFiles = (dir: string) => {
      try {
        return readdirSync(join(dir, 'otel_traces')).filter((f) => f.endsWith('.jsonl'));
      } catch {
        return [];
      }
    };

    it('a span is on disk when recorded() resolves (one journal file per flush interval), and gone once inserted', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'il-journal-'));
      const spool = new Spool(dir);
      const processor = clickHouseJournal(real, spool, { batchDelayMs: 60_000, maxBatchSize: 1000 });
      const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 's' }), spanProcessors: [processor] });
      const tracer = provider.getTracer('t');
      const ids = [span(tracer, 'journal'), span(tracer, 'journal'), span(tracer, 'journal')];
      await Promise.all(ids.map((id) => processor.recorded(id)));
      const files = journalFiles(dir);
      expect(files).toHaveLength(1);
      expect(readFileSync(join(dir, 'otel_traces', files[0]!), 'utf8').trim().split('\n')).toHaveLength(3);
      expect(spool.pending()).toEqual([]); // held: the drain leaves it to the writer
      expect(await countFor('journal')).toBe(0);

      await processor.flush();
      expect(await countFor('journal')).toBe(3);
      expect(journalFiles(dir)).toEqual([]);
      await expect(processor.recorded('unknown-span')).resolves.toBeUndefined();
      await provider.shutdown();
    });

    it('when the insert fails the journal file goes to the drain, and the replay counts each span once', async () => {
      const { store, state } = flakyStore(real);
      const dir = mkdtempSync(join(tmpdir(), 'il-journal-down-'));
      const spool = new Spool(dir);
      const errors: unknown[] = [];
      const processor = clickHouseJournal(store, spool, { batchDelayMs: 60_000, maxBatchSize: 1000, onError: (e) => errors.push(e) });
      const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 's' }), spanProcessors: [processor] });
      const tracer = provider.getTracer('t');
      state.down = true;
      await processor.recorded(span(tracer, 'journal-down'));
      await processor.recorded(span(tracer, 'journal-down'));
      expect(spool.pending()).toHaveLength(0); // held while it is being appended to
      await processor.flush();
      expect(errors).toHaveLength(1);
      expect(spool.pending()).toHaveLength(1);
      state.down = false;
      expect(await spool.drain((t, rows) => store.insert(t, rows))).toBe(1);
      expect(await countFor('journal-down')).toBe(2);
      await provider.shutdown();
    });
  });

  it('spills to the spool at once when the in-memory buffer outgrows its bound', async () => {
    const spool = new Spool(mkdtempSync(join(tmpdir(), 'il-spill-')));
    const processor = new ClickHouseSpanProcessor(real, spool, { batchDelayMs: 60_000, maxBatchSize: 1_000_000, maxBufferedRows: 3 });
    const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 's' }), spanProcessors: [processor] });
    for (let i = 0; i < 3; i++) provider.getTracer('t').startSpan('x').end();
    expect(spool.pending()).toHaveLength(1);
    await provider.shutdown();
  });
});
