import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { BUNDLED_MODELS_DIR, loadConfig } from '../src/config/load.ts';
import { configSchema } from '../src/config/schema.ts';
import { METRIC_TABLES } from '../src/ingest/otlp/metric-rows.ts';

/**
 * What can be checked about the deployment files without Docker: they parse, point at files
 * that exist, pin their images, agree with the SPEC's default ports and with our schema.
 */

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const read = (path: string) => readFileSync(resolve(ROOT, path), 'utf8');

interface Healthcheck {
  test?: string | string[];
}
interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string> | string[];
  volumes?: Array<string | { type?: string; source?: string; target?: string }>;
  ports?: Array<string | { target?: number; published?: string | number }>;
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: Healthcheck;
  profiles?: string[];
  deploy?: { resources?: { reservations?: { devices?: Array<{ driver?: string; capabilities?: string[] }> } } };
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

// `merge: true`: the file shares the app's environment through a YAML merge key (`<<:`).
const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose;
const services = Object.entries(compose.services);

function envOf(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
  return Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

/** Container-side port of each published mapping, e.g. "127.0.0.1:8123:8123" -> 8123. */
function containerPorts(service: Service): number[] {
  return (service.ports ?? []).map((p) => {
    if (typeof p !== 'string') return Number(p.target);
    const container = p.split('/')[0]!.split(':').at(-1)!;
    return Number(container);
  });
}

function publishedPorts(service: Service): number[] {
  return (service.ports ?? []).map((p) => {
    if (typeof p !== 'string') return Number(p.published);
    const parts = p.split('/')[0]!.split(':');
    return Number(parts.length >= 2 ? parts.at(-2) : parts[0]);
  });
}

/** Host side of bind mounts: short syntax "host:container[:mode]" whose host part is a path. */
function bindSources(service: Service): string[] {
  const out: string[] = [];
  for (const v of service.volumes ?? []) {
    if (typeof v === 'string') {
      const host = v.split(':')[0]!;
      if (host.startsWith('.') || host.startsWith('/') || host.startsWith('~')) out.push(host);
    } else if (v.type === 'bind' && v.source) {
      out.push(v.source);
    }
  }
  return out;
}

function dependsOn(service: Service): Record<string, string | undefined> {
  const d = service.depends_on ?? {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((name) => [name, undefined]));
  return Object.fromEntries(Object.entries(d).map(([name, v]) => [name, v.condition]));
}

/** Ports the images listen on without publishing them (documented defaults of each image). */
const IMAGE_PORTS: Record<string, number[]> = {
  'clickhouse/clickhouse-server': [8123, 9000],
  'prom/prometheus': [9090],
  'prom/alertmanager': [9093],
  'grafana/grafana': [3000],
  'nvcr.io/nvidia/k8s/dcgm-exporter': [9400],
  'otel/opentelemetry-collector-contrib': [4317, 4318, 13133],
};

/** Ports a compose service can be reached on inside the compose network. */
function containerPortsOrExposed(name: string): number[] {
  const service = compose.services[name];
  if (!service) return [];
  const repo = (service.image ?? '').split('@')[0]!.replace(/:[^/:]*$/, '');
  const env = envOf(service);
  const appPorts = ['INFERLEDGER_PORT', 'INFERLEDGER_SIDECAR_PORT', 'INFERLEDGER_METRICS_PORT'].flatMap((k) => (env[k] ? [Number(env[k])] : []));
  return [...containerPorts(service), ...(IMAGE_PORTS[repo] ?? []), ...appPorts];
}

const commandOf = (s: Service) => (Array.isArray(s.command) ? s.command.join(' ') : (s.command ?? ''));
const serviceRunning = (cmd: string) => services.find(([, s]) => s.build !== undefined && commandOf(s).split(' ')[0] === cmd);

describe('docker-compose.yml', () => {
  it('has the production-shaped single-node services (SPEC §8), the DCGM exporter behind the gpu profile', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'alertmanager',
      'clickhouse',
      'dcgm-exporter',
      'grafana',
      'inferledger-api',
      'inferledger-sidecar',
      'otel-collector',
      'prometheus',
    ]);
    const dcgm = compose.services['dcgm-exporter']!;
    expect(dcgm.profiles).toEqual(['gpu']);
    expect(dcgm.image).toMatch(/^nvcr\.io\/nvidia\/k8s\/dcgm-exporter:/);
    expect(dcgm.deploy?.resources?.reservations?.devices?.[0]).toMatchObject({ driver: 'nvidia', capabilities: ['gpu'] });
    // Only the GPU exporter is optional: nothing outside the profile may wait on it.
    for (const [name, s] of services) if (name !== 'dcgm-exporter') expect(Object.keys(dependsOn(s)), name).not.toContain('dcgm-exporter');
  });

  it('bind-mounts only host paths that exist', () => {
    const sources = services.flatMap(([, s]) => bindSources(s));
    expect(sources).toEqual(
      expect.arrayContaining([
        './collectors/otelcol-config.yaml',
        './collectors/prometheus',
        './collectors/alertmanager',
        './collectors/inferledger/compose.yaml',
        './dashboards/provisioning/datasources',
        './dashboards/provisioning/dashboards',
        './dashboards',
      ]),
    );
    for (const src of sources) expect(existsSync(isAbsolute(src) ? src : resolve(ROOT, src)), src).toBe(true);
  });

  it('builds from a context and Dockerfile that exist', () => {
    const builds = services.filter(([, s]) => s.build !== undefined);
    expect(builds.map(([name]) => name).sort()).toEqual(['inferledger-api', 'inferledger-sidecar']);
    for (const [name, s] of builds) {
      const build = typeof s.build === 'string' ? { context: s.build } : s.build!;
      const context = resolve(ROOT, build.context ?? '.');
      expect(statSync(context).isDirectory(), `${name} context`).toBe(true);
      const dockerfile = resolve(context, build.dockerfile ?? 'Dockerfile');
      expect(existsSync(dockerfile), `${name} dockerfile ${dockerfile}`).toBe(true);
    }
  });

  it('pins every image to a tag other than latest', () => {
    for (const [name, s] of services) {
      expect(s.image, `${name} has an image`).toBeTypeOf('string');
      const image = s.image!.split('@')[0]!;
      const tag = image.includes(':', image.lastIndexOf('/')) ? image.slice(image.lastIndexOf(':') + 1) : '';
      expect(tag, `${name} image ${s.image}`).toMatch(/^[A-Za-z0-9][\w.-]*$/);
      expect(tag, `${name} image ${s.image}`).not.toBe('latest');
    }
  });

  it('names named volumes at the top level', () => {
    for (const [name, s] of services) {
      for (const v of s.volumes ?? []) {
        if (typeof v !== 'string') continue;
        const host = v.split(':')[0]!;
        if (/^[A-Za-z0-9][\w.-]*$/.test(host)) expect(compose.volumes ?? {}, `${name}: volume ${host}`).toHaveProperty(host);
      }
    }
  });

  it('runs the API on the SPEC default port 8080, set, published and probed alike', () => {
    const entry = serviceRunning('api');
    expect(entry, 'a built service runs `api`').toBeDefined();
    const [, api] = entry!;
    expect(envOf(api).INFERLEDGER_PORT).toBe('8080');
    expect(containerPorts(api)).toContain(8080);
    expect(publishedPorts(api)).toContain(8080);
    expect(JSON.stringify(api.healthcheck?.test)).toContain('127.0.0.1:8080/healthz');
  });

  it('runs the sidecar on the SPEC default port 8081, set, published and probed alike', () => {
    const entry = serviceRunning('sidecar');
    expect(entry, 'a built service runs `sidecar`').toBeDefined();
    const [, sidecar] = entry!;
    expect(envOf(sidecar).INFERLEDGER_SIDECAR_PORT).toBe('8081');
    expect(containerPorts(sidecar)).toContain(8081);
    expect(publishedPorts(sidecar)).toContain(8081);
    expect(JSON.stringify(sidecar.healthcheck?.test)).toContain('127.0.0.1:8081/healthz');
  });

  it('points both app services at the clickhouse service and the same admin key', () => {
    for (const cmd of ['api', 'sidecar']) {
      const env = envOf(serviceRunning(cmd)![1]);
      expect(new URL(env.CLICKHOUSE_URL!.replace(/\$\{[^}]*\}/g, 'x')).host).toBe('clickhouse:8123');
      expect(env.INFERLEDGER_ADMIN_KEY).toMatch(/^\$\{INFERLEDGER_ADMIN_KEY[:?}]/);
    }
  });

  it('gives a healthcheck to every service another waits on with service_healthy', () => {
    let waits = 0;
    for (const [name, s] of services) {
      for (const [dep, condition] of Object.entries(dependsOn(s))) {
        expect(compose.services, `${name} depends on ${dep}`).toHaveProperty(dep);
        if (condition !== 'service_healthy') continue;
        waits++;
        const test = compose.services[dep]!.healthcheck?.test;
        expect(test, `${dep} (awaited by ${name}) has a healthcheck`).toBeDefined();
        expect(Array.isArray(test) ? test.length : String(test).length).toBeGreaterThan(0);
      }
    }
    expect(waits).toBeGreaterThanOrEqual(8);
  });

  it('starts the sidecar and the collector only after the API has migrated the schema', () => {
    expect(dependsOn(compose.services['inferledger-sidecar']!)['inferledger-api']).toBe('service_healthy');
    expect(dependsOn(compose.services['otel-collector']!)['inferledger-api']).toBe('service_healthy');
  });

  it('serves unauthenticated /metrics on 9464 in both app services, unpublished', () => {
    for (const cmd of ['api', 'sidecar']) {
      const [name, service] = serviceRunning(cmd)!;
      expect(envOf(service).INFERLEDGER_METRICS_PORT, name).toBe('9464');
      expect(publishedPorts(service), `${name} keeps 9464 on the compose network`).not.toContain(9464);
    }
  });

  it('gives both app services a config file that loads with the real loader and alerts to Alertmanager', () => {
    for (const cmd of ['api', 'sidecar']) {
      const [name, service] = serviceRunning(cmd)!;
      const env = envOf(service);
      const target = env.INFERLEDGER_CONFIG!;
      expect(target, `${name} INFERLEDGER_CONFIG`).toBeTypeOf('string');
      const mount = (service.volumes ?? []).find((v): v is string => typeof v === 'string' && v.split(':')[1] === target);
      expect(mount, `${name} mounts ${target}`).toBeDefined();
      const host = mount!.split(':')[0]!;
      const config = loadConfig(
        {
          INFERLEDGER_CONFIG: host,
          INFERLEDGER_PORT: env.INFERLEDGER_PORT,
          INFERLEDGER_SIDECAR_PORT: env.INFERLEDGER_SIDECAR_PORT,
          INFERLEDGER_METRICS_PORT: env.INFERLEDGER_METRICS_PORT,
        },
        ROOT,
      );
      expect(config.server.metrics_port).toBe(9464);
      expect(config.alerts.alertmanager?.url).toBe('http://alertmanager:9093');
      // The bundled models (in the image) serve, as without a config file.
      expect(config.models.map((m) => m.path.startsWith(BUNDLED_MODELS_DIR + '/'))).not.toContain(false);
    }
    const am = new URL(loadConfig({ INFERLEDGER_CONFIG: 'collectors/inferledger/compose.yaml' }, ROOT).alerts.alertmanager!.url);
    expect(compose.services).toHaveProperty(am.hostname);
    expect(containerPortsOrExposed(am.hostname)).toContain(Number(am.port));
  });

  it('mounts the Prometheus, Alertmanager and Grafana files where their configs expect them', () => {
    const prom = compose.services.prometheus!;
    expect(prom.volumes).toContain('./collectors/prometheus:/etc/prometheus:ro');
    expect(commandOf(prom)).toContain('--config.file=/etc/prometheus/prometheus.yml');
    const am = compose.services.alertmanager!;
    expect(am.volumes).toContain('./collectors/alertmanager:/etc/alertmanager:ro');
    expect(commandOf(am)).toContain('--config.file=/etc/alertmanager/alertmanager.yml');
    expect(existsSync(resolve(ROOT, 'collectors/alertmanager/alertmanager.yml'))).toBe(true);

    const grafana = compose.services.grafana!;
    const env = envOf(grafana);
    expect(env.GF_INSTALL_PLUGINS).toMatch(/^grafana-clickhouse-datasource \d+\.\d+\.\d+$/);
    expect(grafana.volumes).toEqual(
      expect.arrayContaining([
        './dashboards/provisioning/datasources:/etc/grafana/provisioning/datasources:ro',
        './dashboards/provisioning/dashboards:/etc/grafana/provisioning/dashboards:ro',
      ]),
    );
    // The dashboards provider reads the directory the dashboards are mounted at.
    const provider = parse(read('dashboards/provisioning/dashboards/inferledger.yaml')) as { providers: Array<{ options: { path: string } }> };
    const boards = (grafana.volumes ?? []).find((v): v is string => typeof v === 'string' && v.startsWith('./dashboards:'));
    expect(boards?.split(':')[1]).toBe(provider.providers[0]!.options.path);
    // Every ${VAR} the datasource file reads is in Grafana's environment.
    const vars = [...read('dashboards/provisioning/datasources/inferledger.yaml').matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]!);
    expect(vars.length).toBeGreaterThan(0);
    for (const v of vars) expect(env, `grafana env ${v}`).toHaveProperty(v);
  });

  it('points the Grafana datasources at compose services and their ports', () => {
    interface Datasource {
      uid: string;
      type: string;
      url?: string;
      jsonData?: { host?: string; port?: number; protocol?: string };
    }
    const { datasources } = parse(read('dashboards/provisioning/datasources/inferledger.yaml')) as { datasources: Datasource[] };
    expect(datasources.map((d) => d.uid).sort()).toEqual(['inferledger-clickhouse', 'inferledger-prometheus']);
    const grafanaDeps = dependsOn(compose.services.grafana!);
    for (const d of datasources) {
      const [host, port] = d.url ? [new URL(d.url).hostname, Number(new URL(d.url).port)] : [d.jsonData!.host!, Number(d.jsonData!.port)];
      expect(compose.services, `${d.uid} host ${host}`).toHaveProperty(host);
      expect(containerPortsOrExposed(host), `${d.uid} ${host}:${port}`).toContain(port);
      expect(grafanaDeps[host], `grafana waits for ${host}`).toBe('service_healthy');
    }
  });

  it('scrapes with Prometheus only compose services, on the ports they listen on', () => {
    interface PromConfig {
      scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
      alerting: { alertmanagers: Array<{ static_configs: Array<{ targets: string[] }> }> };
    }
    const prom = parse(read('collectors/prometheus/prometheus.yml')) as PromConfig;
    const targets = [
      ...prom.scrape_configs.flatMap((j) => j.static_configs.flatMap((c) => c.targets)),
      ...prom.alerting.alertmanagers.flatMap((a) => a.static_configs.flatMap((c) => c.targets)),
    ];
    expect(targets).toEqual(expect.arrayContaining(['inferledger-api:9464', 'inferledger-sidecar:9464', 'dcgm-exporter:9400', 'alertmanager:9093']));
    for (const t of targets) {
      const [host, port] = t.split(':') as [string, string];
      if (host === 'localhost') continue; // Prometheus itself
      expect(compose.services, `target ${t}`).toHaveProperty(host);
      expect(containerPortsOrExposed(host), `target ${t}`).toContain(Number(port));
    }
  });
});

