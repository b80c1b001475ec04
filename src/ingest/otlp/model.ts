/**
 * OTLP requests as plain objects, the one shape both decoders produce: protobufjs's `toObject`
 * (lowerCamelCase fields, 64-bit integers as decimal strings, enums as numbers, bytes as Buffer)
 * and the OTLP/JSON decoder (`json-decode.ts`, which turns hex ids and base64 bytes into Buffers).
 * Absent fields mean the proto3 default; repeated fields are always arrays.
 */

export interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  /** int64 as a decimal string. */
  intValue?: string;
  doubleValue?: number;
  arrayValue?: { values: AnyValue[] };
  kvlistValue?: { values: KeyValue[] };
  bytesValue?: Uint8Array;
}

export interface KeyValue {
  key: string;
  value?: AnyValue;
}

export interface Resource {
  attributes: KeyValue[];
  droppedAttributesCount?: number;
}

export interface InstrumentationScope {
  name?: string;
  version?: string;
  attributes: KeyValue[];
  droppedAttributesCount?: number;
}

// ---- traces

export interface SpanEvent {
  /** fixed64 nanoseconds since the epoch, decimal string. */
  timeUnixNano?: string;
  name?: string;
  attributes: KeyValue[];
}

export interface SpanLink {
  traceId?: Uint8Array;
  spanId?: Uint8Array;
  traceState?: string;
  attributes: KeyValue[];
}

export interface Span {
  traceId?: Uint8Array;
  spanId?: Uint8Array;
  traceState?: string;
  parentSpanId?: Uint8Array;
  name?: string;
  /** OTLP SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind?: number;
  startTimeUnixNano?: string;
  endTimeUnixNano?: string;
  attributes: KeyValue[];
  events: SpanEvent[];
  links: SpanLink[];
  /** OTLP StatusCode: 0 unset, 1 ok, 2 error. */
  status?: { message?: string; code?: number };
}

export interface ScopeSpans {
  scope?: InstrumentationScope;
  spans: Span[];
  schemaUrl?: string;
}

export interface ResourceSpans {
  resource?: Resource;
  scopeSpans: ScopeSpans[];
  schemaUrl?: string;
}

export interface TraceRequest {
  resourceSpans: ResourceSpans[];
}

// ---- metrics

export interface Exemplar {
  filteredAttributes: KeyValue[];
  timeUnixNano?: string;
  asDouble?: number;
  /** sfixed64 as a decimal string. */
  asInt?: string;
  spanId?: Uint8Array;
  traceId?: Uint8Array;
}

export interface NumberDataPoint {
  attributes: KeyValue[];
  startTimeUnixNano?: string;
  timeUnixNano?: string;
  asDouble?: number;
  asInt?: string;
  exemplars: Exemplar[];
  flags?: number;
}

export interface HistogramDataPoint {
  attributes: KeyValue[];
  startTimeUnixNano?: string;
  timeUnixNano?: string;
  count?: string;
  sum?: number;
  bucketCounts: string[];
  explicitBounds: number[];
  exemplars: Exemplar[];
  flags?: number;
  min?: number;
  max?: number;
}

export interface ExponentialHistogramBuckets {
  /** sint32: the index of the first bucket. */
  offset?: number;
  /** uint64 counts as decimal strings. */
  bucketCounts: string[];
}

export interface ExponentialHistogramDataPoint {
  attributes: KeyValue[];
  startTimeUnixNano?: string;
  timeUnixNano?: string;
  count?: string;
  sum?: number;
  /** sint32: base = 2^(2^-scale). */
  scale?: number;
  zeroCount?: string;
  positive?: ExponentialHistogramBuckets;
  negative?: ExponentialHistogramBuckets;
  flags?: number;
  exemplars: Exemplar[];
  min?: number;
  max?: number;
  zeroThreshold?: number;
}

export interface ValueAtQuantile {
  quantile?: number;
  value?: number;
}

export interface SummaryDataPoint {
  attributes: KeyValue[];
  startTimeUnixNano?: string;
  timeUnixNano?: string;
  count?: string;
  sum?: number;
  quantileValues: ValueAtQuantile[];
  flags?: number;
}

export interface Metric {
  name?: string;
  description?: string;
  unit?: string;
  gauge?: { dataPoints: NumberDataPoint[] };
  sum?: { dataPoints: NumberDataPoint[]; aggregationTemporality?: number; isMonotonic?: boolean };
  histogram?: { dataPoints: HistogramDataPoint[]; aggregationTemporality?: number };
  exponentialHistogram?: { dataPoints: ExponentialHistogramDataPoint[]; aggregationTemporality?: number };
  summary?: { dataPoints: SummaryDataPoint[] };
}

export interface ScopeMetrics {
  scope?: InstrumentationScope;
  metrics: Metric[];
  schemaUrl?: string;
}

export interface ResourceMetrics {
  resource?: Resource;
  scopeMetrics: ScopeMetrics[];
  schemaUrl?: string;
}

export interface MetricsRequest {
  resourceMetrics: ResourceMetrics[];
}
