import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import type { TensorSpec } from './models/types.ts';
import { decodeInferRequest, encodeInferResponse, fromHalfBits, MAX_INPUT_ELEMENTS, MAX_TENSORS, toHalfBits } from './tensors.ts';

const CLASSIFIER: TensorSpec[] = [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }];
const TOKENS: TensorSpec[] = [
  { name: 'ids', datatype: 'INT64', shape: [-1, -1] },
  { name: 'mask', datatype: 'INT64', shape: [-1, -1] },
];
/** Two inputs whose first dims are different symbolic dimensions (a "batch" and an "n"). */
const INDEPENDENT: TensorSpec[] = [
  { name: 'ids', datatype: 'INT64', shape: [-1, 2], dimNames: ['batch', null] },
  { name: 'table', datatype: 'INT64', shape: [-1], dimNames: ['n'] },
];
const NAMED_BATCH: TensorSpec[] = INDEPENDENT.map((s) => ({ ...s, dimNames: ['batch', ...s.dimNames!.slice(1)] }));
const OUTPUTS: TensorSpec[] = [
  { name: 'probabilities', datatype: 'FP32', shape: [-1, 10] },
  { name: 'label', datatype: 'INT64', shape: [-1] },
];

const fp32 = (shape: number[], data: unknown[], extra: object = {}) => ({ inputs: [{ name: 'input', shape, datatype: 'FP32', data }], ...extra });
const one = (spec: TensorSpec, data: unknown[], shape = spec.shape.map((d) => (d < 0 ? 1 : d))) => ({
  body: { inputs: [{ name: spec.name, shape, datatype: spec.datatype, data }] },
  specs: [spec],
});

/** Runs `fn` and returns the AppError it throws (fails the test if it throws anything else or nothing). */
function caught(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected an AppError');
}

