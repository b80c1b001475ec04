import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { BUNDLED_MODELS, loadConfig } from '../../src/config/load.ts';
import { startPlatform, type Platform } from '../../src/main.ts';

/**
 * A real all-in-one platform (`inferledger up`) on 127.0.0.1 and a random port, configured the
 * way an operator would: environment variables plus a YAML file. chdb allows one data directory
 * per process and vitest gives each test file its own process, so a file makes one of these and
 * "restarts" it on the same data directory.
 */

export const ADMIN_KEY = 'il_admin_integration-test-admin-key-0123456789';
export const INPUT_FEATURES = 64;

export interface HarnessOptions {
  /** Merged into the YAML config file (server.host is always 127.0.0.1). */
  config?: Record<string, unknown>;
  /** Reuse a data directory (a restart); default: a fresh temp directory. */
  dataDir?: string;
}

export interface Harness {
  readonly platform: Platform;
  readonly dataDir: string;
  readonly baseUrl: string;
  /** close() then start again on the same data directory, optionally with another config. */
  restart(config?: Record<string, unknown>): Promise<Harness>;
  close(): Promise<void>;
}

/** The bundled models listed explicitly, for configs whose tenants name variants of them. */
export const bundledModelsConfig = () => BUNDLED_MODELS.map((m) => ({ name: m.name, path: m.path, version: m.version }));

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'inferledger-it-'));
  const configPath = join(dataDir, `inferledger-${Date.now()}-${Math.random().toString(36).slice(2)}.yaml`);
  const userConfig = opts.config ?? {};
  const server = { ...((userConfig.server as Record<string, unknown> | undefined) ?? {}), host: '127.0.0.1' };
  writeFileSync(configPath, toYaml({ ...userConfig, server }));
  const config = loadConfig(
    { INFERLEDGER_DATA_DIR: dataDir, INFERLEDGER_ADMIN_KEY: ADMIN_KEY, INFERLEDGER_CONFIG: configPath },
    dataDir,
  );
  const platform = await startPlatform(config, { kind: 'up', port: 0, log: () => {} });
  const harness: Harness = {
    platform,
    dataDir,
    baseUrl: `http://127.0.0.1:${platform.port}`,
    async restart(config = userConfig) {
      await platform.close();
      return startHarness({ config, dataDir });
    },
    close: () => platform.close(),
  };
  return harness;
}

export interface CallOptions {
  key?: string;
  body?: unknown;
  /** Sent as-is (no JSON encoding). */
  rawBody?: string;
  headers?: Record<string, string>;
}

export interface CallResult<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** One HTTP call with global fetch; the body is parsed as JSON when it is JSON. */
export async function call<T = unknown>(baseUrl: string, method: string, path: string, opts: CallOptions = {}): Promise<CallResult<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.key !== undefined) headers.authorization = `Bearer ${opts.key}`;
  let body: string | undefined;
  if (opts.rawBody !== undefined) body = opts.rawBody;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(baseUrl + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = undefined;
  if ((res.headers.get('content-type') ?? '').includes('json') && text !== '') parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed as T, text };
}

/** Creates a key as admin and returns it (asserting the documented 201 shape is the caller's job). */
export async function createKey(baseUrl: string, tenant: string, role: 'tenant' | 'ingest' = 'tenant'): Promise<string> {
  const res = await call<{ key: string; role: string; tenant: string }>(baseUrl, 'POST', `/v1/tenants/${tenant}/keys`, {
    key: ADMIN_KEY,
    body: { role },
  });
  if (res.status !== 201) throw new Error(`creating a ${role} key for ${tenant}: ${res.status} ${res.text}`);
  return res.body.key;
}

/** A valid OIP v2 infer body for the bundled classifiers: `rows` x 64 FP32, deterministic. */
export function inferBody(rows = 1, seed = 1): { inputs: Array<{ name: string; shape: number[]; datatype: string; data: number[] }> } {
  const data: number[] = [];
  for (let i = 0; i < rows * INPUT_FEATURES; i++) data.push(Math.round(((((i + seed) * 7919) % 1009) / 1009) * 4000 - 2000) / 1000);
  return { inputs: [{ name: 'input', shape: [rows, INPUT_FEATURES], datatype: 'FP32', data }] };
}

export function infer(baseUrl: string, key: string, model: string, rows = 1, headers?: Record<string, string>) {
  return call<InferResponseBody>(baseUrl, 'POST', `/v2/models/${model}/infer`, { key, body: inferBody(rows), headers });
}

export interface InferResponseBody {
  model_name: string;
  model_version: string;
  outputs: Array<{ name: string; shape: number[]; datatype: string; data: number[] }>;
}

export interface UsageBody {
  tenant: string;
  from: string;
  to: string;
  totals: { requests: number; errors: number; rejected: number; cpu_seconds: number; gpu_seconds: number; input_tokens: number; output_tokens: number };
  by_model: Array<{ model: string; requests: number; errors: number; cpu_seconds: number; gpu_seconds: number; p50_ms: number | null; p95_ms: number | null; p99_ms: number | null }>;
  series: Array<{ t: string; requests: number; errors: number; rejected: number; cpu_seconds: number }>;
}

export async function usage(baseUrl: string, key: string, tenant: string): Promise<UsageBody> {
  const res = await call<UsageBody>(baseUrl, 'GET', `/v1/tenants/${tenant}/usage`, { key });
  if (res.status !== 200) throw new Error(`usage of ${tenant}: ${res.status} ${res.text}`);
  return res.body;
}

/** Every error of the product has this shape (SPEC §7). */
export function expectErrorShape(res: CallResult): { code: string; message: string } {
  const err = (res.body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (!err || typeof err.code !== 'string' || typeof err.message !== 'string' || err.message === '') {
    throw new Error(`expected a JSON error {error:{code,message}}, got ${res.status} ${res.headers.get('content-type')}: ${res.text.slice(0, 300)}`);
  }
  return { code: err.code, message: err.message };
}

/** Polls `fn` until it returns a defined value (generous deadline; no timing assertion). */
export async function waitFor<T>(fn: () => Promise<T | undefined>, what: string, deadlineMs = 30_000): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A request on its own TCP connection (node:http, no agent), for bodies the server may refuse
 * before reading them: such a connection must not be handed back to fetch's shared pool.
 * `chunked` sends the body without Content-Length (Transfer-Encoding: chunked).
 */
export function callOnFreshConnection(
  baseUrl: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; chunks: string[]; chunked?: boolean },
): Promise<CallResult> {
  const url = new URL(path, baseUrl);
  const headers: Record<string, string | number> = { ...opts.headers };
  if (!opts.chunked) headers['content-length'] = opts.chunks.reduce((n, c) => n + Buffer.byteLength(c), 0);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest({ host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers, agent: false }, (res) => {
      answered = true;
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        const responseHeaders = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') responseHeaders.set(k, v);
        const isJson = (res.headers['content-type'] ?? '').includes('json') && text !== '';
        resolve({ status: res.statusCode ?? 0, headers: responseHeaders, body: isJson ? (JSON.parse(text) as unknown) : undefined, text });
        req.destroy();
      });
    });
    // The server may answer (and stop reading) before the whole body is written: that is the point.
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const write = (i: number): void => {
      if (i >= opts.chunks.length || answered) {
        req.end();
        return;
      }
      if (req.write(opts.chunks[i]!)) setImmediate(() => write(i + 1));
      else req.once('drain', () => write(i + 1));
    };
    write(0);
  });
}
