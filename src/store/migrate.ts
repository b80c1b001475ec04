import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { Store } from './client.ts';

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface Migration {
  version: number;
  name: string;
  /** The template text; its checksum detects an applied migration edited afterwards. */
  sql: string;
  checksum: string;
}

export interface RenderOptions {
  /**
   * A ClickHouse cluster: every table becomes `<name>_local` (replicated, created `ON CLUSTER`)
   * plus a Distributed table `<name>` over it, so the code reads and writes the same names either way.
   */
  cluster?: string;
  rawTtlDays: number;
  /**
   * The cluster layout without `ON CLUSTER` and Replicated engines: Distributed tables over plain
   * local ones, for a single node without ClickHouse Keeper. Only the tests use it, to run the
   * layout's SQL for real on the embedded engine.
   */
  withoutReplication?: boolean;
}

/**
 * How each table's rows are spread over a cluster's shards. Rows that replace each other (same
 * ReplacingMergeTree key) must land on the same shard, or FINAL, which merges within a shard,
 * would keep both: so every key below is a function of its table's ORDER BY key alone. Spans and
 * requests go by trace id: the requests view runs on each shard over that shard's spans, so a
 * re-sent span and the request it makes meet their first copies. Every table a migration creates
 * must be listed. Metric points are never replaced, but a repeated insert is dropped by block hash
 * per shard (0008), so the same rows must split over the shards the same way: no rand().
 */