describe('decodeInferRequest errors', () => {
  it.each<[string, unknown, TensorSpec[], string]>([
    ['a non-object body', 'hello', CLASSIFIER, 'invalid_request'],
    ['no inputs', { inputs: [] }, CLASSIFIER, 'invalid_request'],
    ['inputs not an array', { inputs: {} }, CLASSIFIER, 'invalid_request'],
    ['a fractional dim', fp32([1.5, 4], [1, 2, 3, 4]), CLASSIFIER, 'invalid_request'],
    ['data that is not an array', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: 5 }] }, CLASSIFIER, 'invalid_request'],
    ['a numeric id', fp32([1, 4], [1, 2, 3, 4], { id: 7 }), CLASSIFIER, 'invalid_request'],
    ['an id with a lone UTF-16 surrogate (it becomes a span attribute)', fp32([1, 4], [1, 2, 3, 4], { id: 'req-\ud800' }), CLASSIFIER, 'invalid_request'],
    ['an input the model lacks', { inputs: [...fp32([1, 4], [1, 2, 3, 4]).inputs, { name: 'x', shape: [1], datatype: 'FP32', data: [1] }] }, CLASSIFIER, 'unknown_input'],
    ['one of two inputs', { inputs: [{ name: 'ids', shape: [1, 2], datatype: 'INT64', data: [1, 2] }] }, TOKENS, 'missing_input'],
    ['the same input twice', { inputs: [...fp32([1, 4], [1, 2, 3, 4]).inputs, ...fp32([1, 4], [1, 2, 3, 4]).inputs] }, CLASSIFIER, 'duplicate_input'],
    ['FP64 for an FP32 input', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP64', data: [1, 2, 3, 4] }] }, CLASSIFIER, 'datatype_mismatch'],
    ['an unknown datatype', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FLOAT', data: [1, 2, 3, 4] }] }, CLASSIFIER, 'datatype_mismatch'],
    ['the wrong rank', fp32([4], [1, 2, 3, 4]), CLASSIFIER, 'shape_mismatch'],
    ['the wrong fixed dim', fp32([1, 3], [1, 2, 3]), CLASSIFIER, 'shape_mismatch'],
    ['a zero batch', fp32([0, 4], []), CLASSIFIER, 'shape_mismatch'],
    ['a negative batch', fp32([-1, 4], [1, 2, 3, 4]), CLASSIFIER, 'shape_mismatch'],
    ['too few elements', fp32([2, 4], [1, 2, 3, 4]), CLASSIFIER, 'shape_mismatch'],
    ['too many elements', fp32([1, 4], [1, 2, 3, 4, 5]), CLASSIFIER, 'shape_mismatch'],
    ['data nested deeper than the shape', fp32([1, 4], [[[1, 2, 3, 4]]]), CLASSIFIER, 'shape_mismatch'],
    [
      'inputs that disagree on the batch',
      { inputs: [{ name: 'ids', shape: [2, 1], datatype: 'INT64', data: [1, 2] }, { name: 'mask', shape: [1, 2], datatype: 'INT64', data: [1, 1] }] },
      TOKENS,
      'shape_mismatch',
    ],
    [
      'inputs whose first dims are the same named dimension and disagree',
      { inputs: [{ name: 'ids', shape: [2, 2], datatype: 'INT64', data: [1, 2, 3, 4] }, { name: 'table', shape: [3], datatype: 'INT64', data: [1, 2, 3] }] },
      NAMED_BATCH,
      'shape_mismatch',
    ],
    ['a string in FP32 data', fp32([1, 4], [1, 2, '3', 4]), CLASSIFIER, 'invalid_data'],
    ['a boolean in FP32 data', fp32([1, 4], [1, 2, true, 4]), CLASSIFIER, 'invalid_data'],
    ['null in FP32 data', fp32([1, 4], [1, 2, null, 4]), CLASSIFIER, 'invalid_data'],
    ['a value beyond float32', fp32([1, 4], [1, 2, 1e39, 4]), CLASSIFIER, 'invalid_data'],
    ['an element count over the cap', fp32([MAX_INPUT_ELEMENTS / 4 + 1, 4], []), CLASSIFIER, 'too_large'],
    ['a huge declared shape', fp32([2 ** 40, 4], [1]), CLASSIFIER, 'too_large'],
    ['an output the model lacks', fp32([1, 4], [1, 2, 3, 4], { outputs: [{ name: 'logits' }] }), CLASSIFIER, 'unknown_output'],
    // Found by dogfooding: Triton's extensions were read as malformed JSON data, or ignored.
    ['binary tensor data', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: 16 } }] }, CLASSIFIER, 'binary_data_unsupported'],
    ['the classification extension', fp32([1, 4], [1, 2, 3, 4], { outputs: [{ name: 'label', parameters: { classification: 3 } }] }), CLASSIFIER, 'classification_unsupported'],
  ])('rejects %s', (_label, body, specs, code) => {
    const err = caught(() => decodeInferRequest(body, specs, OUTPUTS));
    expect(err.code).toBe(code);
    expect(err.kind).toBe(code === 'too_large' ? 'payload_too_large' : 'invalid');
    expect(err.message.length).toBeGreaterThan(10);
  });

  it.each<[string, TensorSpec, unknown[]]>([
    ['1.5 for INT64', { name: 'x', datatype: 'INT64', shape: [-1] }, [1.5]],
    ['2^53 for INT64 (precision already lost)', { name: 'x', datatype: 'INT64', shape: [-1] }, [2 ** 53]],
    ['-1 for UINT64', { name: 'x', datatype: 'UINT64', shape: [-1] }, [-1]],
    ['128 for INT8', { name: 'x', datatype: 'INT8', shape: [-1] }, [128]],
    ['-1 for UINT8', { name: 'x', datatype: 'UINT8', shape: [-1] }, [-1]],
    ['2^31 for INT32', { name: 'x', datatype: 'INT32', shape: [-1] }, [2 ** 31]],
    ['70000 for FP16', { name: 'x', datatype: 'FP16', shape: [-1] }, [70000]],
    ['1 for BOOL', { name: 'x', datatype: 'BOOL', shape: [-1] }, [1]],
    ['a number for BYTES', { name: 'x', datatype: 'BYTES', shape: [-1] }, [1]],
    // onnxruntime's string tensors end at a NUL: "a\u0000b" came back as "a".
    ['a string with a NUL for BYTES', { name: 'x', datatype: 'BYTES', shape: [-1] }, ['a\u0000b']],
  ])('rejects %s as invalid_data', (_label, spec, data) => {
    const { body, specs } = one(spec, data);
    const err = caught(() => decodeInferRequest(body, specs));
    expect(err.code).toBe('invalid_data');
    expect(err.message).toContain('element 0');
  });

  it('shows an infinite value as such, not as null (JSON.parse reads 1e999 as Infinity)', () => {
    const err = caught(() => decodeInferRequest(JSON.parse('{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1e999,1,2,3]}]}'), CLASSIFIER));
    expect(err.message).toBe('input "input": element 0 is Infinity, expected a finite number within the float32 range for FP32');
  });

  it('refuses more inputs or outputs than MAX_TENSORS by their number, not item by item (found by fuzzing: 2.7M empty inputs ran the process out of memory)', () => {
    for (const body of [{ inputs: new Array(300_000).fill({}) }, { ...fp32([1, 4], [1, 2, 3, 4]), outputs: new Array(300_000).fill({}) }]) {
      const err = caught(() => decodeInferRequest(body, CLASSIFIER));
      expect(err.code).toBe('invalid_request');
      expect(err.message).toMatch(new RegExp(`<=${MAX_TENSORS} items`));
      expect(err.message.length).toBeLessThan(200);
    }
  });

  it('names every zod issue in the message', () => {
    const err = caught(() => decodeInferRequest({ inputs: [{ name: '', shape: 'x', datatype: 'FP32', data: [] }] }, CLASSIFIER));
    expect(err.message).toContain('inputs.0.name');
    expect(err.message).toContain('inputs.0.shape');
  });
});

