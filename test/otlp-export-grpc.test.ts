import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyService } from '../src/auth/key-service.ts';
import { demoInput } from '../src/cli/demo.ts';
import { ConfigError, loadConfig } from '../src/config/load.ts';
import { startOtlpGrpcServer, type OtlpGrpcServer } from '../src/ingest/otlp/grpc-server.ts';
import { decodeTraceRequest, type OtlpReceiver } from '../src/ingest/otlp/receiver.ts';
import type { OtlpSender } from '../src/ingest/otlp/tenancy.ts';
import { startPlatform, type Platform } from '../src/main.ts';
import { otlpProtocolOf } from '../src/wiring/sidecar.ts';

/**
 * A standalone sidecar with OTEL_EXPORTER_OTLP_PROTOCOL=grpc exports its spans over OTLP/gRPC,
 * with OTEL_EXPORTER_OTLP_HEADERS as metadata: here to the product's own gRPC listener, whose
 * receiver is replaced by one that records what arrives. (One platform per file: chdb.)
 */

const KEY = 'il_ingest_grpc-export-test-key';

describe('standalone sidecar exporting by OTLP/gRPC', () => {
  const received: Array<{ sender: OtlpSender; body: Buffer }> = [];
  let server: OtlpGrpcServer;
  let platform: Platform;

  beforeAll(async () => {
    const otlp: OtlpReceiver = {
      exportTraces: async (sender, _encoding, body) => {
        received.push({ sender, body });
        return { body: new Uint8Array(), accepted: 1, rejected: 0 };
      },
      exportMetrics: async () => ({ body: new Uint8Array(), accepted: 0, rejected: 0 }),
    };
    // Only this key is known, as the ingest key of tenant "edge".
    const keys = { authenticate: async (k: string) => (k === KEY ? { role: 'ingest', tenantId: 'edge' } : undefined) } as unknown as KeyService;
    server = await startOtlpGrpcServer({ otlp, keys, maxMessageBytes: 1 << 20 }, '127.0.0.1', 0);
    // The OTel exporter reads the standard variables itself, as it would in production.
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${server.port}`;
    process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'grpc';
    process.env.OTEL_EXPORTER_OTLP_HEADERS = `authorization=Bearer ${KEY}`;
    const env = { INFERLEDGER_DATA_DIR: mkdtempSync(join(tmpdir(), 'il-otlp-grpc-')), INFERLEDGER_ADMIN_KEY: 'otlp-grpc-test-admin-key-0000' };
    platform = await startPlatform(loadConfig(env, tmpdir()), { kind: 'sidecar', port: 0, log: () => {}, env: process.env });
  });

  afterAll(async () => {
    await platform?.close();
    await server?.close();
  });

  it('sends tenant-labelled inference spans over gRPC, with the key from OTEL_EXPORTER_OTLP_HEADERS', async () => {
    await platform.inference!.infer('grpc-tenant', 'classifier-small', demoInput(2, 7));
    await platform.flushTelemetry();
    expect(received.length).toBeGreaterThan(0);
    expect(received[0]!.sender).toEqual({ role: 'ingest', tenantId: 'edge' });
    const spans = received.flatMap((r) => decodeTraceRequest('protobuf', r.body).resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)));
    const attributes = spans.map((s) => Object.fromEntries(s.attributes.map((a) => [a.key, a.value])));
    expect(attributes).toEqual(
      expect.arrayContaining([expect.objectContaining({ 'tenant.id': expect.objectContaining({ stringValue: 'grpc-tenant' }), 'gen_ai.request.model': expect.objectContaining({ stringValue: 'classifier-small' }) })]),
    );
  });

  it('reads the protocol from the standard variables and refuses one it cannot send', () => {
    expect(otlpProtocolOf({})).toBe('http/protobuf');
    expect(otlpProtocolOf({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toBe('grpc');
    expect(otlpProtocolOf({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' })).toBe('http/protobuf');
    expect(() => otlpProtocolOf({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })).toThrow(ConfigError);
    expect(() => otlpProtocolOf({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL: the sidecar exports spans by http\/protobuf or grpc, not "http\/json"/);
    // An endpoint the exporter cannot parse would silently become localhost.
    expect(otlpProtocolOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector.internal:4318' })).toBe('http/protobuf');
    expect(() => otlpProtocolOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'garbage' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT: an http\(s\) URL such as http:\/\/collector:4318, not "garbage"/);
    expect(() => otlpProtocolOf({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://x/v1/traces' })).toThrow(/OTEL_EXPORTER_OTLP_TRACES_ENDPOINT/);
  });
});
