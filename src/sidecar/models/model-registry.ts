import { statSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import type { ModelConfig, TenantConfig } from '../../config/schema.ts';
import { AppError } from '../../errors.ts';
import {
  datatypeOfOrtType,
  PLATFORM,
  type ModelMetadata,
  type ModelRegistry,
  type ModelSummary,
  type ResolvedModel,
  type TensorSpec,
} from './types.ts';

/**
 * Loads one onnxruntime session per configured model and answers, per tenant, which logical
 * model names exist and what they run.
 *
 * Visibility rule (matches the `models` comment in config/schema.ts):
 *   1. A "variant-only" model is one that some tenant's `model_variants` points to under a
 *      different logical name (e.g. acme's `classifier-small` → `classifier-small-acme`).
 *      Such files are private to the tenants that map to them.
 *   2. A tenant with a non-empty `models` list may use exactly those names; otherwise every
 *      configured model that is not variant-only.
 *   3. Every logical name in the tenant's own `model_variants` is added: configuring a variant
 *      is an explicit grant, and that name resolves to the variant file.
 *   Tenants absent from the config get rule 2's default set.
 * Anything else resolves to undefined, so an unknown name and another tenant's model are
 * indistinguishable to the caller (both 404).
 */

interface LoadedModel {
  config: ModelConfig;
  session: ort.InferenceSession;
  /** Approximate parameter count, for weighting concurrent requests in the CPU ledger. */
  paramCount: number;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

type Catalog = ReadonlyMap<string, ResolvedModel>;

export async function loadModelRegistry(
  models: readonly ModelConfig[],
  tenants: Readonly<Record<string, TenantConfig>>,
  opts: { intraOpNumThreads?: number } = {},
): Promise<ModelRegistry> {
  const loaded = await loadAll(models, opts);
  const byName = new Map(loaded.map((m) => [m.config.name, m]));
  const variantOnly = variantOnlyModels(tenants);
  const defaultNames = models.map((m) => m.name).filter((name) => !variantOnly.has(name));

  let catalogs = new Map<string, Catalog>();
  for (const [tenantId, tenant] of Object.entries(tenants)) catalogs.set(tenantId, buildCatalog(byName, defaultNames, tenant));
  let defaultCatalog: Catalog = buildCatalog(byName, defaultNames, undefined);
  let closed = false;

  const catalogOf = (tenantId: string): Catalog => catalogs.get(tenantId) ?? defaultCatalog;

  return {
    list: (tenantId) =>
      [...catalogOf(tenantId).values()]
        .map((r): ModelSummary => ({ name: r.logicalName, versions: [r.version], platform: PLATFORM }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    resolve: (tenantId, logicalName) => catalogOf(tenantId).get(logicalName),
    metadata: (r): ModelMetadata => ({
      name: r.logicalName,
      versions: [r.version],
      platform: PLATFORM,
      inputs: r.inputs.map(copySpec),
      outputs: r.outputs.map(copySpec),
    }),
    close: async () => {
      if (closed) return;
      closed = true;
      catalogs = new Map();
      defaultCatalog = new Map();
      await Promise.all(loaded.map((m) => m.session.release()));
    },
  };
}

/** Loads every model; if any fails, releases the ones that loaded and names the failing file. */
async function loadAll(models: readonly ModelConfig[], opts: { intraOpNumThreads?: number }): Promise<LoadedModel[]> {
  const results = await Promise.allSettled(models.map((config) => loadOne(config, sessionOptionsOf(config, opts))));
  const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.allSettled(ok.map((m) => m.session.release()));
    throw failed.reason;
  }
  return ok;
}

/** The GPU a model's `device` names (`cuda` is GPU 0), or undefined for the CPU. */
export function gpuDeviceOf(device: string): number | undefined {
  if (device === 'cpu') return undefined;
  const match = /^cuda(?::(\d+))?$/.exec(device);
  if (!match) throw new AppError('invalid', `unknown device "${device}": use "cpu", "cuda" or "cuda:N"`, { code: 'invalid_device' });
  return match[1] === undefined ? 0 : Number(match[1]);
}

function sessionOptionsOf(config: ModelConfig, opts: { intraOpNumThreads?: number }): ort.InferenceSession.SessionOptions {
  const gpu = gpuDeviceOf(config.device);
  // No CPU fallback entry for CUDA: onnxruntime still places the few operators CUDA lacks on the
  // CPU, but a CUDA provider that cannot load must fail the start, not bill GPU work done on CPUs.
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: gpu === undefined ? ['cpu'] : [{ name: 'cuda', deviceId: gpu }],
  };
  if (opts.intraOpNumThreads !== undefined) options.intraOpNumThreads = opts.intraOpNumThreads;
  return options;
}

async function loadOne(config: ModelConfig, options: ort.InferenceSession.SessionOptions): Promise<LoadedModel> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(config.path, options);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const gpu = gpuDeviceOf(config.device) !== undefined;
    const hint = gpu && /cuda|provider/i.test(reason) ? ` (${CUDA_HINT})` : '';
    throw new AppError('internal', `model "${config.name}": cannot load ONNX file ${config.path} on ${config.device}: ${firstLine(reason)}${hint}`, {
      code: 'model_load_failed',
      details: { model: config.name, path: config.path, device: config.device },
      cause,
    });
  }
  try {
    return {
      config,
      session,
      // Weights dominate an ONNX file, at about 4 bytes a parameter: a proxy that needs no parse.
      paramCount: Math.max(1, Math.round(statSync(config.path).size / 4)),
      inputs: session.inputMetadata.map((m) => tensorSpecOf(config, m)),
      outputs: session.outputMetadata.map((m) => tensorSpecOf(config, m)),
    };
  } catch (err) {
    await session.release();
    throw err;
  }
}

