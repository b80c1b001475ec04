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
import { TenantsWithUsage } from '../usage/tenants-with-usage.ts';
import { runAnomaliesCommand } from './anomalies.ts';
import { BENCH_USAGE, runBenchCommand } from './bench.ts';
import { runDashboardsCommand } from './dashboards.ts';
import { driveDemoTraffic, seedDemoTenants } from './demo.ts';
import { runSpoolCommand, SPOOL_USAGE } from './spool.ts';

const USAGE = `inferledger — observability and cost attribution for multi-tenant AI inference

usage: inferledger <command> [options]

commands:
  up [--demo]     all-in-one: embedded ClickHouse, migrations, sidecar + API + jobs on one port
                  (--demo seeds demo tenants, prints their keys once and drives demo traffic)
  sidecar         the inference sidecar alone (port INFERLEDGER_SIDECAR_PORT, default 8081)
  api             API + jobs against the configured ClickHouse (port INFERLEDGER_PORT, default 8080)
  migrate         apply schema migrations (idempotent)
  dashboards [--check] [--dir DIR] [--currency CODE]
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

/** The commands that need the config, their options and `--help` text. */
const CONFIGURED_COMMANDS = {
  up: {
    options: { demo: { type: 'boolean' } },
    usage: `usage: inferledger up [--demo]

All-in-one: embedded ClickHouse (or CLICKHOUSE_URL), migrations, sidecar, API, OTLP ingest and
scheduled jobs in one process on INFERLEDGER_PORT (default 8080).
  --demo   seed demo tenants (their keys are printed once) and drive demo traffic`,
  },
  sidecar: {
    options: {},
    usage: `usage: inferledger sidecar

The inference sidecar alone on INFERLEDGER_SIDECAR_PORT (default 8081). It exports its spans by
OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, else writes them to ClickHouse (CLICKHOUSE_URL).`,
  },
  api: {
    options: {},
    usage: `usage: inferledger api

API, OTLP ingest and scheduled jobs against the configured ClickHouse on INFERLEDGER_PORT
(default 8080).`,
  },
  migrate: {
    options: {},
    usage: `usage: inferledger migrate

Applies the schema migrations the configured ClickHouse lacks (idempotent: a second run applies
nothing).`,
  },
  statement: {
    options: { tenant: { type: 'string' }, period: { type: 'string' }, format: { type: 'string' } },
    usage: `usage: inferledger statement --tenant T --period YYYY-MM [--format json|csv|focus]

Prints a tenant's usage statement for a month (JSON by default). A month past its close grace is
issued and frozen on first request, as through the API. With the embedded engine, run it while
\`up\` is stopped.`,
  },
} as const satisfies Record<string, { options: Record<string, { type: 'boolean' | 'string' }>; usage: string }>;

type ConfiguredCommand = keyof typeof CONFIGURED_COMMANDS;

