import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLED_MODELS, ConfigError, loadConfig } from './load.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'il-config-'));

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives working defaults with no file and no env', () => {
    const cwd = dir();
    const config = loadConfig({}, cwd);
    expect(config.server.port).toBe(8080);
    expect(config.sidecar.port).toBe(8081);
    expect(config.data_dir).toBe(join(cwd, 'data'));
    expect(config.clickhouse.url).toBeUndefined();
    expect(config.models.map((m) => m.name)).toEqual(BUNDLED_MODELS.map((m) => m.name));
    expect(Object.isFrozen(config.server)).toBe(true);
  });

  it('applies SPEC §1 environment overrides over the file', () => {
    const cwd = dir();
    writeFileSync(join(cwd, 'inferledger.yaml'), 'server:\n  port: 9000\ndata_dir: ./from-file\n');
    const config = loadConfig(
      {
        INFERLEDGER_PORT: '9100',
        INFERLEDGER_SIDECAR_PORT: '9101',
        INFERLEDGER_METRICS_PORT: '9464',
        INFERLEDGER_OTLP_GRPC_PORT: '4317',
        INFERLEDGER_DATA_DIR: '/tmp/x',
        CLICKHOUSE_URL: 'http://u:p@ch:8123/db',
        CLICKHOUSE_CLUSTER: 'main',
        INFERLEDGER_ADMIN_KEY: 'a-long-enough-admin-key',
      },
      cwd,
    );
    expect(config).toMatchObject({
      server: { port: 9100, metrics_port: 9464, otlp_grpc_port: 4317 },
      sidecar: { port: 9101 },
      data_dir: '/tmp/x',
      clickhouse: { url: 'http://u:p@ch:8123/db', cluster: 'main' },
      admin_key: 'a-long-enough-admin-key',
    });
  });

  it('refuses a cluster without a ClickHouse server: the embedded engine is one node', () => {
    const cwd = dir();
    expect(issuesOf(() => loadConfig({ CLICKHOUSE_CLUSTER: 'main' }, cwd))).toEqual([
      'CLICKHOUSE_CLUSTER (clickhouse.cluster): a cluster needs a ClickHouse server: set clickhouse.url (CLICKHOUSE_URL) too; the embedded engine is one node',
    ]);
  });

  it('refuses a standby quota authority, or standby URLs, without the primary they stand in for', () => {
    const cwd = dir();
    writeFileSync(join(cwd, 'inferledger.yaml'), 'quotas: { standby: true, standby_authority_urls: ["http://api-1:8080"] }\n');
    expect(issuesOf(() => loadConfig({}, cwd))).toEqual([
      'quotas.standby: a standby needs quotas.authority_url: the primary it stands in for',
      'quotas.standby_authority_urls: standby authorities need quotas.authority_url: the primary they stand in for',
    ]);
    writeFileSync(join(cwd, 'inferledger.yaml'), 'quotas: { authority_url: "http://api-0:8080", standby_authority_urls: ["http://api-1:8080"] }\n');
    expect(loadConfig({}, cwd).quotas).toMatchObject({ standby: false, standby_authority_urls: ['http://api-1:8080'] });
  });

  it('reads JSON too and resolves model paths against the config file', () => {
    const cwd = dir();
    const path = join(cwd, 'conf.json');
    writeFileSync(path, JSON.stringify({ models: [{ name: 'm1', path: 'models/m1.onnx' }] }));
    const config = loadConfig({ INFERLEDGER_CONFIG: path }, '/');
    expect(config.models).toEqual([{ name: 'm1', path: join(cwd, 'models/m1.onnx'), version: '1', tokens: false, device: 'cpu' }]);
  });

  it('refuses a JSON config that names a key twice, as YAML does', () => {
    const cwd = dir();
    const path = join(cwd, 'conf.json');
    writeFileSync(path, '{\n  "tenants": {\n    "acme": { "plan": "flat" },\n    "acme": {}\n  }\n}\n');
    const issues = issuesOf(() => loadConfig({ INFERLEDGER_CONFIG: path }, '/'));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/conf\.json: duplicate key at line 4: Map keys must be unique/);
  });

  it('places a model on a GPU with device cuda or cuda:N, and names a device it does not know', () => {
    const cwd = dir();
    writeFileSync(join(cwd, 'inferledger.yaml'), 'models: [{ name: a, path: a.onnx, device: cuda }, { name: b, path: b.onnx, device: "cuda:1" }]\n');
    expect(loadConfig({}, cwd).models.map((m) => m.device)).toEqual(['cuda', 'cuda:1']);
    writeFileSync(join(cwd, 'inferledger.yaml'), 'models: [{ name: a, path: a.onnx, device: gpu }, { name: b, path: b.onnx, device: "cuda:01" }]\n');
    expect(issuesOf(() => loadConfig({}, cwd))).toEqual([
      'models.0.device: device is "cpu", "cuda" or "cuda:N" (N the GPU index)',
      'models.1.device: device is "cpu", "cuda" or "cuda:N" (N the GPU index)',
    ]);
  });

  it('reports every issue at once, with its path', () => {
    const cwd = dir();
    writeFileSync(
      join(cwd, 'inferledger.yaml'),
      [
        'server: { port: 70000 }',
        'sidecar: { trust_tenant_header: "false" }',
        'models: [{ name: m, path: a.onnx }, { name: m, path: b.onnx }]',
        'tenants: { "Bad Tenant": {}, ok: { model_variants: { m: missing } } }',
      ].join('\n'),
    );
    const issues = issuesOf(() => loadConfig({ INFERLEDGER_SIDECAR_PORT: 'abc' }, cwd));
    expect(issues).toEqual([expect.stringContaining('INFERLEDGER_SIDECAR_PORT')]);

    const all = issuesOf(() => loadConfig({}, cwd));
    expect(all).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^server\.port: /),
        // a quoted "false" is a string, not a boolean: no z.coerce.boolean() trap
        expect.stringMatching(/^sidecar\.trust_tenant_header: /),
        expect.stringMatching(/^tenants\.Bad Tenant: /),
      ]),
    );
  });

  // Found by dogfooding: a type error anywhere hid every cross-field problem until it was fixed.
  it('reports a cross-field problem alongside a type error in another section', () => {
    const cwd = dir();
    writeFileSync(join(cwd, 'inferledger.yaml'), 'server:\n  port: "abc"\ntenants:\n  acme: { plan: gold }\n');
    expect(issuesOf(() => loadConfig({}, cwd))).toEqual([
      'server.port: Invalid input: expected number, received string',
      'tenants.acme.plan: unknown plan "gold" (pricing.plans has: standard)',
    ]);
  });

  it('reports cross-field problems: duplicates and unknown variants', () => {
    const cwd = dir();
    writeFileSync(
      join(cwd, 'inferledger.yaml'),
      'models: [{ name: m, path: a.onnx }, { name: m, path: b.onnx }]\ntenants: { ok: { model_variants: { m: missing } } }\n',
    );
    expect(issuesOf(() => loadConfig({}, cwd)).sort()).toEqual([
      'models.1.name: duplicate model "m"',
      'tenants.ok.model_variants.m: unknown model "missing"',
    ]);
  });

  it('lists every problem at once, also when a section has another problem (found by dogfooding: 2 of 5, then the other 3)', () => {
    const cwd = dir();
    writeFileSync(
      join(cwd, 'inferledger.yaml'),
      [
        'tenants:',
        '  alpha: { plan: gold }',
        '  beta: { quotas: { requests_per_minute: -1 } }',
        'quotas: { plan_weights: { platinum: 2 } }',
        'alerts:',
        '  webhooks: [{ url: ftp://127.0.0.1:9/h, secret: whsec_0123456789abcdef, tenants: [Alpha] }]',
      ].join('\n'),
    );
    const paths = issuesOf(() => loadConfig({}, cwd)).map((i) => i.split(':')[0]);
    expect(paths.sort()).toEqual(['alerts.webhooks.0.tenants.0', 'alerts.webhooks.0.url', 'quotas.plan_weights.platinum', 'tenants.alpha.plan', 'tenants.beta.quotas.requests_per_minute']);
  });

  it('refuses values that would misbehave later: a misspelt plan weight, a bad webhook tenant, an empty host, an amount in exponent form', () => {
    const cwd = dir();
    writeFileSync(
      join(cwd, 'inferledger.yaml'),
      [
        'server: { host: "" }',
        'quotas: { plan_weights: { gold: 3 } }',
        'alerts: { webhooks: [{ url: "https://hooks.example/x", secret: "0123456789abcdef", tenants: [acme, "BAD ID"] }] }',
        'pricing:',
        '  capacity: [{ effective_from: "2020-01-01T00:00:00Z", vcpu_hour: 0.04, memory_gib_hour: 1e-7 }]',
        '  plans: { standard: [{ effective_from: "2020-01-01T00:00:00Z", meters: { requests: { unit_price: 0.0001 } } }] }',
      ].join('\n'),
    );
    const issues = issuesOf(() => loadConfig({}, cwd));
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^server\.host: a host to listen on/),
        expect.stringMatching(/^pricing\.capacity\.0\.memory_gib_hour: the number 1e-7 is in exponent form: write amounts as quoted decimal strings/),
      ]),
    );
    expect(issues.join('\n')).not.toContain('vcpu_hour'); // an unquoted 0.04 is the decimal it looks like
    // Cross-field checks run once every field is well-formed.
    writeFileSync(
      join(cwd, 'inferledger.yaml'),
      ['quotas: { plan_weights: { gold: 3 } }', 'alerts: { webhooks: [{ url: "https://hooks.example/x", secret: "0123456789abcdef", tenants: [acme, "BAD ID"] }] }'].join('\n'),
    );
    expect(issuesOf(() => loadConfig({}, cwd))).toEqual([
      expect.stringMatching(/^quotas\.plan_weights\.gold: unknown plan "gold" \(pricing\.plans has: /),
      expect.stringMatching(/^alerts\.webhooks\.0\.tenants\.1: tenant ids are/),
    ]);
  });

  it('refuses a cron step larger than its field, which node-cron would read as once a minute (found by dogfooding)', () => {
    const cwd = dir();
    writeFileSync(join(cwd, 'inferledger.yaml'), 'alerts: { evaluate_cron: "*/75 * * * * *" }\n');
    expect(issuesOf(() => loadConfig({}, cwd))).toEqual([
      'alerts.evaluate_cron: the step 75 in the second field is larger than the field (0-59): it would run at the first value only; a cron step cannot span fields',
    ]);
    writeFileSync(join(cwd, 'inferledger.yaml'), 'alerts: { evaluate_cron: "*/59 */30 * * * *" }\n');
    expect(loadConfig({}, cwd).alerts.evaluate_cron).toBe('*/59 */30 * * * *');
  });

  it('refuses alert settings that could only fail later: other URL schemes, a repeated threshold, a bad cron', () => {
    const cwd = dir();
    writeFileSync(
      join(cwd, 'inferledger.yaml'),
      [
        'alerts:',
        '  quota_thresholds: [0.8, 1, 0.8]',
        '  evaluate_cron: "61 * * * * *"',
        '  webhooks: [{ url: "ftp://hooks.example", secret: "0123456789abcdef" }]',
        '  alertmanager: { url: "file:///etc/alertmanager" }',
      ].join('\n'),
    );
    expect(issuesOf(() => loadConfig({}, cwd)).sort()).toEqual([
      'alerts.alertmanager.url: an http:// or https:// URL',
      'alerts.evaluate_cron: not a cron expression (seconds first): 61 is a invalid expression for second',
      'alerts.quota_thresholds: each threshold once (a repeated one would be one alert under two names)',
      'alerts.webhooks.0.url: an http:// or https:// URL',
    ]);
  });

  it('refuses an admin key that no request could present (a space, a "!", too long), naming the rule', () => {
    for (const bad of ['P@ssw0rd!P@ssw0rd!', 'correct horse battery staple', 'x'.repeat(513), 'short']) {
      expect(issuesOf(() => loadConfig({ INFERLEDGER_ADMIN_KEY: bad }, dir()))).toEqual([
        // Named by the variable that set it, not only by the file's key (which may be fine).
        expect.stringMatching(/^INFERLEDGER_ADMIN_KEY \(admin_key\): admin_key must be 16 to 512 characters of A-Z a-z 0-9 and - \. _ ~ \+ \/ = \(what an Authorization: Bearer token can carry\)/),
      ]);
    }
    expect(loadConfig({ INFERLEDGER_ADMIN_KEY: 'il_admin_0123456789-._~+/=' }, dir()).admin_key).toBe('il_admin_0123456789-._~+/=');
  });

  it('refuses two webhooks with the same URL and tenants (one receiver paged twice); the same URL for other tenants is fine', () => {
    const cwd = dir();
    writeFileSync(
      join(cwd, 'inferledger.yaml'),
      [
        'alerts:',
        '  webhooks:',
        '    - { url: "https://hooks.example/x", secret: "0123456789abcdef", tenants: [acme, globex] }',
        '    - { url: "https://hooks.example/x", secret: "fedcba9876543210", tenants: [acme] }',
        '    - { url: "https://hooks.example/x", secret: "0123456789abcdeX", tenants: [globex, acme] }',
      ].join('\n'),
    );
    expect(issuesOf(() => loadConfig({}, cwd))).toEqual(['alerts.webhooks.2: repeats webhooks[0] (same url and tenants): merge them']);
  });

  it('a partial pricing section keeps the defaults of the keys it leaves out (capacity prices and plans too)', () => {
    const cwd = dir();
    writeFileSync(join(cwd, 'inferledger.yaml'), 'pricing: { idle_policy: even, currency: EUR }\n');
    const pricing = loadConfig({}, cwd).pricing;
    const defaults = loadConfig({}, dir()).pricing;
    expect(pricing).toMatchObject({ idle_policy: 'even', currency: 'EUR' });
    expect({ capacity: pricing.capacity, plans: pricing.plans }).toEqual({ capacity: defaults.capacity, plans: defaults.plans });
  });

  it('sidecar.dcgm_exporter_url: an http(s) URL, also from INFERLEDGER_DCGM_EXPORTER_URL', () => {
    const cwd = dir();
    expect(loadConfig({ INFERLEDGER_DCGM_EXPORTER_URL: 'http://localhost:9400/metrics' }, cwd).sidecar.dcgm_exporter_url).toBe('http://localhost:9400/metrics');
    expect(issuesOf(() => loadConfig({ INFERLEDGER_DCGM_EXPORTER_URL: 'localhost:9400' }, cwd))).toEqual([
      expect.stringMatching(/^INFERLEDGER_DCGM_EXPORTER_URL \(sidecar\.dcgm_exporter_url\): /),
    ]);
  });

  it.each([
    ['a missing explicit file', { INFERLEDGER_CONFIG: '/nope/x.yaml' }, /file not found/],
    ['a non-mapping document', { INFERLEDGER_CONFIG: 'list.yaml' }, /top level must be a mapping/],
  ])('rejects %s', (_name, env, pattern) => {
    const cwd = dir();
    writeFileSync(join(cwd, 'list.yaml'), '- a\n- b\n');
    expect(issuesOf(() => loadConfig(env, cwd))).toEqual([expect.stringMatching(pattern)]);
  });
});

