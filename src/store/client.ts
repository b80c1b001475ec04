import { accessSync, constants, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  ClickHouseError,
  ClickHouseLogLevel,
  createClient,
  type ClickHouseClient,
  type ClickHouseClientConfigOptions,
  type ClickHouseSettings,
  type Logger,
} from '@clickhouse/client';
import type { z } from 'zod';
import { AppError, zodMessage } from '../errors.ts';

/**
 * Settings applied to every query in both modes. Without the two quote settings, chdb returns
 * UInt64 as JSON numbers (precision lost past 2^53) and neither mode quotes Decimals: money and
 * counters would silently lose digits.
 */
export const CLICKHOUSE_SETTINGS: ClickHouseSettings = {
  output_format_json_quote_64bit_integers: 1,
  output_format_json_quote_decimals: 1,
  date_time_input_format: 'best_effort',
  date_time_output_format: 'simple',
};

/**
 * Added on a cluster (tables are Distributed, see store/migrate.ts):
 * - an insert returns once its rows are on their shards, not queued on the receiving node's disk
 *   to be forwarded later, so an acknowledged write is as durable as on a single node;
 * - a subquery over a Distributed table inside a query over one (`tenant_id IN (SELECT ...)`) is
 *   run once, over the whole cluster, and its result sent to every shard (GLOBAL): the answer is
 *   the same as on one node. ClickHouse's default refuses such queries.
 */
export const CLUSTER_SETTINGS: ClickHouseSettings = {
  insert_distributed_sync: 1,
  distributed_product_mode: 'global',
};

export type StoreMode = 'embedded' | 'server';

export interface QuerySpec<T> {
  query: string;
  params?: Record<string, unknown>;
  /** Validates every returned row: a schema drift fails loudly instead of yielding undefined. */
  schema?: z.ZodType<T>;
}

export interface Store {
  readonly mode: StoreMode;
  readonly client: ClickHouseClient;
  /** `ON CLUSTER` target for DDL, when running against a cluster. */
  readonly cluster: string | undefined;
  query<T = Record<string, unknown>>(spec: QuerySpec<T>): Promise<T[]>;
  /**
   * Rows as arrays in the SELECT's column order (JSONCompactEachRow), unvalidated: for reads of
   * hundreds of thousands of rows, where naming every column in every row was most of the bytes
   * the engine had to hand over. The caller checks each value.
   */
  queryCompact(spec: Omit<QuerySpec<never>, 'schema'>): Promise<unknown[][]>;
  command(query: string, params?: Record<string, unknown>): Promise<void>;
  insert(table: string, rows: readonly object[]): Promise<void>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** ClickHouse server URL; when absent the embedded engine (chdb) is used. */
  url?: string;
  cluster?: string;
  /** Data directory: the embedded engine keeps its files in `<dataDir>/clickhouse`. */
  dataDir: string;
  /** How long a server may take to answer the first contact (default 10 s). */
  connectTimeoutMs?: number;
}

const CONNECT_TIMEOUT_MS = 10_000;

/**
 * The client's own log. Its default logger prints a failed request's arguments and a stack
 * trace, twenty lines before our own message says the same in one: every error it logs is also
 * thrown to the caller that made the request, which reports it (or the API answers it), so
 * errors are left to them. Warnings (a setting the URL overrides, say) stay, on one line.
 */
class OneLineLogger implements Logger {
  trace(): void {}
  debug(): void {}
  info(): void {}
  warn({ module, message, err }: { module: string; message: string; err?: Error }): void {
    console.warn(`[clickhouse] ${module}: ${message}${err ? `: ${err.message}` : ''}`);
  }
  error(): void {}
}

export async function openStore(opts: StoreOptions): Promise<Store> {
  const settings = opts.cluster ? { ...CLICKHOUSE_SETTINGS, ...CLUSTER_SETTINGS } : CLICKHOUSE_SETTINGS;
  if (opts.url) {
    const client = createClient({
      url: opts.url,
      clickhouse_settings: settings,
      request_timeout: 60_000,
      log: { LoggerClass: OneLineLogger, level: ClickHouseLogLevel.WARN },
    });
    await probeServer(client, opts.url, opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS);
    return wrapClient(client, 'server', opts.cluster);
  }
  const path = join(opts.dataDir, 'clickhouse');
  mkdirSync(path, { recursive: true });
  // Loaded only for the embedded engine: a process talking to a server never maps the ~500 MB
  // engine library into memory.
  const { createChdbConnection } = await import('chdb/connection');
  // chdb implements @clickhouse/client-common's Connection; @clickhouse/client bundles its own copy
  // of the same types, so TypeScript sees two nominally different declarations of one contract.
  let connection: NonNullable<ClickHouseClientConfigOptions['connection']>;
  try {
    connection = createChdbConnection({ path }) as unknown as NonNullable<ClickHouseClientConfigOptions['connection']>;
  } catch (err) {
    // The engine prints its reason itself (most often: another process holds the directory's
    // lock) and throws a bare "Failed to create connection": say what usually causes it and what to do.
    const advice = writable(path)
      ? 'One process per data directory: if an inferledger up or api is running on it, stop it, use another INFERLEDGER_DATA_DIR, or point CLICKHOUSE_URL at a ClickHouse server'
      : `This process (uid ${process.getuid?.() ?? '?'}) cannot write there: fix its owner or permissions, or use another INFERLEDGER_DATA_DIR`;
    throw new AppError('unavailable', `could not open the embedded ClickHouse in ${path} (${(err as Error).message}; the engine's reason is printed above). ${advice}`);
  }
  const client = createClient({
    connection,
    clickhouse_settings: settings,
  });
  // A cluster for the embedded engine exists only in tests (one local shard from a config.xml).
  return wrapClient(client, 'embedded', opts.cluster);
}

