import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { stringAttribute } from '../../src/ingest/otlp/any-value.ts';
import { decodeTraceRequest } from '../../src/ingest/otlp/receiver.ts';
import { startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { ADMIN_KEY, call, createKey, infer, waitFor } from '../support/platform.ts';

/**
 * SPEC §9: no acknowledged data is lost on a SIGKILL. A real `inferledger up` child process
 * serves inference with a span batch interval of ten minutes (so nothing reaches ClickHouse by
 * the batch path), is killed with SIGKILL right after the last answer, and is started again on
 * the same data directory: every answered request must be billed, once.
 */

const BIN = fileURLToPath(new URL('../../bin/inferledger.js', import.meta.url));
const TENANT = 'crash-test';
const REQUESTS = 12;

const running: RunningDaemon[] = [];
const servers: Server[] = [];
afterEach(() => {
  for (const d of running.splice(0)) if (d.child.exitCode === null) d.child.kill('SIGKILL');
  for (const s of servers.splice(0)) s.close();
});

async function startUp(dataDir: string, journal: boolean): Promise<RunningDaemon> {
  const configPath = join(dataDir, 'inferledger.yaml');
  writeFileSync(
    configPath,
    JSON.stringify({ server: { host: '127.0.0.1' }, telemetry: { batch_delay_ms: 600_000, journal }, sidecar: { sample_interval_s: 3600 } }),
  );
  const up = await startDaemon('inferledger up', process.execPath, 'node runs it', () => [BIN, 'up'], {
    envFor: (port) => ({ INFERLEDGER_DATA_DIR: dataDir, INFERLEDGER_PORT: String(port), INFERLEDGER_ADMIN_KEY: ADMIN_KEY, INFERLEDGER_CONFIG: configPath }),
    readyPath: '/readyz',
  });
  running.push(up);
  return up;
}

/** Serves REQUESTS answered inferences in a fresh `up`, then kills it with SIGKILL. */
async function serveThenKill(journal: boolean): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'inferledger-crash-'));
  const first = await startUp(dataDir, journal);
  const key = await createKey(first.url, TENANT);
  for (let i = 0; i < REQUESTS; i++) expect((await infer(first.url, key, 'classifier-small')).status).toBe(200);
  await killHard(first.child);
  return dataDir;
}

async function killHard(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

const spooledTraces = (dataDir: string) => join(dataDir, 'spool', 'otel_traces');

/** Rows in the journal/spool files of `dir` (what a restart replays). */
function journaledRows(dir: string): number {
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
  } catch {
    return 0;
  }
  return files.reduce((n, f) => n + readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean).length, 0);
}

async function requestsBilled(url: string): Promise<number> {
  const res = await call<{ totals: { requests: number } }>(url, 'GET', `/v1/tenants/${TENANT}/usage`, { key: ADMIN_KEY });
  if (res.status !== 200) throw new Error(`usage: ${res.status} ${res.text}`);
  return res.body.totals.requests;
}

describe('a SIGKILL right after the answers (span batch interval: 10 minutes)', () => {
  it('with the span journal (default): every answered request is billed after the restart, once', async () => {
    const dataDir = await serveThenKill(true);
    // Nothing reached ClickHouse by the batch path; the journal holds every answered request.
    expect(journaledRows(spooledTraces(dataDir))).toBe(REQUESTS);

    const second = await startUp(dataDir, true);
    await waitFor(async () => ((await requestsBilled(second.url)) >= REQUESTS ? true : undefined), 'the journal to be replayed', 45_000);
    expect(await requestsBilled(second.url)).toBe(REQUESTS);
    await waitFor(async () => (journaledRows(spooledTraces(dataDir)) === 0 ? true : undefined), 'the spool to be drained', 30_000);
    expect(await requestsBilled(second.url)).toBe(REQUESTS);
  });

  it('without it (telemetry.journal: false) the requests of the unflushed batch are lost: what the journal is for', async () => {
    const dataDir = await serveThenKill(false);
    expect(journaledRows(spooledTraces(dataDir))).toBe(0);
    const second = await startUp(dataDir, false);
    expect(await requestsBilled(second.url)).toBe(0);
  });
});

