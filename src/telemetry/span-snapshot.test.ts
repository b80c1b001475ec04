import { context, createTraceState, SpanKind, SpanStatusCode, trace, TraceFlags } from '@opentelemetry/api';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { snapshotOf, spansFromSnapshots } from './span-snapshot.ts';

/** Spans with every part the OTLP exporter serialises: parent, remote link, events, status, trace state. */
function finishedSpans() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'snap', 'service.instance.id': 'i-1', 'gpu.count': 2 }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('inferledger-sidecar', '0.1.0');
  const remote = {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
    traceState: createTraceState('vendor=a,other=b'),
  };
  const parentCtx = trace.setSpanContext(context.active(), remote);
  const parent = tracer.startSpan('inference', { kind: SpanKind.SERVER, attributes: { 'tenant.id': 'acme', 'inferledger.cpu_seconds': 0.25, tokens: 12, ok: true, tags: ['a', 'b'] } }, parentCtx);
  parent.addEvent('queued', { position: 3 });
  parent.addLink({ context: { ...remote, spanId: '00f067aa0ba902b7' }, attributes: { why: 'retry' } });
  const child = tracer.startSpan('run', {}, trace.setSpan(context.active(), parent));
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'model failed' });
  child.end();
  parent.end();
  tracer.startSpan('lone').end();
  return exporter.getFinishedSpans();
}

describe('span snapshots (the OTLP span journal)', () => {
  it('a span restored from its JSON snapshot serialises to exactly the same OTLP protobuf bytes', () => {
    const spans = finishedSpans();
    expect(spans).toHaveLength(3);
    const restored = spansFromSnapshots(JSON.parse(JSON.stringify(spans.map(snapshotOf))));
    const original = ProtobufTraceSerializer.serializeRequest(spans)!;
    const replayed = ProtobufTraceSerializer.serializeRequest(restored)!;
    expect(original.length).toBeGreaterThan(200);
    expect(Buffer.from(replayed).equals(Buffer.from(original))).toBe(true);
  });

  it('keeps what the bill needs: ids, parent, times, attributes and status', () => {
    const [child, parent] = finishedSpans();
    const [c, p] = spansFromSnapshots(JSON.parse(JSON.stringify([child!, parent!].map(snapshotOf))));
    expect(c!.spanContext().spanId).toBe(child!.spanContext().spanId);
    expect(c!.parentSpanContext?.spanId).toBe(parent!.spanContext().spanId);
    expect(c!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'model failed' });
    expect(p!.attributes).toEqual(parent!.attributes);
    expect(p!.spanContext().traceState?.serialize()).toBe('vendor=a,other=b');
    expect(p!.parentSpanContext?.isRemote).toBe(true);
    expect(p!.duration).toEqual(parent!.duration);
    expect(p!.resource.attributes).toEqual({ 'service.name': 'snap', 'service.instance.id': 'i-1', 'gpu.count': 2 });
  });
});
