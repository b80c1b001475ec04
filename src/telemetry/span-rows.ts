import { SpanKind, SpanStatusCode, type AttributeValue, type Attributes, type HrTime } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

/**
 * One row of `otel_traces`, in the shape the OpenTelemetry Collector's ClickHouse exporter writes
 * (same column names, same string spellings for SpanKind and StatusCode), so rows from our own
 * exporter and from a stock collector are indistinguishable downstream.
 */
export interface OtelTraceRow {
  Timestamp: string;
  TraceId: string;
  SpanId: string;
  ParentSpanId: string;
  TraceState: string;
  SpanName: string;
  SpanKind: string;
  ServiceName: string;
  ResourceAttributes: Record<string, string>;
  ScopeName: string;
  ScopeVersion: string;
  SpanAttributes: Record<string, string>;
  /** Nanoseconds, as a decimal string: UInt64 does not fit a JS number. */
  Duration: string;
  StatusCode: string;
  StatusMessage: string;
  'Events.Timestamp': string[];
  'Events.Name': string[];
  'Events.Attributes': Record<string, string>[];
  'Links.TraceId': string[];
  'Links.SpanId': string[];
  'Links.TraceState': string[];
  'Links.Attributes': Record<string, string>[];
}

const SPAN_KIND_NAMES: Record<SpanKind, string> = {
  [SpanKind.INTERNAL]: 'Internal',
  [SpanKind.SERVER]: 'Server',
  [SpanKind.CLIENT]: 'Client',
  [SpanKind.PRODUCER]: 'Producer',
  [SpanKind.CONSUMER]: 'Consumer',
};

const STATUS_NAMES: Record<SpanStatusCode, string> = {
  [SpanStatusCode.UNSET]: 'Unset',
  [SpanStatusCode.OK]: 'Ok',
  [SpanStatusCode.ERROR]: 'Error',
};

/** HrTime -> RFC 3339 with nanoseconds and `Z`, parsed exactly by ClickHouse's best_effort input. */
export function formatHrTime([seconds, nanos]: HrTime): string {
  const iso = new Date(seconds * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  return `${iso.slice(0, 19)}.${String(nanos).padStart(9, '0')}Z`;
}

/** Nanoseconds since the epoch (OTLP's fixed64 times) -> the same spelling as `formatHrTime`. */
export function formatUnixNanos(nanos: bigint): string {
  return formatHrTime([Number(nanos / 1_000_000_000n), Number(nanos % 1_000_000_000n)]);
}

/**
 * SpanKind as it travels in OTLP (0 unspecified, 1 internal, 2 server, ...; the API enum starts
 * at internal = 0) -> the exporter's spelling; an unknown value is '' as in the exporter.
 */
export function otlpSpanKindName(kind: number): string {
  if (kind === 0) return 'Unspecified';
  return SPAN_KIND_NAMES[(kind - 1) as SpanKind] ?? '';
}

/** OTLP StatusCode (same numbers as the API's) -> the exporter's spelling; unknown: ''. */
export function otlpStatusName(code: number): string {
  return STATUS_NAMES[code as SpanStatusCode] ?? '';
}

export function hrTimeToNanos([seconds, nanos]: HrTime): bigint {
  return BigInt(seconds) * 1_000_000_000n + BigInt(nanos);
}

/** OTel attribute values -> the Map(String, String) encoding of the collector exporter. */
export function stringifyAttributes(attrs: Attributes): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    out[key] = stringifyValue(value);
  }
  return out;
}

function stringifyValue(value: AttributeValue): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

export function spanToRow(span: ReadableSpan): OtelTraceRow {
  const ctx = span.spanContext();
  const resource = stringifyAttributes(span.resource.attributes);
  return {
    Timestamp: formatHrTime(span.startTime),
    TraceId: ctx.traceId,
    SpanId: ctx.spanId,
    ParentSpanId: span.parentSpanContext?.spanId ?? '',
    TraceState: ctx.traceState?.serialize() ?? '',
    SpanName: span.name,
    SpanKind: SPAN_KIND_NAMES[span.kind] ?? 'Unspecified',
    ServiceName: resource['service.name'] ?? '',
    ResourceAttributes: resource,
    ScopeName: span.instrumentationScope.name,
    ScopeVersion: span.instrumentationScope.version ?? '',
    SpanAttributes: stringifyAttributes(span.attributes),
    Duration: hrTimeToNanos(span.duration).toString(),
    StatusCode: STATUS_NAMES[span.status.code] ?? 'Unset',
    StatusMessage: span.status.message ?? '',
    'Events.Timestamp': span.events.map((e) => formatHrTime(e.time)),
    'Events.Name': span.events.map((e) => e.name),
    'Events.Attributes': span.events.map((e) => stringifyAttributes(e.attributes ?? {})),
    'Links.TraceId': span.links.map((l) => l.context.traceId),
    'Links.SpanId': span.links.map((l) => l.context.spanId),
    'Links.TraceState': span.links.map((l) => l.context.traceState?.serialize() ?? ''),
    'Links.Attributes': span.links.map((l) => stringifyAttributes(l.attributes ?? {})),
  };
}
