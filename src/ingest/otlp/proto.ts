import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/**
 * The vendored opentelemetry-proto subset (`proto/`, Apache-2.0), parsed once on first use.
 * Loading .proto text at run time keeps the wire schema readable and diffable against upstream;
 * parsing takes a few milliseconds and happens once per process.
 */

const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), 'proto');
const ENTRY_FILES = [
  'opentelemetry/proto/collector/trace/v1/trace_service.proto',
  'opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
];

export interface OtlpTypes {
  traceRequest: protobuf.Type;
  traceResponse: protobuf.Type;
  metricsRequest: protobuf.Type;
  metricsResponse: protobuf.Type;
}

let cached: OtlpTypes | undefined;

export function otlpTypes(): OtlpTypes {
  if (cached) return cached;
  const root = new protobuf.Root();
  // Imports name paths below the proto root ("opentelemetry/proto/..."), as protoc's -I would.
  root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
  root.loadSync(ENTRY_FILES, { keepCase: false });
  root.resolveAll();
  cached = {
    traceRequest: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
    traceResponse: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
    metricsRequest: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest'),
    metricsResponse: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse'),
  };
  return cached;
}

/** protobufjs message -> plain object in the shape `model.ts` describes (ids stay bytes). */
export function toPlain(type: protobuf.Type, message: protobuf.Message): unknown {
  return type.toObject(message, { longs: String, enums: Number, bytes: Buffer, arrays: true, defaults: false });
}