describe('loadConfig strictness', () => {
  it('reports misspelled keys instead of ignoring them', () => {
    const cwd = dir();
    writeFileSync(join(cwd, 'inferledger.yaml'), 'sever:\n  port: 9000\npricing:\n  capacity: [{ effective_from: "2026-01-01T00:00:00Z", vcpu_hour: "1", memory_gib_hour: "0", overhed_hour: "1" }]\n  plans: { standard: [{ effective_from: "2026-01-01T00:00:00Z", meters: {} }] }\n');
    expect(issuesOf(() => loadConfig({}, cwd)).sort()).toEqual([
      '(root): Unrecognized key: "sever"',
      'pricing.capacity.0: Unrecognized key: "overhed_hour"',
    ]);
  });

  it('refuses models given as a mapping instead of a list, rather than serving the demo models', () => {
    const cwd = dir();
    writeFileSync(join(cwd, 'inferledger.yaml'), 'models:\n  name: my-llm\n  path: my-llm.onnx\n');
    expect(issuesOf(() => loadConfig({}, cwd))).toEqual(['models: Invalid input: expected array, received object']);
    writeFileSync(join(cwd, 'inferledger.yaml'), 'models: []\n');
    expect(loadConfig({}, cwd).models.map((m) => m.name)).toEqual(BUNDLED_MODELS.map((m) => m.name));
  });

  it('a bad tenant id or plan name as a key says what the rule is', () => {
    const cwd = dir();
    writeFileSync(join(cwd, 'inferledger.yaml'), 'tenants:\n  Acme: {}\n');
    expect(issuesOf(() => loadConfig({}, cwd))).toEqual([
      'tenants.Acme: invalid key "Acme": tenant ids are 1-63 chars of a-z, 0-9, "_" or "-", starting with a letter or digit',
    ]);
  });

  it('lets tenant variants name the bundled models', () => {
    const cwd = dir();
    writeFileSync(join(cwd, 'inferledger.yaml'), 'tenants:\n  acme:\n    model_variants: { classifier-small: classifier-small-int8 }\n');
    expect(loadConfig({}, cwd).tenants.acme!.model_variants).toEqual({ 'classifier-small': 'classifier-small-int8' });
  });
});
