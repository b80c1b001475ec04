import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { KeyService } from '../auth/key-service.ts';
import { tenantIdSchema } from '../config/schema.ts';
import { billingServices, startPlatform, type Platform, type ProcessKind } from '../main.ts';
import { renderCsv, renderFocus } from '../statements/render.ts';
import { getStatement, PERIOD_PATTERN } from '../statements/statement-service.ts';
import { openStore } from '../store/client.ts';
import { migrate } from '../store/migrate.ts';
import { runAnomaliesCommand } from './anomalies.ts';
import { BENCH_USAGE, runBenchCommand } from './bench.ts';
import { runDashboardsCommand } from './dashboards.ts';
import { driveDemoTraffic, seedDemoTenants } from './demo.ts';
import { runSpoolCommand } from './spool.ts';

const USAGE = `inferledger — observability and cost attribution for multi-tenant AI inference

usage: inferledger <command> [options]

commands:
  up [--demo]     all-in-one: embedded ClickHouse, migrations, sidecar + API + jobs on one port
                  (--demo seeds demo tenants, prints their keys once and drives demo traffic)
  sidecar         the inference sidecar alone (port INFERLEDGER_SIDECAR_PORT, default 8081)
  api             API + jobs against the configured ClickHouse (port INFERLEDGER_PORT, default 8080)
  migrate         apply schema migrations (idempotent)
  dashboards [--check] [--dir DIR]
                  write (or, with --check, verify) the Grafana dashboards and provisioning in ./dashboards
  anomalies detect <file.csv>
                  score a timestamp,value CSV offline: writes timestamp,value,anomaly_score (causal)
  statement --tenant T --period YYYY-MM [--format json|csv|focus]
                  print a tenant's usage statement (a closed month is issued and frozen)
  bench [--suite name,...] [--json] [--requests N] [--rows N] [--data-dir DIR]
                  the benchmark suite (SPEC §10): table, or JSON with --json (bench --help for more)
  spool [list | requeue [--table T]]
                  spooled batches waiting for ClickHouse, and those it refused for their rows
                  (quarantined, with the reason); requeue puts them back once the cause is fixed
  help            this text

environment: INFERLEDGER_CONFIG, INFERLEDGER_DATA_DIR, CLICKHOUSE_URL, CLICKHOUSE_CLUSTER,
             INFERLEDGER_PORT, INFERLEDGER_SIDECAR_PORT, INFERLEDGER_ADMIN_KEY (see README)`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  // Offline: needs no config and no store.
  if (command === 'anomalies') return runAnomaliesCommand(rest, { stdout: process.stdout, stderr: process.stderr });
  if (command === 'dashboards') return runDashboardsCommand(rest, { stdout: process.stdout, stderr: process.stderr });
  // Builds its own config and temporary data directory: it never touches ./data or the operator's config.
  if (command === 'bench') {
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(BENCH_USAGE);
      return 0;
    }
    return runBenchCommand(rest, { stdout: process.stdout, stderr: process.stderr });
  }
  const config = readConfig();
  if (!config) return 1;
  switch (command) {
    case 'migrate':
      return runMigrate(config);
    case 'statement':
      return runStatement(config, rest);
    case 'spool':
      return runSpoolCommand(rest, config.data_dir, { stdout: process.stdout, stderr: process.stderr });
    case 'up':
    case 'sidecar':
    case 'api': {
      const { values } = parseArgs({ args: rest, options: { demo: { type: 'boolean', default: false } }, strict: true });
      return runServer(config, command, values.demo === true);
    }
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

function readConfig(): Readonly<Config> | undefined {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return undefined;
    }
    throw err;
  }
}

async function runMigrate(config: Readonly<Config>): Promise<number> {
  const store = await openStore({ url: config.clickhouse.url, cluster: config.clickhouse.cluster, dataDir: config.data_dir });
  try {
    const result = await migrate(store, { cluster: config.clickhouse.cluster, rawTtlDays: config.clickhouse.raw_ttl_days }, console.log);
    console.log(result.applied.length ? `applied ${result.applied.length} migration(s)` : `schema up to date (${result.alreadyApplied} migrations)`);
    return 0;
  } finally {
    await store.close();
  }
}