describe('collectors/otelcol-config.yaml', () => {
  interface Otelcol {
    receivers: { otlp?: { protocols?: { grpc?: { endpoint?: string }; http?: { endpoint?: string } } } };
    processors: Record<string, unknown>;
    exporters: { clickhouse?: { endpoint?: string; database?: string; create_schema?: boolean; traces_table_name?: string } };
    service: { pipelines: Record<string, { receivers: string[]; processors?: string[]; exporters: string[] }> };
  }
  const config = parse(read('collectors/otelcol-config.yaml')) as Otelcol;

  it('receives OTLP on the standard ports', () => {
    expect(config.receivers.otlp?.protocols?.grpc?.endpoint).toMatch(/:4317$/);
    expect(config.receivers.otlp?.protocols?.http?.endpoint).toMatch(/:4318$/);
  });

  it('exports into our otel_traces table without touching the schema', () => {
    const ch = config.exporters.clickhouse;
    expect(ch).toBeDefined();
    expect(ch!.create_schema).toBe(false);
    expect(ch!.traces_table_name).toBe('otel_traces');
    expect(ch!.endpoint).toMatch(/^(tcp|http|clickhouse):\/\/clickhouse:(9000|8123)/);
  });

  it('writes to a table the migrations create', () => {
    const table = config.exporters.clickhouse!.traces_table_name!;
    const ddl = read('src/store/migrations/0001_otel_traces.sql');
    expect(ddl).toMatch(new RegExp(`CREATE TABLE IF NOT EXISTS ${table}\\b`));
    // The view that turns spans into billable requests reads the same table.
    expect(read('src/store/migrations/0002_requests.sql')).toMatch(new RegExp(`FROM ${table}\\b`));
  });

  it('wires the traces pipeline OTLP -> batch -> clickhouse with defined components', () => {
    const traces = config.service.pipelines.traces;
    expect(traces).toBeDefined();
    expect(traces!.receivers).toEqual(['otlp']);
    expect(traces!.processors).toContain('batch');
    expect(traces!.exporters).toEqual(['clickhouse']);
    for (const p of traces!.processors ?? []) expect(config.processors).toHaveProperty(p);
  });

  it('scrapes the DCGM exporter into the exporter-owned metrics tables, never DDL on otel_traces', () => {
    const raw = parse(read('collectors/otelcol-config.yaml')) as {
      receivers: { prometheus?: { config: { scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }> } } };
      exporters: Record<string, { create_schema?: boolean; traces_table_name?: string; metrics_tables?: Record<string, { name: string }> }>;
    };
    const jobs = raw.receivers.prometheus?.config.scrape_configs ?? [];
    const dcgm = jobs.find((j) => j.job_name === 'dcgm');
    expect(dcgm?.static_configs[0]?.targets).toEqual(['dcgm-exporter:9400']);
    expect(compose.services).toHaveProperty('dcgm-exporter');
    const metrics = config.service.pipelines.metrics;
    expect(metrics?.receivers).toEqual(['prometheus']);
    for (const p of metrics?.processors ?? []) expect(config.processors).toHaveProperty(p);
    expect(metrics?.exporters).toHaveLength(1);
    const exporter = raw.exporters[metrics!.exporters[0]!]!;
    expect(exporter.traces_table_name).toBeUndefined();
    expect(Object.keys(exporter.metrics_tables ?? {}).sort()).toEqual(['exponential_histogram', 'gauge', 'histogram', 'sum', 'summary']);
    // The same tables our OTLP receiver writes (and `migrate` creates), so both feeds land together.
    const t = exporter.metrics_tables!;
    expect([t.gauge, t.sum, t.histogram, t.exponential_histogram, t.summary].map((x) => x?.name)).toEqual([
      METRIC_TABLES.gauge,
      METRIC_TABLES.sum,
      METRIC_TABLES.histogram,
      METRIC_TABLES.exponentialHistogram,
      METRIC_TABLES.summary,
    ]);
    // The exporter that creates tables is used by no traces pipeline.
    for (const [name, e] of Object.entries(raw.exporters)) {
      if (e.create_schema === false) continue;
      expect(config.service.pipelines.traces!.exporters, name).not.toContain(name);
    }
  });

  it('is the file the compose collector mounts as its --config', () => {
    const collector = compose.services['otel-collector']!;
    const mount = (collector.volumes ?? []).find((v): v is string => typeof v === 'string' && v.startsWith('./collectors/otelcol-config.yaml:'));
    expect(mount).toBeDefined();
    const target = mount!.split(':')[1]!;
    expect(commandOf(collector)).toContain(`--config=${target}`);
  });
});

