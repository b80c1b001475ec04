import { Server, ServerCredentials, status, type handleUnaryCall, type Metadata, type ServiceDefinition } from '@grpc/grpc-js';
import { bearerToken } from '../../auth/keys.ts';
import type { KeyService } from '../../auth/key-service.ts';
import { AppError, type ErrorKind } from '../../errors.ts';
import type { OtlpReceiver } from './receiver.ts';
import type { OtlpSender } from './tenancy.ts';

/**
 * OTLP/gRPC (the OTel SDKs' and collectors' default, port 4317): the trace and metrics services'
 * `Export` methods over the same receiver as OTLP/HTTP, so decoding, tenancy, partial success and
 * the never-drop write are one code path. Messages stay raw protobuf bytes end to end (the
 * receiver decodes them); gRPC compression (gzip) is undone by grpc-js. The key travels as
 * `authorization: Bearer <key>` metadata, the way OTel exporters send headers over gRPC.
 */

export interface OtlpGrpcServerDeps {
  otlp: OtlpReceiver;
  keys: KeyService;
  /** Largest message taken, compressed or not (server.max_body_bytes). */
  maxMessageBytes: number;
}

export interface OtlpGrpcServer {
  readonly port: number;
  close(): Promise<void>;
}

const bytes = (b: Buffer): Buffer => b;
const exportMethod = (service: string) => ({
  path: `/opentelemetry.proto.collector.${service}/Export`,
  requestStream: false,
  responseStream: false,
  requestSerialize: bytes,
  requestDeserialize: bytes,
  responseSerialize: bytes,
  responseDeserialize: bytes,
});
const TRACE_SERVICE: ServiceDefinition = { Export: exportMethod('trace.v1.TraceService') };
const METRICS_SERVICE: ServiceDefinition = { Export: exportMethod('metrics.v1.MetricsService') };

export async function startOtlpGrpcServer(deps: OtlpGrpcServerDeps, host: string, port: number): Promise<OtlpGrpcServer> {
  const server = new Server({
    'grpc.max_receive_message_length': deps.maxMessageBytes,
    'grpc.max_send_message_length': 1024 * 1024,
  });
  server.addService(TRACE_SERVICE, { Export: handler(deps, 'exportTraces') });
  server.addService(METRICS_SERVICE, { Export: handler(deps, 'exportMetrics') });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        // In-flight exports finish (their rows are written or spooled); a stuck one is cut after 5 s.
        const force = setTimeout(() => server.forceShutdown(), 5000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

function handler(deps: OtlpGrpcServerDeps, signal: 'exportTraces' | 'exportMetrics'): handleUnaryCall<Buffer, Buffer> {
  return (call, callback) => {
    void (async () => {
      try {
        const sender = await senderOf(deps.keys, call.metadata);
        const result = await deps.otlp[signal](sender, 'protobuf', call.request);
        callback(null, Buffer.from(result.body as Uint8Array));
      } catch (err) {
        const e = err instanceof AppError ? err : new AppError('internal', `OTLP export failed: ${(err as Error).message}`);
        callback({ code: GRPC_STATUS[e.kind], details: `${e.code}: ${e.message}` });
      }
    })();
  };
}

async function senderOf(keys: KeyService, metadata: Metadata): Promise<OtlpSender> {
  const header = metadata.get('authorization')[0];
  const token = bearerToken(typeof header === 'string' ? header : header?.toString());
  if (!token) throw new AppError('unauthenticated', 'missing or malformed `authorization: Bearer <key>` metadata', { code: 'missing_key' });
  const principal = await keys.authenticate(token);
  if (!principal) throw new AppError('unauthenticated', 'invalid API key', { code: 'invalid_key' });
  if (principal.role === 'admin') return { role: 'admin' };
  if (principal.role === 'ingest' && principal.tenantId) return { role: 'ingest', tenantId: principal.tenantId };
  throw new AppError('forbidden', 'OTLP export needs a key with role admin or ingest', { code: 'wrong_role' });
}

/**
 * The HTTP statuses' gRPC counterparts, as the OTLP specification pairs them: UNAVAILABLE (the
 * store and the spool both failed, or back-pressure) is the one an exporter retries.
 */
const GRPC_STATUS: Readonly<Record<ErrorKind, status>> = {
  invalid: status.INVALID_ARGUMENT,
  unauthenticated: status.UNAUTHENTICATED,
  not_found: status.NOT_FOUND,
  forbidden: status.PERMISSION_DENIED,
  conflict: status.ALREADY_EXISTS,
  payload_too_large: status.INVALID_ARGUMENT,
  unsupported_media_type: status.INVALID_ARGUMENT,
  quota_exceeded: status.RESOURCE_EXHAUSTED,
  unavailable: status.UNAVAILABLE,
  internal: status.INTERNAL,
};
