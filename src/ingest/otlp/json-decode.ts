import { z } from 'zod';
import { jsonShapeProblem } from '../json-shape.ts';
import type * as M from './model.ts';

/**
 * OTLP/JSON (the OTLP spec's JSON mapping of the protobuf messages) -> the plain model of
 * `model.ts`. Differences from the generic proto3 JSON mapping, per the OTLP spec: trace and span
 * ids are hex strings, not base64; enums are integers (their names are accepted too). 64-bit
 * integers may be strings or numbers. Unknown fields are ignored, as the spec requires.
 */

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

const integer = (min: bigint, max: bigint, what: string) =>
  z
    .union([z.string().regex(/^-?\d+$/, `${what} must be an integer`), z.number().refine(Number.isInteger, `${what} must be an integer`)])
    // Numbers past 2^53 arrive already rounded by JSON; they are taken as the integer they became.
    .transform((v, ctx) => {
      const n = BigInt(v);
      if (n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `${what} out of range` });
        return z.NEVER;
      }
      return n.toString();
    });

const int64 = integer(INT64_MIN, INT64_MAX, 'int64');
const fixed64 = integer(0n, UINT64_MAX, 'uint64');
const uint32 = z.number().int().min(0).max(0xffffffff);

const double = z.union([
  z.number(),
  z.enum(['NaN', 'Infinity', '-Infinity']).transform((s) => Number(s)),
  z
    .string()
    .regex(/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/, 'not a number')
    .transform((s) => Number(s)),
]);

/** Hex id of `bytes` bytes, or empty (the proto3 default). */
const hexId = (bytes: number) =>
  z
    .string()
    .regex(new RegExp(`^(|[0-9a-fA-F]{${bytes * 2}})$`), `must be ${bytes * 2} hex characters (OTLP/JSON ids are hex, not base64)`)
    .transform((s) => Buffer.from(s, 'hex'));

const base64 = z
  .string()
  .regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64')
  .transform((s) => Buffer.from(s, 'base64'));

const enumOf = (names: readonly string[]) =>
  z.union([
    z.number().int().min(0).max(0x7fffffff),
    z.enum(names as [string, ...string[]]).transform((n) => names.indexOf(n)),
  ]);

const SPAN_KINDS = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
const STATUS_CODES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];
const TEMPORALITIES = ['AGGREGATION_TEMPORALITY_UNSPECIFIED', 'AGGREGATION_TEMPORALITY_DELTA', 'AGGREGATION_TEMPORALITY_CUMULATIVE'];

const list = <T extends z.ZodType>(item: T) => z.array(item).nullish().transform((v) => v ?? []);

const AnyValueSchema: z.ZodType<M.AnyValue, unknown> = z.lazy(() =>
  z.object({
    stringValue: z.string().optional(),
    boolValue: z.boolean().optional(),
    intValue: int64.optional(),
    doubleValue: double.optional(),
    arrayValue: z.object({ values: list(AnyValueSchema) }).optional(),
    kvlistValue: z.object({ values: list(KeyValueSchema) }).optional(),
    bytesValue: base64.optional(),
  }),
);

const KeyValueSchema: z.ZodType<M.KeyValue, unknown> = z.lazy(() =>
  z.object({ key: z.string(), value: AnyValueSchema.nullish().transform((v) => v ?? undefined) }),
);

const attributes = list(KeyValueSchema);
const ResourceSchema = z.object({ attributes, droppedAttributesCount: uint32.optional() });
const ScopeSchema = z.object({ name: z.string().optional(), version: z.string().optional(), attributes, droppedAttributesCount: uint32.optional() });

const SpanSchema = z.object({
  traceId: hexId(16).optional(),
  spanId: hexId(8).optional(),
  traceState: z.string().optional(),
  parentSpanId: hexId(8).optional(),
  name: z.string().optional(),
  kind: enumOf(SPAN_KINDS).optional(),
  startTimeUnixNano: fixed64.optional(),
  endTimeUnixNano: fixed64.optional(),
  attributes,
  events: list(z.object({ timeUnixNano: fixed64.optional(), name: z.string().optional(), attributes })),
  links: list(z.object({ traceId: hexId(16).optional(), spanId: hexId(8).optional(), traceState: z.string().optional(), attributes })),
  status: z.object({ message: z.string().optional(), code: enumOf(STATUS_CODES).optional() }).optional(),
});