/** Options of a configured command, or the exit code after --help (0) or a usage error (2). */
function commandArgs(command: ConfiguredCommand, args: string[]): Record<string, string | boolean | undefined> | number {
  const { options, usage } = CONFIGURED_COMMANDS[command];
  try {
    const { values } = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
    if (values.help) {
      console.log(usage);
      return 0;
    }
    return values as Record<string, string | boolean | undefined>;
  } catch (err) {
    console.error(`${command}: ${(err as Error).message}\n${usage}`);
    return 2;
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command) {
    console.error(USAGE);
    return 2;
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return 0;
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
  // Help anywhere after the command (`spool list --help`), before the config is read.
  if (command === 'spool' && (['help', '--help', '-h'].includes(rest[0] ?? '') || rest.includes('--help') || rest.includes('-h'))) {
    console.log(SPOOL_USAGE);
    return 0;
  }
  if (command !== 'spool' && !(command in CONFIGURED_COMMANDS)) {
    console.error(`unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  // Arguments before the config: --help works with a broken config, and a usage error changes nothing.
  const args = command === 'spool' ? {} : commandArgs(command as ConfiguredCommand, rest);
  if (typeof args === 'number') return args;
  if (command === 'statement') {
    const problems = statementArgProblems(args);
    if (problems.length) {
      console.error(`${problems.join('\n')}\n${CONFIGURED_COMMANDS.statement.usage}`);
      return 2;
    }
  }
  const config = readConfig();
  if (!config) return 1;
  switch (command) {
    case 'migrate':
      return runMigrate(config);
    case 'statement':
      return runStatement(config, args.tenant as string, args.period as string, (args.format as StatementFormat | undefined) ?? 'json');
    case 'spool':
      return runSpoolCommand(rest, config.data_dir, { stdout: process.stdout, stderr: process.stderr });
    default:
      return runServer(config, command as ProcessKind, args.demo === true);
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

type StatementFormat = 'json' | 'csv' | 'focus';

function statementArgProblems(values: Record<string, string | boolean | undefined>): string[] {
  const format = values.format ?? 'json';
  const period = typeof values.period === 'string' ? values.period : '';
  return [
    tenantIdSchema.safeParse(values.tenant).success ? undefined : '--tenant: a tenant id is required (a-z, 0-9, "_", "-")',
    PERIOD_PATTERN.test(period) ? undefined : '--period: a month from 1970-01 to 2099-12 is required, as YYYY-MM',
    format === 'json' || format === 'csv' || format === 'focus' ? undefined : '--format: one of json, csv, focus',
  ].filter((p): p is string => p !== undefined);
}

async function runStatement(config: Readonly<Config>, tenantId: string, period: string, format: StatementFormat): Promise<number> {
  const store = await openStore({ url: config.clickhouse.url, cluster: config.clickhouse.cluster, dataDir: config.data_dir });
  try {
    await migrate(store, { cluster: config.clickhouse.cluster, rawTtlDays: config.clickhouse.raw_ttl_days });
    // The API answers 404 for an unknown tenant; so does the CLI, rather than issuing (and
    // freezing) an empty statement for a mistyped id. A tenant exists as for the API: named in
    // the config, holding a key, or with usage (fed by a collector, say).
    const keys = new KeyService(store, undefined);
    await keys.load();
    const withUsage = new TenantsWithUsage(store);
    await withUsage.refresh();
    if (!(tenantId in config.tenants) && !keys.tenantsWithKeys().has(tenantId) && !withUsage.has(tenantId)) {
      const where = config.clickhouse.url ? 'the ClickHouse server at CLICKHOUSE_URL' : `the data directory ${config.data_dir}`;
      console.error(`tenant "${tenantId}" not found in ${where} (not in the config, holds no API key, has no usage)`);
      return 1;
    }
    const billing = billingServices(config, store);
    const { statement, json } = await getStatement(billing.statements, tenantId, period);
    process.stdout.write(format === 'json' ? json : format === 'csv' ? renderCsv(statement) : renderFocus(statement, billing.focus(tenantId)));
    return 0;
  } finally {
    await store.close();
  }
}

async function runServer(config: Readonly<Config>, kind: ProcessKind, demo: boolean): Promise<number> {
  const port = kind === 'sidecar' ? config.sidecar.port : config.server.port;
  const platform = await startPlatform(config, { kind, port });
  // The address it listens on; localhost when that is every interface.
  const host = ['0.0.0.0', '::', ''].includes(config.server.host) ? 'localhost' : config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  const base = `http://${host}:${platform.port}`;
  console.log(`inferledger ${kind} listening on ${base} (ClickHouse: ${platform.store.mode === 'embedded' ? `embedded, ${config.data_dir}/clickhouse` : 'server'})`);
  if (platform.otlpGrpcPort !== undefined) console.log(`OTLP/gRPC on ${config.server.host}:${platform.otlpGrpcPort}`);
  if (kind === 'sidecar' && platform.store.mode === 'embedded') {
    // Found by hand: keys made on an `api` with its own data directory answered 401 here, silently.
    // With quotas.authority_url the keys are looked up at that API (startPlatform says so).
    if (config.quotas.authority_url === undefined) {
      console.log('note: this sidecar reads API keys from its own embedded ClickHouse; keys created through an api on another data directory are unknown here (set quotas.authority_url to that api, with its admin key as quotas.authority_key, or point every process at one ClickHouse server with CLICKHOUSE_URL)');
    }
  }
  // A generated key was printed by startPlatform as soon as it was made.
  if (!platform.adminKey.generated && platform.adminKey.path) console.log(`admin key: in ${platform.adminKey.path}`);
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
  const sent = await driveDemoTraffic(platform, 1, (note) => console.log(note));
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
