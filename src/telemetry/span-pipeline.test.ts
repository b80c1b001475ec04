import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestStore } from '../../test/support/store.ts';
import { refreshRollups } from '../jobs/rollup.ts';
import type { Store } from '../store/client.ts';
import { readUsage } from '../usage/usage-service.ts';
import { ATTR, INFERENCE_SPAN_NAME } from './attributes.ts';
import { formatHrTime, spanToRow, type OtelTraceRow } from './span-rows.ts';

/** Real SDK spans -> rows -> otel_traces -> requests_mv -> requests / usage_hourly on chdb. */
function makeSpans(tenant: string, n: number, opts: { error?: boolean; rejected?: boolean; model?: string; inputTokens?: number } = {}): OtelTraceRow[] {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'sidecar-test', 'service.instance.id': 'i-1', 'host.name': 'h' }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('test');
  for (let i = 0; i < n; i++) {
    const span = tracer.startSpan(INFERENCE_SPAN_NAME, {
      kind: SpanKind.SERVER,
      attributes: {
        [ATTR.tenantId]: tenant,
        [ATTR.operationName]: 'inference',
        [ATTR.requestModel]: opts.model ?? 'classifier-small',
        [ATTR.cpuSeconds]: opts.rejected ? 0 : 0.001234,
        [ATTR.batchSize]: 2,
        ...(opts.inputTokens === undefined ? {} : { [ATTR.inputTokens]: opts.inputTokens }),
        ...(opts.rejected ? { [ATTR.rejected]: true } : {}),
      },
    });
    if (opts.error) span.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
    span.end();
  }
  return exporter.getFinishedSpans().map(spanToRow);
}

describe('span rows', () => {
  it('formats timestamps with nanoseconds in UTC', () => {
    expect(formatHrTime([1_700_000_000, 5])).toBe('2023-11-14T22:13:20.000000005Z');
  });

  it('uses the collector exporter spellings', () => {
    const [row] = makeSpans('t-format', 1, { error: true });
    expect(row).toMatchObject({ SpanKind: 'Server', StatusCode: 'Error', StatusMessage: 'boom', ServiceName: 'sidecar-test' });
    expect(row!.SpanAttributes[ATTR.cpuSeconds]).toBe('0.001234');
  });
});