export const SHARDING_KEYS: Readonly<Record<string, string>> = {
  schema_migrations: 'version',
  otel_traces: 'cityHash64(TraceId)',
  requests: 'cityHash64(trace_id)',
  usage_hourly: 'cityHash64(tenant_id)',
  job_watermarks: 'cityHash64(job)',
  resource_samples: 'cityHash64(instance_id)',
  gpu_samples: 'cityHash64(instance_id)',
  api_keys: 'cityHash64(key_hash)',
  capacity_hourly: 'cityHash64(instance_id)',
  statements: 'cityHash64(tenant_id)',
  alerts: 'cityHash64(tenant_id)',
  alert_events: 'cityHash64(tenant_id)',
  otel_metrics_gauge: 'cityHash64(ServiceName, MetricName)',
  otel_metrics_sum: 'cityHash64(ServiceName, MetricName)',
  otel_metrics_histogram: 'cityHash64(ServiceName, MetricName)',
  otel_metrics_exponential_histogram: 'cityHash64(ServiceName, MetricName)',
  otel_metrics_summary: 'cityHash64(ServiceName, MetricName)',
  attribution_days: 'cityHash64(day)',
};

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const files = readdirSync(dir).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f));
  const migrations = files.map((file) => {
    const sql = readFileSync(join(dir, file), 'utf8');
    return {
      version: Number(file.slice(0, 4)),
      name: file.replace(/\.sql$/, ''),
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
    };
  });
  migrations.sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration numbering has a gap or duplicate at ${m.name} (expected ${i + 1})`);
  });
  return migrations;
}

/**
 * Fills the placeholders of a migration template:
 * - `{{on_cluster}}`: `ON CLUSTER name` when a cluster is configured, else nothing;
 * - `{{engine:X}}`: `X`, or `ReplicatedX` on a cluster (replica path from the server defaults);
 * - `{{raw_ttl_days}}`: retention of raw spans and requests.
 */
export function renderMigration(sql: string, opts: RenderOptions): string {
  const replicated = opts.cluster !== undefined && !opts.withoutReplication;
  return sql
    .replaceAll('{{on_cluster}}', replicated ? `ON CLUSTER ${opts.cluster}` : '')
    .replace(/\{\{engine:([A-Za-z]+)(\([^)]*\))?\}\}/g, (_m, engine: string, args = '') =>
      replicated ? `Replicated${engine}${args}` : `${engine}${args}`,
    )
    .replaceAll('{{raw_ttl_days}}', String(opts.rawTtlDays));
}

/**
 * A migration template as the statements to run. Without a cluster: the template as written. On a
 * cluster, each `CREATE TABLE IF NOT EXISTS t {{on_cluster}}` creates `t_local` and is followed by
 * the Distributed table `t` over it, `ALTER TABLE t {{on_cluster}}` changes both (a storage
 * setting: the local table only, and a `non_replicated_*` one only an unreplicated local table), and materialized views read and
 * write the local tables (each shard turns its own spans into its own requests). The template text, and so its checksum, is the
 * same in both layouts.
 */
export function renderStatements(sql: string, opts: RenderOptions): string[] {
  const cluster = opts.cluster;
  if (cluster === undefined) return splitStatements(renderMigration(sql, opts));
  const onCluster = opts.withoutReplication ? '' : ` ON CLUSTER ${cluster}`;
  return splitStatements(sql).flatMap((template) => {
    const table = /^CREATE TABLE IF NOT EXISTS (\w+) \{\{on_cluster\}\}/.exec(template)?.[1];
    if (table !== undefined) {
      const key = SHARDING_KEYS[table];
      if (key === undefined) throw new Error(`table ${table} has no sharding key: add it to SHARDING_KEYS in src/store/migrate.ts`);
      const local = template.replace(`EXISTS ${table} `, `EXISTS ${table}_local `);
      return [
        renderMigration(local, opts),
        `CREATE TABLE IF NOT EXISTS ${table}${onCluster} AS ${table}_local ENGINE = Distributed(${cluster}, currentDatabase(), ${table}_local, ${key})`,
      ];
    }
    const altered = /^ALTER TABLE (\w+) \{\{on_cluster\}\}/.exec(template)?.[1];
    if (altered !== undefined && /MODIFY TTL /.test(template)) {
      // Rows expire in the local tables; a Distributed table has no TTL.
      return [renderMigration(template.replace(`TABLE ${altered} `, `TABLE ${altered}_local `), opts)];
    }
    if (altered !== undefined && /MODIFY SETTING /.test(template)) {
      // A storage setting of the local table: a Distributed table takes no MergeTree settings.
      // A `non_replicated_*` one only where the local table is not Replicated (Replicated tables
      // have their own, and deduplicate inserts by default).
      if (/MODIFY SETTING non_replicated_/.test(template) && !opts.withoutReplication) return [];
      return [renderMigration(template.replace(`TABLE ${altered} `, `TABLE ${altered}_local `), opts)];
    }
    if (altered !== undefined && /MODIFY QUERY/.test(template)) {
      // A view's new SELECT reads the local tables, as its CREATE does.
      return [renderMigration(template.replace(/\bFROM (\w+)\b/g, (m, name: string) => (name in SHARDING_KEYS ? `FROM ${name}_local` : m)), opts)];
    }
    if (altered !== undefined && altered in SHARDING_KEYS) {
      // The Distributed table has the columns too: change the local table first, then it.
      return [renderMigration(template.replace(`TABLE ${altered} `, `TABLE ${altered}_local `), opts), renderMigration(template, opts)];
    }
    if (/^CREATE MATERIALIZED VIEW/.test(template)) {
      const local = template.replace(/\b(TO|FROM) (\w+)\b/g, (m, word: string, name: string) => (name in SHARDING_KEYS ? `${word} ${name}_local` : m));
      return [renderMigration(local, opts)];
    }
    return [renderMigration(template, opts)];
  });
}

/** Splits a rendered migration into statements; `--` comments are dropped first. */
export function splitStatements(sql: string): string[] {
  return sql
    .split('\n')
    .map((line) => line.replace(/--.*$/, ''))
    .join('\n')
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

const appliedRow = z.object({ version: z.coerce.number(), name: z.string(), checksum: z.string() });

export interface MigrateResult {
  applied: string[];
  alreadyApplied: number;
}

/**
 * Applies pending migrations in order and records each in `schema_migrations`. Idempotent: every
 * statement is `IF NOT EXISTS`, so a migration interrupted half-way is simply re-run.
 */
export async function migrate(store: Store, opts: RenderOptions, log: (line: string) => void = () => {}): Promise<MigrateResult> {
  const ledger = `CREATE TABLE IF NOT EXISTS schema_migrations {{on_cluster}} (
       version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC')
     ) ENGINE = {{engine:ReplacingMergeTree(applied_at)}} ORDER BY version`;
  for (const statement of renderStatements(ledger, opts)) await store.command(statement);
  const applied = await store.query({
    query: 'SELECT version, name, checksum FROM schema_migrations FINAL ORDER BY version',
    schema: appliedRow,
  });
  const byVersion = new Map(applied.map((a) => [a.version, a]));
  const result: MigrateResult = { applied: [], alreadyApplied: 0 };
  // Found by dogfooding: an older build started on a newer schema without a word, ignored what
  // the newer one keeps in a newer layout (webhook notifications waiting to be sent) and paged a
  // resolve before its firing. An older build cannot know what a newer schema means: refuse.
  const known = new Set(loadMigrations().map((m) => m.version));
  const newer = applied.filter((a) => !known.has(a.version));
  if (newer.length > 0) {
    throw new Error(
      `this ClickHouse database was migrated by a newer inferledger (${newer.map((a) => a.name).join(', ')} unknown to this version): ` +
        'run that version or a later one; an older version may misread or ignore what the newer one stored',
    );
  }

  for (const m of loadMigrations()) {
    const done = byVersion.get(m.version);
    if (done) {
      if (done.checksum !== m.checksum) {
        throw new Error(`migration ${m.name} was changed after it was applied (checksum differs); add a new migration instead`);
      }
      result.alreadyApplied++;
      continue;
    }
    log(`applying migration ${m.name}`);
    for (const statement of renderStatements(m.sql, opts)) {
      await store.command(statement);
    }
    await store.insert('schema_migrations', [
      { version: m.version, name: m.name, checksum: m.checksum, applied_at: new Date().toISOString() },
    ]);
    result.applied.push(m.name);
  }
  await applyRawTtl(store, opts, log);
  return result;
}

/** The tables whose rows expire after `clickhouse.raw_ttl_days`, and the time column their TTL reads. */
const RAW_TTL_COLUMNS: Readonly<Record<string, string>> = {
  otel_traces: 'Timestamp',
  requests: 'ts',
  otel_metrics_gauge: 'TimeUnix',
  otel_metrics_sum: 'TimeUnix',
  otel_metrics_histogram: 'TimeUnix',
  otel_metrics_exponential_histogram: 'TimeUnix',
  otel_metrics_summary: 'TimeUnix',
};

const tableTtlRow = z.object({ name: z.string(), engine_full: z.string() });

/**
 * Makes the raw tables keep what `clickhouse.raw_ttl_days` says now. Their TTL is written when a
 * migration creates them, and migrations run once: found by dogfooding, raising the setting on an
 * existing installation made the receiver accept spans the tables then dropped (an October
 * statement issued empty), and lowering it kept rows the README says are gone. The change applies
 * to rows as parts merge (`materialize_ttl_after_modify = 0`), so it does not rewrite a large
 * table at start.
 */
async function applyRawTtl(store: Store, opts: RenderOptions, log: (line: string) => void): Promise<void> {
  const local = (table: string) => (opts.cluster === undefined ? table : `${table}_local`);
  const tables = await store.query({
    query: 'SELECT name, engine_full FROM system.tables WHERE database = currentDatabase() AND name IN {names:Array(String)}',
    params: { names: Object.keys(RAW_TTL_COLUMNS).map(local) },
    schema: tableTtlRow,
  });
  for (const [table, column] of Object.entries(RAW_TTL_COLUMNS)) {
    const engine = tables.find((t) => t.name === local(table))?.engine_full;
    if (engine === undefined) continue;
    const days = /TTL toDateTime\(\w+\) \+ toIntervalDay\((\d+)\)/.exec(engine)?.[1];
    if (days === String(opts.rawTtlDays)) continue;
    const alter = `ALTER TABLE ${table} {{on_cluster}} MODIFY TTL toDateTime(${column}) + toIntervalDay({{raw_ttl_days}}) SETTINGS materialize_ttl_after_modify = 0`;
    for (const statement of renderStatements(alter, opts)) await store.command(statement);
    log(`clickhouse.raw_ttl_days: ${table} keeps ${opts.rawTtlDays} days of rows from now on (was ${days ?? 'another rule'})`);
  }
}
