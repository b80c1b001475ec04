import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoInput } from '../src/cli/demo.ts';
import { loadConfig } from '../src/config/load.ts';
import { otlpTypes } from '../src/ingest/otlp/proto.ts';
import { startPlatform, telemetryExporter, type Platform } from '../src/main.ts';

interface Captured {
  path: string;
  contentType: string;
  body: Buffer;
}

/** The standalone sidecar exports spans by OTLP/HTTP protobuf to whatever the OTel env names. */
describe('standalone sidecar with OTLP export', () => {
  const captured: Captured[] = [];
  let receiver: Server;
  let platform: Platform;
  const logs: string[] = [];

  beforeAll(async () => {
    receiver = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        captured.push({ path: req.url ?? '', contentType: req.headers['content-type'] ?? '', body: Buffer.concat(chunks) });
        // As the API answers spans it refuses (here: all of them, for a tenant the key does not own).
        const type = otlpTypes().traceResponse;
        const partial = type.encode(type.fromObject({ partialSuccess: { rejectedSpans: 1, errorMessage: "1 spans rejected: tenant.id names a tenant other than this key's (1)" } })).finish();
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(Buffer.from(partial));
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    // The OTel exporter reads the standard variable itself, as it would in production.
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = endpoint;
    const env = { INFERLEDGER_DATA_DIR: mkdtempSync(join(tmpdir(), 'il-otlp-')), INFERLEDGER_ADMIN_KEY: 'otlp-test-admin-key-0000' };
    process.env.OTEL_EXPORTER_OTLP_HEADERS = 'Authorization=Bearer il_ingest_0123456789abcdef0123456789abcdef';
    platform = await startPlatform(loadConfig(env, tmpdir()), { kind: 'sidecar', port: 0, log: (line) => logs.push(line), env: process.env });
  });

  afterAll(async () => {
    await platform?.close();
    receiver?.close();
  });

  it('chooses OTLP only for the sidecar and only when an endpoint is set', () => {
    const config = loadConfig({}, tmpdir());
    expect(telemetryExporter(config, 'sidecar', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBe('otlp');
    expect(telemetryExporter(config, 'sidecar', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' })).toBe('otlp');
    expect(telemetryExporter(config, 'sidecar', {})).toBe('clickhouse');
    expect(telemetryExporter(config, 'up', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBe('clickhouse');
  });

  it('sends tenant-labelled inference spans as OTLP protobuf to /v1/traces', async () => {
    await platform.inference!.infer('otlp-tenant', 'classifier-small', demoInput(2, 7));
    await platform.flushTelemetry();
    const traces = captured.filter((c) => c.path === '/v1/traces');
    expect(traces.length).toBeGreaterThan(0);
    expect(traces[0]!.contentType).toBe('application/x-protobuf');
    const body = Buffer.concat(traces.map((t) => t.body)).toString('latin1');
    for (const needle of ['tenant.id', 'otlp-tenant', 'gen_ai.request.model', 'classifier-small', 'inferledger.cpu_seconds']) {
      expect(body).toContain(needle);
    }
    // Nothing was written to the local store: the spans went out by OTLP.
    const rows = await platform.store.query<{ c: string }>({ query: "SELECT count() c FROM otel_traces" });
    expect(rows[0]!.c).toBe('0');
  });

  // Found by dogfooding: spans the API refused vanished without a word, and capacity went nowhere.
  it('logs the spans the receiver refused, with its reason, and says at start what OTLP export implies', () => {
    expect(logs.join('\n')).toMatch(/telemetry: Received Partial Success response: .*1 spans rejected: tenant\.id names a tenant other than this key's/);
    expect(logs).toContainEqual(expect.stringMatching(/^note: spans are exported with an ingest key, which writes for its own tenant only/));
    expect(logs).toContainEqual(expect.stringMatching(/^warning: resource samples .* are written to this sidecar's own embedded ClickHouse/));
  });
});