describe('inferledger.example.yaml', () => {
  it('loads through the real config loader and uses only the bundled models', () => {
    const config = loadConfig({ INFERLEDGER_CONFIG: 'inferledger.example.yaml' }, ROOT);
    expect(config.models.map((m) => m.name).sort()).toEqual(['classifier-large', 'classifier-small', 'classifier-small-int8']);
    for (const m of config.models) {
      expect(m.path.startsWith(BUNDLED_MODELS_DIR + '/'), m.path).toBe(true);
      expect(existsSync(m.path), m.path).toBe(true);
    }
    expect(config.server.port).toBe(8080);
    expect(config.sidecar.port).toBe(8081);
    expect(Object.keys(config.tenants).sort()).toEqual(['acme', 'globex']);
  });

  it('states the schema defaults (parsing it equals parsing an empty file, models and tenants aside)', () => {
    const example = loadConfig({ INFERLEDGER_CONFIG: 'inferledger.example.yaml' }, ROOT);
    const empty = loadConfig({}, resolve(ROOT, 'test')); // no inferledger.yaml there: all defaults
    const strip = (c: typeof example) =>
      JSON.stringify({ ...c, data_dir: undefined, models: undefined, tenants: undefined }, (_k, v: unknown) =>
        typeof v === 'bigint' ? v.toString() : v,
      );
    expect(strip(example)).toBe(strip(empty));
  });

  it('names every key of every section of the schema, set or commented out (the README says it lists every key)', () => {
    const text = read('inferledger.example.yaml');
    // Wrappers (optional, default, prefault) around an object section hide its shape.
    const unwrap = (schema: unknown): { shape?: Record<string, unknown> } => {
      let s = schema as { _zod: { def: { type: string; innerType?: unknown } }; shape?: Record<string, unknown> };
      while (['optional', 'default', 'prefault', 'nullable'].includes(s._zod.def.type)) s = s._zod.def.innerType as typeof s;
      return s;
    };
    const missing: string[] = [];
    for (const [section, schema] of Object.entries(unwrap(configSchema).shape ?? {})) {
      const keys = unwrap(schema).shape;
      if (!keys) continue;
      const block = new RegExp(`^${section}:[^\\n]*\\n((?:[ #].*\\n|\\n)*)`, 'm').exec(text)?.[1] ?? '';
      for (const key of Object.keys(keys)) if (!new RegExp(`^\\s*#?\\s*${key}:`, 'm').test(block)) missing.push(`${section}.${key}`);
    }
    expect(missing).toEqual([]);
  });
});

describe('entry points', () => {
  it('README documents npm start and npm test', () => {
    const readme = read('README.md');
    expect(readme).toContain('npm start');
    expect(readme).toContain('npm test');
  });

  it('.ci/run is strict, executable and runs the typecheck and npm test', () => {
    const script = read('.ci/run');
    expect(script.startsWith('#!/usr/bin/env bash')).toBe(true);
    expect(script).toMatch(/^set -euo pipefail$/m);
    expect(script).toMatch(/^\s*npm test\s*$/m);
    expect(script).toMatch(/tsc --noEmit -p \./);
    expect(statSync(resolve(ROOT, '.ci/run')).mode & 0o111).not.toBe(0);
  });

  it('package.json start runs `up --demo` and test runs vitest', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe('node bin/inferledger.js up --demo');
    expect(pkg.scripts.test).toMatch(/^vitest run/);
  });
});
