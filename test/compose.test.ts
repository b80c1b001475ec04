import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { BUNDLED_MODELS_DIR, loadConfig } from '../src/config/load.ts';

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

const commandOf = (s: Service) => (Array.isArray(s.command) ? s.command.join(' ') : (s.command ?? ''));
const serviceRunning = (cmd: string) => services.find(([, s]) => s.build !== undefined && commandOf(s).split(' ')[0] === cmd);

describe('docker-compose.yml', () => {
  it('has the production-shaped single-node services', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['clickhouse', 'inferledger-api', 'inferledger-sidecar', 'otel-collector']);
  });

  it('bind-mounts only host paths that exist', () => {
    const sources = services.flatMap(([, s]) => bindSources(s));
    expect(sources).toContain('./collectors/otelcol-config.yaml');
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
    expect(waits).toBeGreaterThanOrEqual(4);
  });

  it('starts the sidecar and the collector only after the API has migrated the schema', () => {
    expect(dependsOn(compose.services['inferledger-sidecar']!)['inferledger-api']).toBe('service_healthy');
    expect(dependsOn(compose.services['otel-collector']!)['inferledger-api']).toBe('service_healthy');
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