describe('decodeInferRequest', () => {
  it('accepts flat and nested data alike and reports batch, elements, id and outputs', () => {
    const flat = decodeInferRequest(fp32([2, 4], [1, 2, 3, 4, 5, 6, 7, 8], { id: 'r1', outputs: [{ name: 'label' }, { name: 'label' }] }), CLASSIFIER, OUTPUTS);
    const nested = decodeInferRequest(fp32([2, 4], [[1, 2, 3, 4], [5, 6, 7, 8]]), CLASSIFIER, OUTPUTS);
    for (const d of [flat, nested]) {
      const t = d.feeds.input;
      expect(t?.type).toBe('float32');
      expect(t?.dims).toEqual([2, 4]);
      expect(Array.from(t?.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(d.batchSize).toBe(2);
      expect(d.inputElements).toBe(8);
    }
    expect(flat.id).toBe('r1');
    expect(flat.requestedOutputs).toEqual(['label']);
    expect(nested).not.toHaveProperty('id');
    expect(nested).not.toHaveProperty('requestedOutputs');
  });

  it('treats an empty outputs list as all outputs', () => {
    expect(decodeInferRequest(fp32([1, 4], [1, 2, 3, 4], { outputs: [] }), CLASSIFIER, OUTPUTS)).not.toHaveProperty('requestedOutputs');
  });

  it('sums elements over inputs and takes the batch from the first model input', () => {
    const body = {
      inputs: [
        { name: 'mask', shape: [3, 2], datatype: 'INT64', data: [1, 1, 1, 0, 1, 1] },
        { name: 'ids', shape: [3, 2], datatype: 'INT64', data: [101, 7, 9, 0, 5, 6] },
      ],
    };
    const d = decodeInferRequest(body, TOKENS);
    expect(d.batchSize).toBe(3);
    expect(d.inputElements).toBe(12);
    expect(Array.from(d.feeds.ids?.data as BigInt64Array)).toEqual([101n, 7n, 9n, 0n, 5n, 6n]);
  });

  it.each<[TensorSpec['datatype'], unknown[], ort.Tensor.Type, unknown[]]>([
    ['BOOL', [true, false], 'bool', [1, 0]],
    ['UINT8', [0, 255], 'uint8', [0, 255]],
    ['INT8', [-128, 127], 'int8', [-128, 127]],
    ['UINT16', [0, 65535], 'uint16', [0, 65535]],
    ['INT16', [-32768, 32767], 'int16', [-32768, 32767]],
    ['UINT32', [0, 4294967295], 'uint32', [0, 4294967295]],
    ['INT32', [-2147483648, 2147483647], 'int32', [-2147483648, 2147483647]],
    ['INT64', [-(2 ** 53 - 1), 2 ** 53 - 1], 'int64', [-(2n ** 53n - 1n), 2n ** 53n - 1n]],
    ['UINT64', [0, 2 ** 53 - 1], 'uint64', [0n, 2n ** 53n - 1n]],
    ['FP16', [1, -2], 'float16', [0x3c00, 0xc000]],
    ['FP32', [0.5, -1e30], 'float32', [0.5, Math.fround(-1e30)]],
    ['FP64', [0.1, -1e300], 'float64', [0.1, -1e300]],
    ['BYTES', ['a', 'bc'], 'string', ['a', 'bc']],
  ])('builds %s tensors', (datatype, data, ortType, expected) => {
    const { body, specs } = one({ name: 'x', datatype, shape: [-1] }, data, [2]);
    const t = decodeInferRequest(body, specs).feeds.x;
    expect(t?.type).toBe(ortType);
    expect(Array.from(t?.data as ArrayLike<unknown>)).toEqual(expected);
  });

  it('first dims that are different named dimensions need not agree; the batch is the first input\'s', () => {
    const body = { inputs: [{ name: 'ids', shape: [2, 2], datatype: 'INT64', data: [1, 2, 3, 4] }, { name: 'table', shape: [3], datatype: 'INT64', data: [1, 2, 3] }] };
    expect(decodeInferRequest(body, INDEPENDENT, OUTPUTS)).toMatchObject({ batchSize: 2, inputElements: 7 });
  });

  it('accepts a rank-0 input as batch 1', () => {
    const d = decodeInferRequest({ inputs: [{ name: 't', shape: [], datatype: 'FP32', data: [0.7] }] }, [{ name: 't', datatype: 'FP32', shape: [] }]);
    expect(d.batchSize).toBe(1);
    expect(d.feeds.t?.dims).toEqual([]);
  });
});

describe('encodeInferResponse', () => {
  const results = {
    probabilities: new ort.Tensor('float32', new Float32Array([0.25, 0.75]), [1, 2]),
    label: new ort.Tensor('int64', new BigInt64Array([1n]), [1]),
  };

  it('encodes every output in model order with id and element count', () => {
    expect(encodeInferResponse('m', '1', 'r1', results, OUTPUTS)).toEqual({
      model_name: 'm',
      model_version: '1',
      id: 'r1',
      outputs: [
        { name: 'probabilities', shape: [1, 2], datatype: 'FP32', data: [0.25, 0.75] },
        { name: 'label', shape: [1], datatype: 'INT64', data: [1] },
      ],
      outputElements: 3,
    });
  });

  it('encodes only the requested outputs, and omits a missing id', () => {
    const r = encodeInferResponse('m', '1', undefined, results, OUTPUTS, ['label']);
    expect(r.outputs.map((o) => o.name)).toEqual(['label']);
    expect(r.outputElements).toBe(1);
    expect(r).not.toHaveProperty('id');
  });

  it.each<[string, ort.Tensor, unknown[]]>([
    ['safe INT64 as numbers', new ort.Tensor('int64', new BigInt64Array([-3n, 2n ** 53n - 1n]), [2]), [-3, 2 ** 53 - 1]],
    ['unsafe INT64 as decimal strings', new ort.Tensor('int64', new BigInt64Array([1n, 2n ** 60n]), [2]), ['1', '1152921504606846976']],
    ['BOOL as booleans', new ort.Tensor('bool', new Uint8Array([1, 0]), [2]), [true, false]],
    ['FP16 as numbers', new ort.Tensor('float16', new Uint16Array([0x3c00, 0x3555]), [2]), [1, fromHalfBits(0x3555)]],
    ['BYTES as strings', new ort.Tensor('string', ['x', 'y'], [2]), ['x', 'y']],
  ])('encodes %s', (_label, tensor, data) => {
    const r = encodeInferResponse('m', '1', undefined, { out: tensor }, [], ['out']);
    expect(r.outputs[0]?.data).toEqual(data);
  });

  it('fails loudly when the session did not produce a requested output', () => {
    const err = caught(() => encodeInferResponse('m', '1', undefined, results, OUTPUTS, ['logits']));
    expect(err).toMatchObject({ kind: 'internal', code: 'missing_output' });
  });
});

describe('half-precision conversion', () => {
  it.each([
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.1, 0x2e66],
    [1 / 3, 0x3555],
    [65504, 0x7bff],
    [2 ** -24, 0x0001],
    [2 ** -14, 0x0400],
    [2 ** -26, 0x0000],
    [1 + 2 ** -11, 0x3c00], // exactly halfway: ties to even
    [1 + 3 * 2 ** -11, 0x3c02],
  ])('toHalfBits(%d) = %i', (value, bits) => {
    expect(toHalfBits(value)).toBe(bits);
  });

  it('round-trips every finite half exactly', () => {
    const wrong: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) !== 0x7c00 && toHalfBits(fromHalfBits(h)) !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });
});

describe('with a real session', () => {
  it('decodes, runs classifier-small and encodes a distribution per row', async () => {
    const path = fileURLToPath(new URL('../../models/classifier-small.onnx', import.meta.url));
    const session = await ort.InferenceSession.create(path);
    try {
      const specs: TensorSpec[] = [{ name: 'input', datatype: 'FP32', shape: [-1, 64] }];
      const outputs: TensorSpec[] = [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 10] }];
      const rows = [Array.from({ length: 64 }, (_, i) => i / 64), Array.from({ length: 64 }, (_, i) => -i / 64)];
      const d = decodeInferRequest({ id: 'x', inputs: [{ name: 'input', shape: [2, 64], datatype: 'FP32', data: rows }] }, specs, outputs);
      const r = encodeInferResponse('classifier-small', '1', d.id, await session.run(d.feeds), outputs);
      expect(r.outputs[0]?.shape).toEqual([2, 10]);
      expect(r.outputElements).toBe(20);
      const data = r.outputs[0]?.data as number[];
      expect(data.slice(0, 10).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    } finally {
      await session.release();
    }
  });
});
