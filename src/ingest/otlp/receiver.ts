import type protobuf from 'protobufjs';
import { AppError } from '../../errors.ts';
import { TRACES_TABLE } from '../../telemetry/span-writer.ts';
import type { RowSink } from '../row-sink.ts';
import { decodeMetricsJson, decodeTraceJson, type JsonDecodeResult } from './json-decode.ts';
import { METRIC_TABLES, plannedRows, planMetricRows, type MetricKind } from './metric-rows.ts';
import type { MetricsRequest, TraceRequest } from './model.ts';
import { otlpTypes, toPlain } from './proto.ts';
import { ResentExports } from './resent-exports.ts';
import type { OtlpSender, Rejections } from './tenancy.ts';
import { malformedIdReason, planTraceRows, type SpanTimeWindow } from './trace-rows.ts';
import type { OtlpEncoding } from './transport.ts';

/**
 * The OTLP export service behind POST /v1/traces and /v1/metrics: decode, decide every item
 * (validity, tenant), write all accepted rows through the never-drop sink, and only then answer.
 * A request is never half-written: nothing is written until every item has been decided.
 */

export interface ExportResult {
  /** The response body, in the request's encoding. */
  body: Uint8Array | Record<string, unknown>;
  accepted: number;
  rejected: number;
}

export interface OtlpReceiver {
  exportTraces(sender: OtlpSender, encoding: OtlpEncoding, body: Buffer): Promise<ExportResult>;
  exportMetrics(sender: OtlpSender, encoding: OtlpEncoding, body: Buffer): Promise<ExportResult>;
}

/**
 * An export re-sent byte for byte (an exporter's retry after a timeout) is stored once, see
 * resent-exports.ts. For metrics that is the only protection (data points have no id); for spans
 * it keeps `otel_traces` free of the copy, while billing counts a span id once regardless.
 */
export function createOtlpReceiver(deps: {
  sink: RowSink;
  resent?: { traces: ResentExports<ExportResult>; metrics: ResentExports<ExportResult> };
  /** When spans may start (the raw retention, the clock); unchecked when absent. */
  spanWindow?: () => SpanTimeWindow;
  /** Told how many spans or points of an export were refused (for the refusal counter). */
  onRefused?: (signal: 'spans' | 'data_points', count: number) => void;
}): OtlpReceiver {
  const resent = deps.resent ?? { traces: new ResentExports<ExportResult>(), metrics: new ResentExports<ExportResult>() };
  return {
    exportTraces: (sender, encoding, body) => resent.traces.once(sender, encoding, body, () => storeTraces(sender, encoding, body)),
    exportMetrics: (sender, encoding, body) => resent.metrics.once(sender, encoding, body, () => storeMetrics(sender, encoding, body)),
  };

  async function storeTraces(sender: OtlpSender, encoding: OtlpEncoding, body: Buffer): Promise<ExportResult> {
    const request = decodeTraceRequest(encoding, body);
    const plan = planTraceRows(sender, request, deps.spanWindow?.());
    refuseIfNothingUsable(sender, plan.rows.length, plan.rejections, 'spans');
    await deps.sink.write(TRACES_TABLE, plan.rows);
    deps.onRefused?.('spans', plan.rejections.total);
    const partial = plan.rejections.total > 0 ? { rejectedSpans: String(plan.rejections.total), errorMessage: plan.rejections.message('spans') } : undefined;
    return { body: encodeResponse(otlpTypes().traceResponse, encoding, partial), accepted: plan.rows.length, rejected: plan.rejections.total };
  }

  async function storeMetrics(sender: OtlpSender, encoding: OtlpEncoding, body: Buffer): Promise<ExportResult> {
    const request = decodeMetricsRequest(encoding, body);
    const plan = planMetricRows(sender, request);
    const accepted = plannedRows(plan);
    refuseIfNothingUsable(sender, accepted, plan.rejections, 'data points');
    // One insert per table; each failed one is spooled, so all of them are stored or spooled.
    for (const kind of Object.keys(METRIC_TABLES) as MetricKind[]) await deps.sink.write(METRIC_TABLES[kind], plan[kind]);
    deps.onRefused?.('data_points', plan.rejections.total);
    const partial =
      plan.rejections.total > 0 ? { rejectedDataPoints: String(plan.rejections.total), errorMessage: plan.rejections.message('data points') } : undefined;
    return { body: encodeResponse(otlpTypes().metricsResponse, encoding, partial), accepted, rejected: plan.rejections.total };
  }
}

/**
 * The admin key must name a tenant; when it named none for anything in the request, that is a
 * client error worth a 400, not a 200 with everything "partially" rejected.
 */
function refuseIfNothingUsable(sender: OtlpSender, accepted: number, rejections: Rejections, noun: string): void {
  if (sender.role !== 'admin' || accepted > 0 || rejections.total === 0) return;
  const code = rejections.onlyMissingTenant ? 'missing_tenant' : 'nothing_accepted';
  throw new AppError('invalid', rejections.message(noun), { code });
}

export function decodeTraceRequest(encoding: OtlpEncoding, body: Buffer): TraceRequest {
  const request = encoding === 'json' ? fromJson(decodeTraceJson(body.toString('utf8'))) : (decodeProtobuf(otlpTypes().traceRequest, body) as TraceRequest);
  const bad = malformedIdReason(request);
  if (bad) throw new AppError('invalid', `malformed ExportTraceServiceRequest: ${bad}`, { code: 'invalid_otlp' });
  return request;
}

export function decodeMetricsRequest(encoding: OtlpEncoding, body: Buffer): MetricsRequest {
  return encoding === 'json' ? fromJson(decodeMetricsJson(body.toString('utf8'))) : (decodeProtobuf(otlpTypes().metricsRequest, body) as MetricsRequest);
}

function fromJson<T>(result: JsonDecodeResult<T>): T {
  if (!result.ok) throw new AppError('invalid', `malformed OTLP/JSON body: ${result.message}`, { code: 'invalid_otlp' });
  return result.value;
}

function decodeProtobuf(type: protobuf.Type, body: Buffer): unknown {
  try {
    return toPlain(type, type.decode(body));
  } catch (err) {
    throw new AppError('invalid', `malformed OTLP protobuf body: ${(err as Error).message}`, { code: 'invalid_otlp' });
  }
}

function encodeResponse(type: protobuf.Type, encoding: OtlpEncoding, partial: Record<string, string> | undefined): Uint8Array | Record<string, unknown> {
  if (encoding === 'json') return partial ? { partialSuccess: partial } : {};
  return type.encode(type.fromObject(partial ? { partialSuccess: partial } : {})).finish();
}