/**
 * The first contact, as a `SELECT 1` (unlike /ping it checks the credentials), within a short
 * timeout: a wrong URL, a closed port, a server that never answers or refuses the user fails
 * start-up at once with one line that names the server (never its password), instead of after
 * the 60 s query timeout or deep inside the first migration.
 */
async function probeServer(client: ClickHouseClient, url: string, timeoutMs: number): Promise<void> {
  const result = await client.ping({ select: true, abort_signal: AbortSignal.timeout(timeoutMs) });
  if (result.success) return;
  await client.close().catch(() => {});
  const where = describeServer(url);
  const err = result.error as Error & { code?: string };
  const reason =
    err.name === 'TimeoutError' || err.name === 'AbortError' || /abort/i.test(err.message)
      ? `no answer within ${timeoutMs / 1000} s`
      : err.message || `an error without a message (${err.name}): is this ClickHouse's HTTP interface (usually port 8123)?`;
  throw new AppError('unavailable', `ClickHouse at ${where}: ${reason}`, { cause: err });
}

/** The URL without its credentials and query string: safe to print. */
function describeServer(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(the configured URL)';
  }
}

function wrapClient(client: ClickHouseClient, mode: StoreMode, cluster: string | undefined): Store {
  /**
   * Calls in flight, and whether close() has begun. A job still running at shutdown (the cost
   * gauge pricing a month, say) may call the store after close(): that call is refused, and
   * close() waits for the calls already in flight. The embedded engine crashes the whole process
   * (SIGSEGV) when it is used during or after its close.
   */
  const inFlight = new Set<Promise<unknown>>();
  let closing = false;
  const run = <T>(fn: () => Promise<T>): Promise<T> => {
    if (closing) return Promise.reject(new AppError('unavailable', 'ClickHouse: the store is closed (the process is shutting down)'));
    const call = runReportingErrors(fn);
    inFlight.add(call);
    void call.then(
      () => inFlight.delete(call),
      () => inFlight.delete(call),
    );
    return call;
  };
  return {
    mode,
    client,
    cluster,
    async query<T>({ query, params, schema }: QuerySpec<T>): Promise<T[]> {
      const rows = await run(() =>
        client.query({ query, query_params: params, format: 'JSONEachRow' }).then((r) => r.json<unknown>()),
      );
      if (!schema) return rows as T[];
      return rows.map((row, i) => {
        const parsed = schema.safeParse(row);
        if (!parsed.success) {
          throw new AppError('internal', `unexpected row ${i} from ClickHouse: ${zodMessage(parsed.error)}`);
        }
        return parsed.data;
      });
    },
    async queryCompact({ query, params }) {
      return run(() => client.query({ query, query_params: params, format: 'JSONCompactEachRow' }).then((r) => r.json<unknown[]>()));
    },
    async command(query, params) {
      await run(() => client.command({ query, query_params: params }));
    },
    async insert(table, rows) {
      if (rows.length === 0) return;
      await run(() => client.insert({ table, values: rows as object[], format: 'JSONEachRow' }));
    },
    async ping() {
      if (closing) return false;
      try {
        const r = await client.ping();
        return r.success;
      } catch {
        return false;
      }
    },
    async close() {
      closing = true;
      await Promise.allSettled([...inFlight]);
      await client.close();
    },
  };
}

/**
 * Store failures become errors with a kind, never empty results: callers must never read a failed
 * query as zero. An error reported by the engine (bad SQL, type mismatch) is ours to fix
 * (`internal`); anything else (refused connection, timeout) means the store is `unavailable`.
 */
async function runReportingErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AppError) throw err;
    const kind = err instanceof ClickHouseError ? 'internal' : 'unavailable';
    const e = err as Error;
    throw new AppError(kind, `ClickHouse: ${e.message || `${e.name} without a message`}`, { cause: err });
  }
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
