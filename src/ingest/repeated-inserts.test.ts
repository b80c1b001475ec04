import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore } from '../../test/support/store.ts';
import type { Store } from '../store/client.ts';
import { groupCommit } from './group-commit.ts';
import { isMetricTable } from './otlp/metric-rows.ts';
import { createOtlpReceiver } from './otlp/receiver.ts';
import { storeOrSpool } from './row-sink.ts';
import { Spool } from './spool.ts';

/**
 * Rows without a key to collapse on (metric points, raw spans) inserted again as the same block
 * are stored once by ClickHouse itself (migration 0008; Replicated tables on a cluster): an
 * export re-sent to another API replica or after a restart and inserted on its own, where the
 * receiver's in-memory memory of exports cannot help, and a spool batch replayed although it had
 * been stored. Group commit never merges metric writes (`writeAlone`) for this reason: a repeat
 * batched with other rows would be another block (raw spans are; billing counts span ids once).
 * Runs in both layouts.
 */

const spoolDir = () => mkdtempSync(join(tmpdir(), 'il-repeat-'));
const SENDER = { role: 'ingest', tenantId: 'acme' } as const;

let store: Store;
beforeAll(async () => {
  ({ store } = await openTestStore());
});
afterAll(() => store?.close());

const count = async (table: string, service: string) =>
  Number((await store.query<{ n: string }>({ query: `SELECT count() AS n FROM ${table} WHERE ServiceName = {s:String}`, params: { s: service } }))[0]!.n);

function metricsExport(service: string, value: number) {
  const point = (t: number) => ({ timeUnixNano: `${1_764_000_000 + t}000000000`, asDouble: value + t });
  return Buffer.from(
    JSON.stringify({
      resourceMetrics: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
          scopeMetrics: [{ metrics: [{ name: 'queue_depth', gauge: { dataPoints: [point(0), point(60), point(120)] } }] }],
        },
      ],
    }),
  );
}

function traceExport(service: string, spanId: string) {
  return Buffer.from(
    JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
          scopeSpans: [{ spans: [{ traceId: '5b8efff798038103d269b633813fc60c', spanId, name: 'op', kind: 2, startTimeUnixNano: '1764000000000000000', endTimeUnixNano: '1764000000500000000' }] }],
        },
      ],
    }),
  );
}


describe('a repeated insert is stored once (chdb)', () => {
  // First in the file: the tables have taken no insert since they were migrated. A repeat of a
  // table's very first insert used to be stored twice (sparse serialization, migration 0011).
  it("a freshly migrated table's first insert, repeated, is stored once (metric points and raw spans)", async () => {
    const receivers = [0, 1].map(() => createOtlpReceiver({ sink: storeOrSpool(store, new Spool(spoolDir())) }));
    for (const r of receivers) {
      await r.exportMetrics(SENDER, 'json', metricsExport('first', 1));
      await r.exportTraces(SENDER, 'json', traceExport('first', 'aaaaaaaaaaaaaaaa'));
    }
    expect(await count('otel_metrics_gauge', 'first')).toBe(3);
    expect(await count('otel_traces', 'first')).toBe(1);
  });

  it('metric points: the same export to two API replicas (each with its own memory of exports), each inserted on its own', async () => {
    const replicas = [0, 1].map(() => createOtlpReceiver({ sink: storeOrSpool(store, new Spool(spoolDir())) }));
    for (const replica of replicas) expect(await replica.exportMetrics(SENDER, 'json', metricsExport('replicas', 1))).toMatchObject({ accepted: 3 });
    expect(await count('otel_metrics_gauge', 'replicas')).toBe(3);
    // New points are new rows, including a batch that repeats some of the earlier ones.
    await replicas[0]!.exportMetrics(SENDER, 'json', metricsExport('replicas', 2));
    expect(await count('otel_metrics_gauge', 'replicas')).toBe(6);
  });

  it('metric points: a repeat that arrives while the table is busy is still its own insert, so it is stored once', async () => {
    const replica = (writeAlone?: (table: string) => boolean) =>
      createOtlpReceiver({ sink: groupCommit(storeOrSpool(store, new Spool(spoolDir())), { maxBatchRows: 50_000, maxPendingRows: 100_000, writeAlone }) });
    // An insert in flight, then the repeat and another export queued behind it together.
    const busy = (r: ReturnType<typeof replica>, service: string) =>
      Promise.all([r.exportMetrics(SENDER, 'json', metricsExport(`${service}-first`, 1)), r.exportMetrics(SENDER, 'json', metricsExport(service, 1)), r.exportMetrics(SENDER, 'json', metricsExport(`${service}-other`, 1))]);
    await replica(isMetricTable).exportMetrics(SENDER, 'json', metricsExport('grouped', 1));
    await busy(replica(isMetricTable), 'grouped');
    expect(await count('otel_metrics_gauge', 'grouped')).toBe(3);
    expect(await count('otel_metrics_gauge', 'grouped-other')).toBe(3);
    // What writeAlone prevents: merged with the other export, the repeat is another block.
    await replica().exportMetrics(SENDER, 'json', metricsExport('merged', 1));
    await busy(replica(), 'merged');
    expect(await count('otel_metrics_gauge', 'merged')).toBe(6);
  });

  it('raw spans: the same export after a restart (a fresh receiver) adds no otel_traces row', async () => {
    await createOtlpReceiver({ sink: storeOrSpool(store, new Spool(spoolDir())) }).exportTraces(SENDER, 'json', traceExport('restart', 'eee19b7ec3c1b174'));
    await createOtlpReceiver({ sink: storeOrSpool(store, new Spool(spoolDir())) }).exportTraces(SENDER, 'json', traceExport('restart', 'eee19b7ec3c1b174'));
    expect(await count('otel_traces', 'restart')).toBe(1);
    await createOtlpReceiver({ sink: storeOrSpool(store, new Spool(spoolDir())) }).exportTraces(SENDER, 'json', traceExport('restart', 'eee19b7ec3c1b175'));
    expect(await count('otel_traces', 'restart')).toBe(2);
  });

  it('a spooled batch replayed although it was stored (an insert that timed out after it was written, or a crash before the file was deleted)', async () => {
    const spool = new Spool(spoolDir());
    const rows: object[] = [];
    const sink = { write: async (table: string, batch: readonly object[]) => void rows.push(...batch.map((r) => ({ table, r }))) };
    await createOtlpReceiver({ sink }).exportMetrics(SENDER, 'json', metricsExport('replay', 5));
    const gauge = rows.filter((x) => (x as { table: string }).table === 'otel_metrics_gauge').map((x) => (x as { r: object }).r);
    await store.insert('otel_metrics_gauge', gauge); // stored...
    spool.append('otel_metrics_gauge', gauge); // ...and still in the spool when the process died
    expect(await spool.drain((table, batch) => store.insert(table, batch))).toBe(1);
    expect(await count('otel_metrics_gauge', 'replay')).toBe(3);
  });
});
