import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore } from '../../test/support/store.ts';
import type { Store } from '../store/client.ts';
import { isDataRefusal } from './refusal.ts';

/** The classifier against the errors the real engine gives through the product's store. */
let store: Store;
beforeAll(async () => {
  ({ store } = await openTestStore({ layout: 'single' }));
});
afterAll(() => store?.close());

const refusalOf = (table: string, rows: object[]) => store.insert(table, rows).then(() => undefined, (err: unknown) => err);

describe('isDataRefusal (chdb)', () => {
  it.each([
    ['a span after 2262 (DateTime64 overflow)', 'otel_traces', [{ Timestamp: '2554-07-21T23:34:33.709551615Z', TraceId: 't', SpanId: 's' }]],
    ['a negative count', 'usage_hourly', [{ tenant_id: 'x', hour: '2026-01-01 00:00:00', requests: -5 }]],
    ['a date that is no date', 'usage_hourly', [{ tenant_id: 'x', hour: 'yesterday-ish' }]],
    // Found by dogfooding: retried forever, holding up every later batch of its table.
    ['a string with a lone UTF-16 surrogate', 'otel_traces', [{ Timestamp: '2026-01-01T00:00:00Z', TraceId: 't', SpanId: 's', SpanName: 'm\ud800x' }]],
  ])('is true for rows the engine cannot store: %s', async (_what, table, rows) => {
    const err = await refusalOf(table, rows);
    expect(err).toBeInstanceOf(Error);
    expect(isDataRefusal(err)).toBe(true);
  });

  it('is false for what heals by itself: a table a migration has not created yet', async () => {
    const err = await refusalOf('table_from_a_future_migration', [{ a: 1 }]);
    expect(err).toBeInstanceOf(Error);
    expect(isDataRefusal(err)).toBe(false);
  });

  it('is false for errors that are not ClickHouse refusing rows', () => {
    expect(isDataRefusal(new Error('connect ECONNREFUSED 127.0.0.1:8123'))).toBe(false);
    expect(isDataRefusal('Code: 407.')).toBe(false);
    expect(isDataRefusal(new Error('wrapped', { cause: new Error('Code: 53. DB::Exception: Type mismatch') }))).toBe(true);
  });
});
