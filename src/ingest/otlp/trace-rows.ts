import { ATTR } from '../../telemetry/attributes.ts';
import { formatUnixNanos, otlpSpanKindName, otlpStatusName, type OtelTraceRow } from '../../telemetry/span-rows.ts';
import { anyValueAsString, attributesToMap } from './any-value.ts';
import type { AnyValue, InstrumentationScope, KeyValue, Resource, Span, TraceRequest } from './model.ts';
import { decideTenant, Rejections, type OtlpSender } from './tenancy.ts';

/** DateTime64(9) holds nanoseconds in an Int64: later times cannot be stored (year 2262). */
const MAX_NANOS = 2n ** 63n - 1n;

export interface TracePlan {
  rows: OtelTraceRow[];
  rejections: Rejections;
}

/** When spans may start, in epoch ms: outside it they would be dropped on arrival or billed in months to come. */
export interface SpanTimeWindow {
  /** Spans older than the raw tables' TTL (less a margin) are gone before the rollup reads them. */
  notBeforeMs: number;
  notAfterMs: number;
}

/**
 * Per-request ceilings of the metered attributes. Past them a value is a broken or hostile
 * emitter, not a request: "inf" CPU seconds became 9.2e12 s and a billion-dollar statement line.
 * Generous: 1,024 cores and 64 GPUs busy for the whole span (plus a second), a billion tokens.
 */
const METERED_ATTRIBUTES: ReadonlyArray<{ key: string; ceiling: (durationS: number) => number }> = [
  { key: ATTR.cpuSeconds, ceiling: (d) => (d + 1) * 1024 },
  { key: ATTR.gpuSeconds, ceiling: (d) => (d + 1) * 64 },
  { key: ATTR.inputTokens, ceiling: () => 1e9 },
  { key: ATTR.outputTokens, ceiling: () => 1e9 },
  // The names vLLM still sets, which requests_mv reads when the current ones are absent.
  { key: 'gen_ai.usage.prompt_tokens', ceiling: () => 1e9 },
  { key: 'gen_ai.usage.completion_tokens', ceiling: () => 1e9 },
];

/**
 * Decides every span of a request before anything is written: the accepted ones become
 * `otel_traces` rows, the others are counted with their reason. Pure: the same request and sender
 * always give the same plan.
 */
export function planTraceRows(sender: OtlpSender, request: TraceRequest, window?: SpanTimeWindow): TracePlan {
  const rows: OtelTraceRow[] = [];
  const rejections = new Rejections();
  for (const rs of request.resourceSpans) {
    const resourceAttrs = rs.resource?.attributes ?? [];
    for (const ss of rs.scopeSpans) {
      for (const span of ss.spans) {
        const invalid = invalidSpanReason(span, window);
        if (invalid) {
          rejections.add(invalid);
          continue;
        }
        const tenant = decideTenant(sender, resourceAttrs, span.attributes);
        if (!tenant.ok) {
          rejections.add(tenant.reason, 1, tenant.missing === true);
          continue;
        }
        rows.push(otlpSpanToRow(rs.resource, ss.scope, span, tenant.tenantId));
      }
    }
  }
  return { rows, rejections };
}

/** Ids of the wrong length are malformed input (the whole request is refused by the caller). */
export function malformedIdReason(request: TraceRequest): string | undefined {
  for (const rs of request.resourceSpans) {
    for (const ss of rs.scopeSpans) {
      for (const span of ss.spans) {
        const ids: Array<[string, Uint8Array | undefined, number]> = [
          ['traceId', span.traceId, 16],
          ['spanId', span.spanId, 8],
          ['parentSpanId', span.parentSpanId, 8],
          ...span.links.flatMap((l): Array<[string, Uint8Array | undefined, number]> => [
            ['links.traceId', l.traceId, 16],
            ['links.spanId', l.spanId, 8],
          ]),
        ];
        for (const [name, id, size] of ids) {
          if (id && id.length !== 0 && id.length !== size) return `${name} must be ${size} bytes, got ${id.length}`;
        }
      }
    }
  }
  return undefined;
}

