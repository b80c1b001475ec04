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
  cluster?: string;
  rawTtlDays: number;
}

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
  return sql
    .replaceAll('{{on_cluster}}', opts.cluster ? `ON CLUSTER ${opts.cluster}` : '')
    .replace(/\{\{engine:([A-Za-z]+)(\([^)]*\))?\}\}/g, (_m, engine: string, args = '') =>
      opts.cluster ? `Replicated${engine}${args}` : `${engine}${args}`,
    )
    .replaceAll('{{raw_ttl_days}}', String(opts.rawTtlDays));
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
  const onCluster = opts.cluster ? `ON CLUSTER ${opts.cluster}` : '';
  await store.command(
    `CREATE TABLE IF NOT EXISTS schema_migrations ${onCluster} (
       version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC')
     ) ENGINE = ${opts.cluster ? 'ReplicatedReplacingMergeTree' : 'ReplacingMergeTree'}(applied_at) ORDER BY version`,
  );
  const applied = await store.query({
    query: 'SELECT version, name, checksum FROM schema_migrations FINAL ORDER BY version',
    schema: appliedRow,
  });
  const byVersion = new Map(applied.map((a) => [a.version, a]));
  const result: MigrateResult = { applied: [], alreadyApplied: 0 };

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
    for (const statement of splitStatements(renderMigration(m.sql, opts))) {
      await store.command(statement);
    }
    await store.insert('schema_migrations', [
      { version: m.version, name: m.name, checksum: m.checksum, applied_at: new Date().toISOString() },
    ]);
    result.applied.push(m.name);
  }
  return result;
}