/** OIP metadata for one session input/output; symbolic or unknown dims become -1. */
function tensorSpecOf(config: ModelConfig, meta: ort.InferenceSession.ValueMetadata): TensorSpec {
  const datatype = meta.isTensor ? datatypeOfOrtType(meta.type) : undefined;
  if (!meta.isTensor || datatype === undefined) {
    const what = meta.isTensor ? `tensor type ${meta.type}` : 'a non-tensor type';
    throw new AppError('internal', `model "${config.name}" (${config.path}): "${meta.name}" has ${what}, which OIP v2 cannot carry`, {
      code: 'model_unsupported',
    });
  }
  const shape = meta.shape.map((d) => (typeof d === 'number' && Number.isInteger(d) && d >= 0 ? d : -1));
  const dimNames = meta.shape.map((d) => (typeof d === 'string' && d !== '' ? d : null));
  return { name: meta.name, datatype, shape, dimNames };
}

/** Configured models that some tenant reaches only through a differently named logical alias. */
function variantOnlyModels(tenants: Readonly<Record<string, TenantConfig>>): Set<string> {
  const result = new Set<string>();
  for (const tenant of Object.values(tenants)) {
    for (const [logical, variant] of Object.entries(tenant.model_variants)) {
      if (logical !== variant) result.add(variant);
    }
  }
  return result;
}

/** Logical name → resolved model for one tenant (undefined tenant: the default set). */
function buildCatalog(byName: ReadonlyMap<string, LoadedModel>, defaultNames: readonly string[], tenant: TenantConfig | undefined): Catalog {
  const catalog = new Map<string, ResolvedModel>();
  const direct = tenant && tenant.models.length > 0 ? tenant.models : defaultNames;
  for (const name of direct) addEntry(catalog, byName, name, name);
  for (const [logical, variant] of Object.entries(tenant?.model_variants ?? {})) addEntry(catalog, byName, logical, variant);
  return catalog;
}

function addEntry(catalog: Map<string, ResolvedModel>, byName: ReadonlyMap<string, LoadedModel>, logicalName: string, variantName: string): void {
  // The config schema already rejects unknown names; skipping here keeps a hand-built config from crashing lookups.
  const model = byName.get(variantName);
  if (!model) return;
  catalog.set(
    logicalName,
    Object.freeze({
      logicalName,
      variantName,
      version: model.config.version,
      tokens: model.config.tokens,
      session: model.session,
      inputs: model.inputs,
      outputs: model.outputs,
      paramCount: model.paramCount,
      gpuDevice: gpuDeviceOf(model.config.device),
    }),
  );
}

const CUDA_HINT =
  'the CUDA execution provider needs onnxruntime-node installed with its CUDA binaries ' +
  '(npm_config_onnxruntime_node_install=cuda12 npm install), the CUDA and cuDNN libraries they link, and an NVIDIA driver';

/** onnxruntime appends its whole log record, colour codes included, after the first line. */
function firstLine(message: string): string {
  // eslint-disable-next-line no-control-regex
  return message.replace(/\u001b\[[0-9;]*m/g, '').split('\n')[0]!.trim();
}

function copySpec(s: TensorSpec): TensorSpec {
  return { name: s.name, datatype: s.datatype, shape: [...s.shape] };
}
