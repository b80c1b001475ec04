import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModels, INPUT_FEATURES, INPUT_NAME, MODEL_SPECS, NUM_CLASSES, OUTPUT_NAME } from '../scripts/generate-models.ts';

const MODELS_DIR = resolve(fileURLToPath(new URL('.', import.meta.url)), '../models');

/** Deterministic inputs in [-2, 2) without pulling in the generator's PRNG. */
function inputs(rows: number): ort.Tensor {
  const data = new Float32Array(rows * INPUT_FEATURES);
  for (let i = 0; i < data.length; i++) data[i] = (((i * 7919) % 1009) / 1009) * 4 - 2;
  return new ort.Tensor('float32', data, [rows, INPUT_FEATURES]);
}

async function run(file: string, rows: number): Promise<{ dims: readonly number[]; data: Float32Array }> {
  const session = await ort.InferenceSession.create(join(MODELS_DIR, file), { executionProviders: ['cpu'] });
  try {
    const out = (await session.run({ [INPUT_NAME]: inputs(rows) }))[OUTPUT_NAME];
    if (!(out instanceof ort.Tensor) || !(out.data instanceof Float32Array)) throw new Error(`${file}: no float output`);
    return { dims: out.dims, data: out.data };
  } finally {
    await session.release();
  }
}

function argmaxRows(data: Float32Array): number[] {
  const result: number[] = [];
  for (let r = 0; r < data.length / NUM_CLASSES; r++) {
    const row = Array.from(data.subarray(r * NUM_CLASSES, (r + 1) * NUM_CLASSES));
    result.push(row.indexOf(Math.max(...row)));
  }
  return result;
}

describe('bundled models', () => {
  let outDir = '';
  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'inferledger-models-'));
  });
  afterAll(async () => {
    await rm(outDir, { recursive: true, force: true });
  });

  it('regenerates byte-identical to the committed files (run `npm run models` if this fails)', async () => {
    const written = await generateModels(outDir);
    expect(written.map((m) => m.file)).toEqual(MODEL_SPECS.map((s) => s.file));
    for (const m of written) {
      const fresh = await readFile(m.path);
      const committed = await readFile(join(MODELS_DIR, m.file));
      expect(fresh.equals(committed), `${m.file} differs from models/${m.file}`).toBe(true);
    }
    expect(written.reduce((n, m) => n + m.bytes, 0)).toBeLessThan(3 * 1024 * 1024);
  });

  it('makes the large model clearly heavier than the small one', async () => {
    const written = await generateModels(outDir);
    const params = Object.fromEntries(written.map((m) => [m.file, m.params]));
    expect(params['classifier-large.onnx']).toBeGreaterThan(20 * (params['classifier-small.onnx'] ?? Infinity));
  });

  it.each(MODEL_SPECS.map((s) => s.file))('%s declares a dynamic batch and returns one distribution per row', async (file) => {
    const session = await ort.InferenceSession.create(join(MODELS_DIR, file));
    try {
      expect(session.inputMetadata).toEqual([{ name: INPUT_NAME, isTensor: true, type: 'float32', shape: ['batch', INPUT_FEATURES] }]);
      expect(session.outputMetadata).toEqual([{ name: OUTPUT_NAME, isTensor: true, type: 'float32', shape: ['batch', NUM_CLASSES] }]);
    } finally {
      await session.release();
    }
    const { dims, data } = await run(file, 3);
    expect(dims).toEqual([3, NUM_CLASSES]);
    for (let r = 0; r < 3; r++) {
      const row = data.subarray(r * NUM_CLASSES, (r + 1) * NUM_CLASSES);
      expect(row.every((p) => p >= 0 && p <= 1)).toBe(true);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
  });

  it('int8 variant stays close to the float model it was quantized from', async () => {
    const rows = 64;
    const small = await run('classifier-small.onnx', rows);
    const int8 = await run('classifier-small-int8.onnx', rows);
    let maxDiff = 0;
    small.data.forEach((p, i) => (maxDiff = Math.max(maxDiff, Math.abs(p - (int8.data[i] ?? 0)))));
    expect(maxDiff).toBeLessThan(0.05);
    expect(maxDiff).toBeGreaterThan(0); // it really is a different (quantized) model
    const a = argmaxRows(small.data);
    const b = argmaxRows(int8.data);
    const agree = a.filter((v, i) => v === b[i]).length;
    expect(agree / rows).toBeGreaterThanOrEqual(0.9);
  });
});
