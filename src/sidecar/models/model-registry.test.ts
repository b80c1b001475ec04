import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_MODELS } from '../../config/load.ts';
import type { ModelConfig, TenantConfig } from '../../config/schema.ts';
import { AppError } from '../../errors.ts';
import { gpuDeviceOf, loadModelRegistry } from './model-registry.ts';
import type { ModelRegistry } from './types.ts';

const MODELS: ModelConfig[] = BUNDLED_MODELS.map((m) => ({ ...m }));
const tenant = (t: Partial<TenantConfig>): TenantConfig => ({ plan: 'standard', model_variants: {}, models: [], ...t });

/** acme runs the int8 file under the name classifier-small; globex may only use the large model. */
const TENANTS: Record<string, TenantConfig> = {
  acme: tenant({ model_variants: { 'classifier-small': 'classifier-small-int8' } }),
  globex: tenant({ models: ['classifier-large'] }),
  initech: tenant({ models: ['classifier-small'], model_variants: { fast: 'classifier-small-int8' } }),
};

describe('loadModelRegistry', () => {
  let registry: ModelRegistry;
  beforeAll(async () => {
    registry = await loadModelRegistry(MODELS, TENANTS, { intraOpNumThreads: 1 });
  });
  afterAll(async () => {
    await registry.close();
  });

  it.each([
    ['acme', ['classifier-large', 'classifier-small']],
    ['globex', ['classifier-large']],
    ['initech', ['classifier-small', 'fast']],
    ['not-in-config', ['classifier-large', 'classifier-small']],
  ])('lists what %s may use', (tenantId, names) => {
    const listed = registry.list(tenantId);
    expect(listed.map((m) => m.name)).toEqual(names);
    expect(listed.every((m) => m.platform === 'onnxruntime_onnx' && m.versions[0] === '1')).toBe(true);
  });

  it.each([
    ['acme', 'classifier-small', 'classifier-small-int8'],
    ['acme', 'classifier-large', 'classifier-large'],
    ['globex', 'classifier-large', 'classifier-large'],
    ['initech', 'fast', 'classifier-small-int8'],
    ['not-in-config', 'classifier-small', 'classifier-small'],
  ])('resolves %s/%s to the %s file', (tenantId, logical, variant) => {
    const r = registry.resolve(tenantId, logical);
    expect(r).toMatchObject({ logicalName: logical, variantName: variant, version: '1', tokens: false });
  });

  it.each([
    ['globex', 'classifier-small', 'not in its models list'],
    ['acme', 'classifier-small-int8', 'variant-only file, even for the tenant using it'],
    ['not-in-config', 'classifier-small-int8', "another tenant's variant"],
    ['not-in-config', 'fast', "another tenant's logical name"],
    ['acme', 'no-such-model', 'unknown'],
    ['acme', '__proto__', 'prototype key'],
  ])('%s cannot resolve %s (%s)', (tenantId, logical) => {
    expect(registry.resolve(tenantId, logical)).toBeUndefined();
  });

  it('gives OIP v2 metadata under the logical name with -1 for the dynamic batch', () => {
    const r = registry.resolve('acme', 'classifier-small');
    if (!r) throw new Error('unresolved');
    expect(registry.metadata(r)).toEqual({
      name: 'classifier-small',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 64] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 10] }],
    });
  });

  it('hands out sessions that run', async () => {
    const r = registry.resolve('globex', 'classifier-large');
    if (!r) throw new Error('unresolved');
    const out = await r.session.run({ input: new ort.Tensor('float32', new Float32Array(2 * 64).fill(0.25), [2, 64]) });
    expect(out.probabilities?.dims).toEqual([2, 10]);
  });
});

describe('loadModelRegistry failures', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'inferledger-registry-'));
    await writeFile(join(dir, 'garbage.onnx'), 'not a protobuf at all');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['missing.onnx', 'a missing file'],
    ['garbage.onnx', 'a corrupt file'],
  ])('names the model and file for %s (%s)', async (file) => {
    const path = join(dir, file);
    const models = [...MODELS, { name: 'broken', path, version: '1', tokens: false, device: 'cpu' }];
    const err = await loadModelRegistry(models, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'model_load_failed', details: { model: 'broken', path } });
    expect((err as AppError).message).toContain(path);
  });

  it('refuses to start a model placed on CUDA when the CUDA provider is not installed, instead of running it on the CPU', async () => {
    // This install (like CI's) has no onnxruntime CUDA binaries; on a GPU host with them the same
    // model loads on the GPU (checked on an H100, see src/sidecar/README.md).
    const path = MODELS[0]!.path;
    const err = await loadModelRegistry([{ ...MODELS[0]!, device: 'cuda:0' }], {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'model_load_failed', details: { model: 'classifier-small', path, device: 'cuda:0' } });
    const message = (err as AppError).message;
    expect(message).toContain('on cuda:0');
    expect(message).toContain('npm_config_onnxruntime_node_install=cuda12');
    expect(message).not.toMatch(/\u001b|\n/); // onnxruntime's coloured multi-line log is cut to its first line
  });

  it('places CPU models on no GPU and reads cuda / cuda:N as GPU indexes', async () => {
    const cpuOnly = await loadModelRegistry(MODELS.slice(0, 1), {});
    expect(cpuOnly.resolve('anyone', 'classifier-small')?.gpuDevice).toBeUndefined();
    await cpuOnly.close();
    expect(gpuDeviceOf('cpu')).toBeUndefined();
    expect(gpuDeviceOf('cuda')).toBe(0);
    expect(gpuDeviceOf('cuda:3')).toBe(3);
    expect(() => gpuDeviceOf('rocm')).toThrow(/unknown device "rocm"/);
  });

  it('closes idempotently and resolves nothing afterwards', async () => {
    const registry = await loadModelRegistry(MODELS.slice(0, 1), {});
    expect(registry.resolve('anyone', 'classifier-small')).toBeDefined();
    await registry.close();
    await registry.close();
    expect(registry.resolve('anyone', 'classifier-small')).toBeUndefined();
    expect(registry.list('anyone')).toEqual([]);
  });
});
