import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { startPlatform, type Platform } from '../main.ts';

/**
 * A real all-in-one platform (`inferledger up`: embedded ClickHouse, sidecar, API, jobs) on
 * 127.0.0.1 and a free port, configured the way an operator would (a YAML file), for the suites
 * that measure the product as it runs. One per bench run: chdb holds one data directory per
 * process, and the queries suite reads and writes through this platform's store.
 */

/** The bench platform's config file, in its data directory: also what marks a directory as the bench's scratch. */
export const BENCH_CONFIG_FILE = 'inferledger-bench.yaml';

export const BENCH_TENANT = 'bench';
/** The tenant the HTTP quota check leases for (its own requests_per_minute limit). */
export const QUOTA_TENANT = 'bench-quota';

export interface BenchPlatformOptions {
  dataDir: string;
  quotaLimitPerMinute: number;
  log: (line: string) => void;
}

export interface BenchPlatform {
  readonly platform: Platform;
  readonly config: Readonly<Config>;
  readonly baseUrl: string;
  readonly adminKey: string;
  /** A tenant key of BENCH_TENANT, for the inference calls. */
  readonly tenantKey: string;
  /** Process RSS just before the platform started (the bench's own footprint). */
  readonly rssBeforeStartBytes: number;
  close(): Promise<void>;
}

export async function startBenchPlatform(opts: BenchPlatformOptions): Promise<BenchPlatform> {
  const rssBeforeStartBytes = process.memoryUsage().rss;
  const configPath = join(opts.dataDir, BENCH_CONFIG_FILE);
  writeFileSync(
    configPath,
    toYaml({
      server: { host: '127.0.0.1' },
      tenants: { [BENCH_TENANT]: {}, [QUOTA_TENANT]: { quotas: { requests_per_minute: opts.quotaLimitPerMinute } } },
    }),
  );
  const adminKey = `il_admin_bench_${randomBytes(16).toString('hex')}`;
  const config = loadConfig({ INFERLEDGER_DATA_DIR: opts.dataDir, INFERLEDGER_ADMIN_KEY: adminKey, INFERLEDGER_CONFIG: configPath }, opts.dataDir);
  const platform = await startPlatform(config, { kind: 'up', port: 0, log: opts.log, env: {} });
  try {
    const { key: tenantKey } = await platform.keys.create(BENCH_TENANT, 'tenant');
    return {
      platform,
      config,
      baseUrl: `http://127.0.0.1:${platform.port}`,
      adminKey,
      tenantKey,
      rssBeforeStartBytes,
      close: () => platform.close(),
    };
  } catch (err) {
    await platform.close();
    throw err;
  }
}