describe('no double counting (chdb)', () => {
  let store: Store;
  beforeAll(async () => {
    ({ store } = await openTestStore());
  });
  afterAll(() => store.close());

  it('counts a span delivered twice once, in requests, usage and the hourly rollup', async () => {
    const rows = makeSpans('t-dedupe', 3);
    await store.insert('otel_traces', rows);
    await store.insert('otel_traces', rows); // a retry or spool replay
    await store.insert('otel_traces', [rows[0]!]);

    const raw = await store.query<{ c: string }>({ query: "SELECT count() c FROM requests WHERE tenant_id = 't-dedupe'" });
    expect(Number(raw[0]!.c)).toBeGreaterThan(3); // the duplicates really are stored

    const range = { from: Date.now() - 3_600_000, to: Date.now() + 60_000 };
    const usage = await readUsage(store, 't-dedupe', range, 3600);
    expect(usage.totals.requests).toBe(3);
    expect(usage.totals.cpu_seconds).toBeCloseTo(3 * 0.001234, 9);
    expect(usage.by_model).toEqual([expect.objectContaining({ model: 'classifier-small', requests: 3 })]);

    await refreshRollups(store, { rawTtlDays: 3650 });
    const rollupSum = async () =>
      store.query<{ requests: string; cpu_us: string }>({
        query: "SELECT sum(requests) requests, sum(cpu_us) cpu_us FROM usage_hourly FINAL WHERE tenant_id = 't-dedupe'",
      });
    expect(await rollupSum()).toEqual([{ requests: '3', cpu_us: String(3 * 1234) }]);

    // Late duplicate after the rollup ran, then the job runs again (twice: re-runs are safe).
    await store.insert('otel_traces', rows);
    await refreshRollups(store, { rawTtlDays: 3650 });
    await refreshRollups(store, { rawTtlDays: 3650 });
    expect(await rollupSum()).toEqual([{ requests: '3', cpu_us: String(3 * 1234) }]);
  });

  it('keeps errors and tenants apart', async () => {
    await store.insert('otel_traces', [...makeSpans('t-err', 2, { error: true }), ...makeSpans('t-ok', 1)]);
    const range = { from: Date.now() - 3_600_000, to: Date.now() + 60_000 };
    const err = await readUsage(store, 't-err', range, 60);
    expect(err.totals).toMatchObject({ requests: 2, errors: 2 });
    const ok = await readUsage(store, 't-ok', range, 60);
    expect(ok.totals).toMatchObject({ requests: 1, errors: 0 });
  });

  it('series: one entry per step from `from` (not from the epoch), zeros included, adding up to the totals', async () => {
    await store.insert('otel_traces', makeSpans('t-series', 4));
    const from = Date.now() - 3_600_000 - 17_123; // deliberately off any step grid
    const to = Date.now() + 60_000;
    const usage = await readUsage(store, 't-series', { from, to }, 600);
    expect(usage.series.map((p) => Date.parse(p.t))).toEqual(Array.from({ length: Math.ceil((to - from) / 600_000) }, (_, k) => from + k * 600_000));
    expect(usage.series.reduce((n, p) => n + p.requests, 0)).toBe(4);
    expect(usage.series.filter((p) => p.requests > 0)).toHaveLength(1);
  });

  it('a span as vLLM emits it (no gen_ai.operation.name, response model, prompt/completion tokens) is a request', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'vllm', 'tenant.id': 't-vllm' }),
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const span = provider.getTracer('vllm.tracing').startSpan('llm_request', {
      kind: SpanKind.SERVER,
      attributes: {
        'tenant.id': 't-vllm',
        'gen_ai.response.model': 'meta-llama/Llama-3.1-8B-Instruct',
        'gen_ai.request.id': 'cmpl-1',
        'gen_ai.usage.prompt_tokens': 700,
        'gen_ai.usage.completion_tokens': 200,
        'gen_ai.latency.time_in_queue': 0.01,
      },
    });
    span.end();
    await store.insert('otel_traces', exporter.getFinishedSpans().map(spanToRow));
    const usage = await readUsage(store, 't-vllm', { from: Date.now() - 3_600_000, to: Date.now() + 60_000 }, 3600);
    expect(usage.totals).toMatchObject({ requests: 1, input_tokens: 700, output_tokens: 200 });
    expect(usage.by_model).toEqual([expect.objectContaining({ model: 'meta-llama/Llama-3.1-8B-Instruct', requests: 1 })]);
  });

  it("never counts a refused request's tokens, and reads a model that only refused requests reached", async () => {
    // Refused spans from an emitter that still carries gen_ai.usage.* (our sidecar no longer does).
    await store.insert('otel_traces', [
      ...makeSpans('t-refused', 2, { model: 'tok', inputTokens: 64 }),
      ...makeSpans('t-refused', 3, { model: 'tok', inputTokens: 1000, rejected: true }),
      ...makeSpans('t-refused', 1, { model: 'never-served', inputTokens: 1000, rejected: true }),
    ]);
    const range = { from: Date.now() - 3_600_000, to: Date.now() + 60_000 };
    const usage = await readUsage(store, 't-refused', range, 60, 'instance');
    expect(usage.totals).toMatchObject({ requests: 2, rejected: 4, input_tokens: 128 });
    expect(usage.series.reduce((sum, p) => sum + p.input_tokens, 0)).toBe(128);
    expect(usage.by_model).toEqual([
      expect.objectContaining({ model: 'never-served', requests: 0, input_tokens: 0, p50_ms: null, p95_ms: null, p99_ms: null }),
      expect.objectContaining({ model: 'tok', requests: 2, input_tokens: 128 }),
    ]);
    expect(usage.groups?.entries).toEqual([expect.objectContaining({ key: 'i-1', requests: 2, input_tokens: 128 })]);

    await refreshRollups(store, { rawTtlDays: 3650 });
    const rolled = await store.query<{ input_tokens: string; rejected: string }>({
      query: "SELECT sum(input_tokens) input_tokens, sum(rejected) rejected FROM usage_hourly FINAL WHERE tenant_id = 't-refused'",
    });
    expect(rolled).toEqual([{ input_tokens: '128', rejected: '4' }]);
  });
});