async function runStatement(config: Readonly<Config>, args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { tenant: { type: 'string' }, period: { type: 'string' }, format: { type: 'string', default: 'json' } },
    strict: true,
  });
  const tenant = tenantIdSchema.safeParse(values.tenant);
  const format = values.format;
  const problems = [
    tenant.success ? undefined : '--tenant: a tenant id is required (a-z, 0-9, "_", "-")',
    values.period && PERIOD_PATTERN.test(values.period) ? undefined : '--period: a month is required, as YYYY-MM',
    format === 'json' || format === 'csv' || format === 'focus' ? undefined : '--format: one of json, csv, focus',
  ].filter((p): p is string => p !== undefined);
  if (problems.length || !tenant.success || !values.period) {
    console.error(problems.join('\n'));
    return 2;
  }
  const store = await openStore({ url: config.clickhouse.url, cluster: config.clickhouse.cluster, dataDir: config.data_dir });
  try {
    await migrate(store, { cluster: config.clickhouse.cluster, rawTtlDays: config.clickhouse.raw_ttl_days });
    // The API answers 404 for an unknown tenant; so does the CLI, rather than issuing (and
    // freezing) an empty statement for a mistyped id.
    const keys = new KeyService(store, undefined);
    await keys.load();
    if (!(tenant.data in config.tenants) && !keys.tenantsWithKeys().has(tenant.data)) {
      console.error(`tenant "${tenant.data}" not found (not in the config and holds no API key)`);
      return 1;
    }
    const billing = billingServices(config, store);
    const { statement, json } = await getStatement(billing.statements, tenant.data, values.period);
    process.stdout.write(format === 'json' ? json : format === 'csv' ? renderCsv(statement) : renderFocus(statement, billing.focus(tenant.data)));
    return 0;
  } finally {
    await store.close();
  }
}

async function runServer(config: Readonly<Config>, kind: ProcessKind, demo: boolean): Promise<number> {
  const port = kind === 'sidecar' ? config.sidecar.port : config.server.port;
  const platform = await startPlatform(config, { kind, port });
  const base = `http://localhost:${platform.port}`;
  console.log(`inferledger ${kind} listening on ${base} (ClickHouse: ${platform.store.mode === 'embedded' ? `embedded, ${config.data_dir}/clickhouse` : 'server'})`);
  if (platform.otlpGrpcPort !== undefined) console.log(`OTLP/gRPC on ${config.server.host}:${platform.otlpGrpcPort}`);
  if (kind === 'sidecar' && platform.store.mode === 'embedded') {
    // Found by hand: keys made on an `api` with its own data directory answered 401 here, silently.
    console.log('note: this sidecar reads API keys from its own embedded ClickHouse; keys created through an api on another data directory are unknown here (point every process at one ClickHouse server with CLICKHOUSE_URL)');
  }
  if (platform.adminKey.generated) {
    console.log(`\nadmin key (shown once, saved to ${platform.adminKey.path} with mode 0600):\n  ${platform.adminKey.key}\n`);
  } else if (platform.adminKey.path) {
    console.log(`admin key: in ${platform.adminKey.path}`);
  }
  let trickle: NodeJS.Timeout | undefined;
  if (demo && kind === 'up') {
    await startDemo(platform, base);
    trickle = setInterval(() => void driveDemoTraffic(platform, 0.1).catch(() => {}), 15_000);
  }
  await waitForSignal();
  console.log('shutting down: flushing telemetry...');
  if (trickle) clearInterval(trickle);
  await platform.close();
  return 0;
}

async function startDemo(platform: Platform, base: string): Promise<void> {
  const created = await seedDemoTenants(platform);
  if (created.length) {
    console.log('demo tenant keys (shown once):');
    for (const { tenant, key } of created) console.log(`  ${tenant.padEnd(8)} ${key}`);
    const first = created[0]!;
    console.log(`\ntry:\n  curl -s -H "Authorization: Bearer ${first.key}" ${base}/v1/tenants/${first.tenant}/usage\n`);
  } else {
    console.log('demo tenants already seeded (their keys were printed on first start; an admin can list, revoke and create keys: GET, DELETE and POST /v1/tenants/{tenant}/keys)');
  }
  const sent = await driveDemoTraffic(platform);
  await platform.runRollup();
  console.log(`demo traffic: ${sent} real inference requests recorded; more every 15 s`);
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}

// `inferledger anomalies detect big.csv | head` closes the pipe early: that is the reader saying
// it has enough, not a failure.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`inferledger: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