describe('a standalone sidecar exporting by OTLP, SIGKILLed right after the answers (batch interval: 10 minutes)', () => {
  /** An OTLP/HTTP receiver that keeps the ids of the spans it is sent, and each span's tenant. */
  async function otlpReceiver(): Promise<{ url: string; tenantOf: Map<string, string> }> {
    const tenantOf = new Map<string, string>();
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        // Decoded by the product's own OTLP decoder, as the API's receiver would.
        const request = decodeTraceRequest('protobuf', Buffer.concat(chunks));
        for (const rs of request.resourceSpans ?? []) {
          for (const ss of rs.scopeSpans ?? []) {
            for (const span of ss.spans ?? []) tenantOf.set(Buffer.from(span.spanId ?? []).toString('hex'), stringAttribute(span.attributes ?? [], 'tenant.id').value ?? '');
          }
        }
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, tenantOf };
  }

  async function startOtlpSidecar(dataDir: string, endpoint: string, journal = true): Promise<RunningDaemon> {
    const configPath = join(dataDir, 'inferledger.yaml');
    writeFileSync(
      configPath,
      JSON.stringify({ server: { host: '127.0.0.1' }, telemetry: { batch_delay_ms: 600_000, journal }, sidecar: { sample_interval_s: 3600, trust_tenant_header: true } }),
    );
    const sidecar = await startDaemon('inferledger sidecar', process.execPath, 'node runs it', () => [BIN, 'sidecar'], {
      envFor: (port) => ({
        INFERLEDGER_DATA_DIR: dataDir,
        INFERLEDGER_SIDECAR_PORT: String(port),
        INFERLEDGER_ADMIN_KEY: ADMIN_KEY,
        INFERLEDGER_CONFIG: configPath,
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      }),
      readyPath: '/readyz',
    });
    running.push(sidecar);
    return sidecar;
  }

  /** Serves REQUESTS answered inferences in a fresh sidecar, then kills it with SIGKILL. */
  async function serveThenKillOtlp(endpoint: string, journal: boolean): Promise<string> {
    const dataDir = mkdtempSync(join(tmpdir(), 'inferledger-otlp-crash-'));
    const first = await startOtlpSidecar(dataDir, endpoint, journal);
    for (let i = 0; i < REQUESTS; i++) {
      expect((await infer(first.url, ADMIN_KEY, 'classifier-small', 1, { 'x-tenant-id': TENANT })).status).toBe(200);
    }
    await killHard(first.child);
    return dataDir;
  }

  it('with the span journal (default): every answered request is exported after the restart', async () => {
    const receiver = await otlpReceiver();
    const dataDir = await serveThenKillOtlp(receiver.url, true);
    // Nothing was exported by the batch path; the journal holds every answered request.
    expect(receiver.tenantOf.size).toBe(0);
    const journal = join(dataDir, 'otlp-journal', 'otlp_spans');
    expect(journaledRows(journal)).toBe(REQUESTS);

    await startOtlpSidecar(dataDir, receiver.url);
    await waitFor(async () => (receiver.tenantOf.size >= REQUESTS ? true : undefined), 'the journal to be exported', 45_000);
    expect([...receiver.tenantOf.values()]).toEqual(Array(REQUESTS).fill(TENANT));
    await waitFor(async () => (journaledRows(journal) === 0 ? true : undefined), 'the journal to be emptied', 30_000);
  });

  it('restarted with the journal turned off, it still exports what the journal holds (found by dogfooding)', async () => {
    const receiver = await otlpReceiver();
    const dataDir = await serveThenKillOtlp(receiver.url, true);
    await startOtlpSidecar(dataDir, receiver.url, false);
    await waitFor(async () => (receiver.tenantOf.size >= REQUESTS ? true : undefined), 'the leftover journal to be exported', 45_000);
    await waitFor(async () => (journaledRows(join(dataDir, 'otlp-journal', 'otlp_spans')) === 0 ? true : undefined), 'the journal to be emptied', 30_000);
  });

  it('without it (telemetry.journal: false) the unexported batch is lost: what the journal is for', async () => {
    const receiver = await otlpReceiver();
    const dataDir = await serveThenKillOtlp(receiver.url, false);
    const second = await startOtlpSidecar(dataDir, receiver.url, false);
    // The restarted sidecar has nothing to replay (it would start exporting before this answer).
    expect((await infer(second.url, ADMIN_KEY, 'classifier-small', 1, { 'x-tenant-id': 'other' })).status).toBe(200);
    await killHard(second.child);
    expect(receiver.tenantOf.size).toBe(0);
  });
});
