import { createTraceState, type Attributes, type HrTime, type SpanKind, type SpanStatus } from '@opentelemetry/api';
import { hrTimeDuration } from '@opentelemetry/core';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';

/**
 * A finished span as plain JSON, for the OTLP span journal: everything the OTLP exporter
 * serialises (ids, times, attributes, events, links, status, dropped counts, scope and resource),
 * so that a span replayed after a crash is exported exactly as it would have been live.
 */
export interface SpanSnapshot {
  traceId: string;
  spanId: string;
  traceFlags: number;
  traceState?: string;
  parentSpanId?: string;
  parentIsRemote?: boolean;
  name: string;
  kind: SpanKind;
  startTime: HrTime;
  endTime: HrTime;
  status: SpanStatus;
  attributes: Attributes;
  events: TimedEvent[];
  links: Array<{ traceId: string; spanId: string; traceFlags: number; traceState?: string; isRemote?: boolean; attributes?: Attributes; droppedAttributesCount?: number }>;
  dropped: { attributes: number; events: number; links: number };
  scope: { name: string; version?: string; schemaUrl?: string };
  resource: { attributes: Attributes; schemaUrl?: string };
}

export function snapshotOf(span: ReadableSpan): SpanSnapshot {
  const ctx = span.spanContext();
  return {
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    traceFlags: ctx.traceFlags,
    ...(ctx.traceState ? { traceState: ctx.traceState.serialize() } : {}),
    ...(span.parentSpanContext ? { parentSpanId: span.parentSpanContext.spanId, parentIsRemote: span.parentSpanContext.isRemote ?? false } : {}),
    name: span.name,
    kind: span.kind,
    startTime: span.startTime,
    endTime: span.endTime,
    status: span.status,
    attributes: span.attributes,
    events: span.events,
    links: span.links.map((l) => ({
      traceId: l.context.traceId,
      spanId: l.context.spanId,
      traceFlags: l.context.traceFlags,
      ...(l.context.traceState ? { traceState: l.context.traceState.serialize() } : {}),
      ...(l.context.isRemote !== undefined ? { isRemote: l.context.isRemote } : {}),
      ...(l.attributes ? { attributes: l.attributes } : {}),
      ...(l.droppedAttributesCount !== undefined ? { droppedAttributesCount: l.droppedAttributesCount } : {}),
    })),
    dropped: { attributes: span.droppedAttributesCount, events: span.droppedEventsCount, links: span.droppedLinksCount },
    scope: { name: span.instrumentationScope.name, version: span.instrumentationScope.version, schemaUrl: span.instrumentationScope.schemaUrl },
    resource: { attributes: span.resource.attributes, ...(span.resource.schemaUrl ? { schemaUrl: span.resource.schemaUrl } : {}) },
  };
}

/**
 * Finished spans again, for an exporter. Spans with the same resource (or scope) share one
 * object: the OTLP serialiser groups spans by object identity, one group per resource and scope,
 * as the SDK's own spans are.
 */
export function spansFromSnapshots(snapshots: readonly SpanSnapshot[]): ReadableSpan[] {
  const resourceOf = sharedBy((r: SpanSnapshot['resource']): Resource => resourceFromAttributes(r.attributes, r.schemaUrl ? { schemaUrl: r.schemaUrl } : undefined));
  const scopeOf = sharedBy((scope: SpanSnapshot['scope']) => scope);
  return snapshots.map((s) => {
    const traceState = s.traceState === undefined ? undefined : createTraceState(s.traceState);
    return {
      name: s.name,
      kind: s.kind,
      spanContext: () => ({ traceId: s.traceId, spanId: s.spanId, traceFlags: s.traceFlags, ...(traceState ? { traceState } : {}) }),
      ...(s.parentSpanId !== undefined
        ? { parentSpanContext: { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: s.traceFlags, isRemote: s.parentIsRemote ?? false } }
        : {}),
      startTime: s.startTime,
      endTime: s.endTime,
      status: s.status,
      attributes: s.attributes,
      links: s.links.map((l) => ({
        context: {
          traceId: l.traceId,
          spanId: l.spanId,
          traceFlags: l.traceFlags,
          ...(l.traceState !== undefined ? { traceState: createTraceState(l.traceState) } : {}),
          ...(l.isRemote !== undefined ? { isRemote: l.isRemote } : {}),
        },
        ...(l.attributes ? { attributes: l.attributes } : {}),
        ...(l.droppedAttributesCount !== undefined ? { droppedAttributesCount: l.droppedAttributesCount } : {}),
      })),
      events: s.events,
      duration: hrTimeDuration(s.startTime, s.endTime),
      ended: true,
      resource: resourceOf(s.resource),
      instrumentationScope: scopeOf(s.scope),
      droppedAttributesCount: s.dropped.attributes,
      droppedEventsCount: s.dropped.events,
      droppedLinksCount: s.dropped.links,
    } satisfies ReadableSpan;
  });
}

/** `make`, once per distinct (JSON-equal) input. */
function sharedBy<I, O>(make: (input: I) => O): (input: I) => O {
  const made = new Map<string, O>();
  return (input) => {
    const key = JSON.stringify(input);
    let out = made.get(key);
    if (out === undefined) made.set(key, (out = make(input)));
    return out;
  };
}