const TraceRequestSchema = z.object({
  resourceSpans: list(
    z.object({
      resource: ResourceSchema.optional(),
      schemaUrl: z.string().optional(),
      scopeSpans: list(z.object({ scope: ScopeSchema.optional(), schemaUrl: z.string().optional(), spans: list(SpanSchema) })),
    }),
  ),
});

const ExemplarSchema = z.object({
  filteredAttributes: attributes,
  timeUnixNano: fixed64.optional(),
  asDouble: double.optional(),
  asInt: int64.optional(),
  spanId: hexId(8).optional(),
  traceId: hexId(16).optional(),
});

const NumberPointSchema = z.object({
  attributes,
  startTimeUnixNano: fixed64.optional(),
  timeUnixNano: fixed64.optional(),
  asDouble: double.optional(),
  asInt: int64.optional(),
  exemplars: list(ExemplarSchema),
  flags: uint32.optional(),
});

const HistogramPointSchema = z.object({
  attributes,
  startTimeUnixNano: fixed64.optional(),
  timeUnixNano: fixed64.optional(),
  count: fixed64.optional(),
  sum: double.optional(),
  bucketCounts: list(fixed64),
  explicitBounds: list(double),
  exemplars: list(ExemplarSchema),
  flags: uint32.optional(),
  min: double.optional(),
  max: double.optional(),
});

const int32 = z.number().int().min(-0x80000000).max(0x7fffffff);
const ExpBucketsSchema = z.object({ offset: int32.optional(), bucketCounts: list(fixed64) });

const ExponentialHistogramPointSchema = z.object({
  attributes,
  startTimeUnixNano: fixed64.optional(),
  timeUnixNano: fixed64.optional(),
  count: fixed64.optional(),
  sum: double.optional(),
  scale: int32.optional(),
  zeroCount: fixed64.optional(),
  positive: ExpBucketsSchema.optional(),
  negative: ExpBucketsSchema.optional(),
  flags: uint32.optional(),
  exemplars: list(ExemplarSchema),
  min: double.optional(),
  max: double.optional(),
  zeroThreshold: double.optional(),
});

const SummaryPointSchema = z.object({
  attributes,
  startTimeUnixNano: fixed64.optional(),
  timeUnixNano: fixed64.optional(),
  count: fixed64.optional(),
  sum: double.optional(),
  quantileValues: list(z.object({ quantile: double.optional(), value: double.optional() })),
  flags: uint32.optional(),
});

const temporality = enumOf(TEMPORALITIES).optional();

const MetricSchema = z.object({
  name: z.string().optional(),
  description: z.string().optional(),
  unit: z.string().optional(),
  gauge: z.object({ dataPoints: list(NumberPointSchema) }).optional(),
  sum: z.object({ dataPoints: list(NumberPointSchema), aggregationTemporality: temporality, isMonotonic: z.boolean().optional() }).optional(),
  histogram: z.object({ dataPoints: list(HistogramPointSchema), aggregationTemporality: temporality }).optional(),
  exponentialHistogram: z.object({ dataPoints: list(ExponentialHistogramPointSchema), aggregationTemporality: temporality }).optional(),
  summary: z.object({ dataPoints: list(SummaryPointSchema) }).optional(),
});

const MetricsRequestSchema = z.object({
  resourceMetrics: list(
    z.object({
      resource: ResourceSchema.optional(),
      schemaUrl: z.string().optional(),
      scopeMetrics: list(z.object({ scope: ScopeSchema.optional(), schemaUrl: z.string().optional(), metrics: list(MetricSchema) })),
    }),
  ),
});

export type JsonDecodeResult<T> = { ok: true; value: T } | { ok: false; message: string };

function decodeWith<T>(schema: z.ZodType<T, unknown>, text: string): JsonDecodeResult<T> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { ok: false, message: `body is not valid JSON: ${(err as Error).message}` };
  }
  const shape = jsonShapeProblem(parsed);
  if (shape) return { ok: false, message: shape };
  let result: ReturnType<typeof schema.safeParse>;
  try {
    result = schema.safeParse(parsed);
  } catch (err) {
    // jsonShapeProblem bounds the depth; should a schema still overflow, it is the body's fault.
    return { ok: false, message: `body could not be read: ${(err as Error).message}` };
  }
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0]!;
  const where = issue.path.length ? issue.path.join('.') : 'body';
  return { ok: false, message: `${where}: ${issue.message}` };
}

export const decodeTraceJson = (text: string) => decodeWith<M.TraceRequest>(TraceRequestSchema, text);
export const decodeMetricsJson = (text: string) => decodeWith<M.MetricsRequest>(MetricsRequestSchema, text);