function invalidSpanReason(span: Span, window: SpanTimeWindow | undefined): string | undefined {
  if (isEmptyId(span.traceId) || isEmptyId(span.spanId)) return 'missing or all-zero traceId/spanId';
  const times = [span.startTimeUnixNano, span.endTimeUnixNano, ...span.events.map((e) => e.timeUnixNano)];
  if (times.some((t) => t !== undefined && BigInt(t) > MAX_NANOS)) return 'timestamp after 2262-04-11 (not storable)';
  const startMs = Number(BigInt(span.startTimeUnixNano ?? '0') / 1_000_000n);
  if (window && startMs < window.notBeforeMs) return 'start time older than the raw data retention (clickhouse.raw_ttl_days, less a day): it would be dropped on arrival';
  if (window && startMs > window.notAfterMs) return 'start time more than a day ahead of the server clock';
  // The end too: the metered ceilings grow with the duration, so an end in 2262 would allow any amount.
  const endMs = Number(BigInt(span.endTimeUnixNano ?? '0') / 1_000_000n);
  if (window && endMs > window.notAfterMs) return 'end time more than a day ahead of the server clock';
  const durationS = Math.max(0, Number(BigInt(span.endTimeUnixNano ?? '0') - BigInt(span.startTimeUnixNano ?? '0')) / 1e9);
  for (const { key, ceiling } of METERED_ATTRIBUTES) {
    // The last of repeated keys: the one attributesToMap keeps and requests_mv bills.
    const value = meteredValue(lastValueOf(span.attributes, key));
    if (value !== undefined && !(value <= ceiling(durationS))) return `${key} out of range (${value}): at most ${ceiling(durationS)} for this span`;
  }
  return undefined;
}

function lastValueOf(attrs: readonly KeyValue[], key: string): AnyValue | undefined {
  for (let i = attrs.length - 1; i >= 0; i--) if (attrs[i]!.key === key) return attrs[i]!.value;
  return undefined;
}

/**
 * A metered attribute as `requests_mv` will read it (toFloat64OrZero of its text, which takes
 * "inf", "nan" and overflowing exponents as ±inf); undefined when absent or when it reads as 0.
 */
function meteredValue(value: AnyValue | undefined): number | undefined {
  if (!value) return undefined;
  // A double NaN or ±Infinity reads as text ClickHouse takes for 0: refused, never billed as 0.
  if (value.doubleValue !== undefined && !Number.isFinite(value.doubleValue)) return value.doubleValue;
  const text = anyValueAsString(value).trim().toLowerCase();
  if (/^[+-]?(inf|infinity)$/.test(text)) return Number.POSITIVE_INFINITY;
  if (text === 'nan' || text === '+nan' || text === '-nan') return Number.NaN;
  const n = Number(text);
  // '1e400' is Infinity here and +inf to ClickHouse: out of range, never "absent".
  return Number.isNaN(n) || n === 0 ? undefined : n;
}

/**
 * One span as the collector's ClickHouse exporter writes it, with the tenant decided above
 * stamped on the span (`requests_mv` reads the span attribute, so a tenant named only on the
 * resource, or implied by an ingest key, still reaches `requests`).
 */
export function otlpSpanToRow(resource: Resource | undefined, scope: InstrumentationScope | undefined, span: Span, tenantId: string): OtelTraceRow {
  const resourceAttrs = attributesToMap(resource?.attributes ?? []);
  const start = BigInt(span.startTimeUnixNano ?? '0');
  const end = BigInt(span.endTimeUnixNano ?? '0');
  return {
    Timestamp: formatUnixNanos(start),
    TraceId: hexOrEmpty(span.traceId),
    SpanId: hexOrEmpty(span.spanId),
    ParentSpanId: hexOrEmpty(span.parentSpanId),
    TraceState: span.traceState ?? '',
    SpanName: span.name ?? '',
    SpanKind: otlpSpanKindName(span.kind ?? 0),
    ServiceName: serviceName(resource),
    ResourceAttributes: resourceAttrs,
    ScopeName: scope?.name ?? '',
    ScopeVersion: scope?.version ?? '',
    SpanAttributes: { ...attributesToMap(span.attributes), [ATTR.tenantId]: tenantId },
    // The exporter's end - start; an end before the start is 0 here (UInt64 column), not a wrap-around.
    Duration: (end > start ? end - start : 0n).toString(),
    StatusCode: otlpStatusName(span.status?.code ?? 0),
    StatusMessage: span.status?.message ?? '',
    'Events.Timestamp': span.events.map((e) => formatUnixNanos(BigInt(e.timeUnixNano ?? '0'))),
    'Events.Name': span.events.map((e) => e.name ?? ''),
    'Events.Attributes': span.events.map((e) => attributesToMap(e.attributes)),
    'Links.TraceId': span.links.map((l) => hexOrEmpty(l.traceId)),
    'Links.SpanId': span.links.map((l) => hexOrEmpty(l.spanId)),
    'Links.TraceState': span.links.map((l) => l.traceState ?? ''),
    'Links.Attributes': span.links.map((l) => attributesToMap(l.attributes)),
  };
}

export function serviceName(resource: Resource | undefined): string {
  const kv = (resource?.attributes ?? []).filter((a) => a.key === 'service.name').pop();
  return kv ? anyValueAsString(kv.value) : '';
}

function isEmptyId(id: Uint8Array | undefined): boolean {
  return !id || id.length === 0 || id.every((b) => b === 0);
}

/** traceutil.TraceIDToHexOrEmptyString: all-zero (or absent) ids are ''. */
export function hexOrEmpty(id: Uint8Array | undefined): string {
  return isEmptyId(id) ? '' : Buffer.from(id!).toString('hex');
}
