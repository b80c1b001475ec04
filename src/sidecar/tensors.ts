import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { AppError, invalid, limitIssues } from '../errors.ts';
import { isWellFormedText } from '../ingest/json-shape.ts';
import { datatypeOfOrtType, type Datatype, type TensorSpec } from './models/types.ts';

/**
 * Open Inference Protocol v2 (KServe / Triton REST) request and response codec: JSON body ↔
 * onnxruntime tensors. Pure: no I/O, no session; every rejection is an AppError with a stable code.
 */

/** Total input elements one request may carry: bounds the memory a single body can make us allocate. */
export const MAX_INPUT_ELEMENTS = 1_048_576;
/** Deeper than any real model; also bounds the recursion when flattening nested `data`. */
const MAX_RANK = 16;
/**
 * Named inputs or requested outputs one request may list: far beyond any model's. Found by
 * fuzzing: `inputs` of 2.7M empty objects (8 MB, under the body limit) made zod report 13M issues
 * and the process ran out of memory; zod stops at a length check before looking at the items.
 */
export const MAX_TENSORS = 256;

const parametersSchema = z.record(z.string(), z.unknown());

export const inferRequestSchema = z.object({
  // It becomes a span attribute: a lone UTF-16 surrogate would make the span unstorable.
  id: z.string().max(256).refine(isWellFormedText, 'not valid Unicode (a lone UTF-16 surrogate)').optional(),
  parameters: parametersSchema.optional(),
  inputs: z
    .array(
      z.object({
        name: z.string().min(1),
        shape: z.array(z.number().int()).max(MAX_RANK),
        datatype: z.string().min(1),
        // Elements are type-checked while flattening (one pass), not by zod: 1M-element unions are slow.
        data: z.array(z.unknown()),
        parameters: parametersSchema.optional(),
      }),
    )
    .min(1)
    .max(MAX_TENSORS),
  outputs: z
    .array(z.object({ name: z.string().min(1), parameters: parametersSchema.optional() }))
    .max(MAX_TENSORS)
    .optional(),
});
export type InferRequestBody = z.infer<typeof inferRequestSchema>;
type RequestInput = InferRequestBody['inputs'][number];

export interface DecodedRequest {
  id?: string;
  feeds: Record<string, ort.Tensor>;
  /** First dimension of the model's first input (1 for a rank-0 input). */
  batchSize: number;
  inputElements: number;
  requestedOutputs?: string[];
}

export type OutputData = number[] | boolean[] | string[];

export interface InferResponse {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: Array<{ name: string; shape: number[]; datatype: Datatype; data: OutputData }>;
  /** Not part of OIP: the route strips it before replying and records it on the span. */
  outputElements: number;
}

/** How each datatype's JSON elements are checked and turned into an ort tensor. */
interface ElementCodec {
  accepts(v: unknown): boolean;
  expected: string;
  build(values: unknown[], dims: number[]): ort.Tensor;
}

const isInt = (min: number, max: number) => (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const isFloatIn = (max: number) => (v: unknown) => typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= max;
const FP32_MAX = 3.4028234663852886e38;
const FP16_MAX = 65504;

type NumericOrtType = 'float32' | 'float64' | 'int8' | 'int16' | 'int32' | 'uint8' | 'uint16' | 'uint32';
function numeric(type: NumericOrtType, accepts: (v: unknown) => boolean, expected: string): ElementCodec {
  return { accepts, expected, build: (values, dims) => new ort.Tensor(type, values as number[], dims) };
}
function int64(type: 'int64' | 'uint64', min: number): ElementCodec {
  // JSON numbers above 2^53 have already lost precision, so only safe integers are accepted.
  const accepts = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
  const expected = `a safe integer${min === 0 ? ' >= 0' : ''}`;
  return { accepts, expected, build: (values, dims) => new ort.Tensor(type, (values as number[]).map((n) => BigInt(n)), dims) };
}

const CODECS: Readonly<Record<Datatype, ElementCodec>> = {
  BOOL: {
    accepts: (v) => typeof v === 'boolean',
    expected: 'true or false',
    build: (values, dims) => new ort.Tensor('bool', values as boolean[], dims),
  },
  UINT8: numeric('uint8', isInt(0, 255), 'an integer in [0, 255]'),
  UINT16: numeric('uint16', isInt(0, 65535), 'an integer in [0, 65535]'),
  UINT32: numeric('uint32', isInt(0, 4294967295), 'an integer in [0, 4294967295]'),
  UINT64: int64('uint64', 0),
  INT8: numeric('int8', isInt(-128, 127), 'an integer in [-128, 127]'),
  INT16: numeric('int16', isInt(-32768, 32767), 'an integer in [-32768, 32767]'),
  INT32: numeric('int32', isInt(-2147483648, 2147483647), 'an integer in [-2147483648, 2147483647]'),
  INT64: int64('int64', Number.MIN_SAFE_INTEGER),
  FP16: {
    accepts: isFloatIn(FP16_MAX),
    expected: `a finite number within ±${FP16_MAX}`,
    // ort-node wants float16 as raw IEEE half bits; Node 20 has no Float16Array to do it for us.
    build: (values, dims) => new ort.Tensor('float16', Uint16Array.from(values as number[], toHalfBits), dims),
  },
  FP32: numeric('float32', isFloatIn(FP32_MAX), 'a finite number within the float32 range'),
  FP64: numeric('float64', isFloatIn(Number.MAX_VALUE), 'a finite number'),
  BYTES: {
    // onnxruntime-node's string tensors are C strings: "a\u0000b" would come back as "a".
    accepts: (v) => typeof v === 'string' && !v.includes('\u0000'),
    expected: 'a string without NUL characters (a string tensor ends at the first NUL)',
    build: (values, dims) => new ort.Tensor('string', values as string[], dims),
  },
};

/**
 * Validates an infer request body against the model's inputs and builds the feeds. With the
 * model's `outputs`, requested output names are checked too (`unknown_output`).
 * Checks run cheapest first and nothing large is allocated before the element cap is enforced.
 */
export function decodeInferRequest(body: unknown, inputs: TensorSpec[], outputs?: TensorSpec[]): DecodedRequest {
  refuseUnsupportedExtensions(body);
  const parsed = inferRequestSchema.safeParse(body);
  if (!parsed.success) throw invalid(`invalid infer request: ${formatIssues(parsed.error)}`, 'invalid_request');
  const req = parsed.data;
  const pairs = matchInputs(req.inputs, inputs);

  let inputElements = 0;
  for (const { spec, input } of pairs) {
    checkDatatype(input, spec);
    checkShape(input, spec);
    inputElements += product(input.shape);
  }
  if (inputElements > MAX_INPUT_ELEMENTS) {
    throw new AppError('payload_too_large', `request carries ${inputElements} input elements; the limit is ${MAX_INPUT_ELEMENTS}`, {
      code: 'too_large',
    });
  }
  const batchSize = checkBatch(pairs);
  const feeds: Record<string, ort.Tensor> = {};
  for (const { spec, input } of pairs) feeds[spec.name] = buildTensor(input, spec.datatype);
  const decoded: DecodedRequest = { feeds, batchSize, inputElements };
  if (req.id !== undefined) decoded.id = req.id;
  // An empty `outputs` list means "all outputs", as when it is absent.
  if (req.outputs?.length) decoded.requestedOutputs = requestedOutputs(req.outputs, outputs);
  return decoded;
}

function formatIssues(error: z.ZodError): string {
  return limitIssues(error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`));
}

interface InputPair {
  spec: TensorSpec;
  input: RequestInput;
}

/** Every model input present exactly once, nothing else; pairs come back in the model's input order. */
function matchInputs(given: RequestInput[], inputs: TensorSpec[]): InputPair[] {
  const known = new Set(inputs.map((s) => s.name));
  const byName = new Map<string, RequestInput>();
  for (const input of given) {
    if (!known.has(input.name)) throw invalid(`unknown input "${input.name}"; the model takes ${list(known)}`, 'unknown_input');
    if (byName.has(input.name)) throw invalid(`input "${input.name}" is given more than once`, 'duplicate_input');
    byName.set(input.name, input);
  }
  const pairs: InputPair[] = [];
  const missing: string[] = [];
  for (const spec of inputs) {
    const input = byName.get(spec.name);
    if (input) pairs.push({ spec, input });
    else missing.push(spec.name);
  }
  if (missing.length) throw invalid(`missing input ${list(missing)}`, 'missing_input');
  return pairs;
}

function checkDatatype(input: RequestInput, spec: TensorSpec): void {
  if (input.datatype !== spec.datatype) {
    throw invalid(`input "${spec.name}" has datatype ${input.datatype}; the model expects ${spec.datatype}`, 'datatype_mismatch');
  }
}

/** Same rank; fixed dims equal; dynamic (-1) dims at least 1. */
function checkShape(input: RequestInput, spec: TensorSpec): void {
  const fail = (why: string) =>
    invalid(`input "${spec.name}" has shape [${input.shape.join(',')}], model shape [${spec.shape.join(',')}]: ${why}`, 'shape_mismatch');
  if (input.shape.length !== spec.shape.length) throw fail(`expected rank ${spec.shape.length}`);
  spec.shape.forEach((want, axis) => {
    const got = input.shape[axis] ?? 0;
    if (want < 0 && got < 1) throw fail(`dimension ${axis} must be at least 1`);
    if (want >= 0 && got !== want) throw fail(`dimension ${axis} must be ${want}`);
  });
}

/**
 * Inputs whose first dimension is the same symbolic dimension (ONNX dim_param, e.g. "batch")
 * must agree on it; dynamic first dims with different names, or none, are independent (an
 * encoder's "batch" and a lookup table's "n"). Where the names are unknown, every dynamic first
 * dim is taken to be the batch. The batch size reported is the first dimension of the model's
 * first input.
 */
function checkBatch(pairs: InputPair[]): number {
  const seen = new Map<string, { name: string; size: number }>();
  for (const { spec, input } of pairs) {
    if ((spec.shape[0] ?? 0) >= 0) continue;
    const dim = spec.dimNames ? spec.dimNames[0] : '(batch)';
    if (dim === null || dim === undefined) continue;
    const size = input.shape[0] ?? 1;
    const first = seen.get(dim);
    if (first && first.size !== size) {
      const which = spec.dimNames ? ` dimension "${dim}"` : ' batch size';
      throw invalid(`inputs "${first.name}" and "${spec.name}" disagree on the${which} (${first.size} vs ${size})`, 'shape_mismatch');
    }
    if (!first) seen.set(dim, { name: spec.name, size });
  }
  return pairs[0]?.input.shape[0] ?? 1;
}

function buildTensor(input: RequestInput, datatype: Datatype): ort.Tensor {
  const expectedCount = product(input.shape);
  const values: unknown[] = [];
  if (!flattenInto(values, input.data, Math.max(input.shape.length, 1), expectedCount)) {
    throw invalid(`input "${input.name}": data is nested deeper than its shape [${input.shape.join(',')}]`, 'shape_mismatch');
  }
  if (values.length !== expectedCount) {
    const got = values.length > expectedCount ? `more than ${expectedCount}` : String(values.length);
    throw invalid(`input "${input.name}": shape [${input.shape.join(',')}] needs ${expectedCount} elements, data has ${got}`, 'shape_mismatch');
  }
  const codec = CODECS[datatype];
  const bad = values.findIndex((v) => !codec.accepts(v));
  if (bad >= 0) {
    // JSON.parse reads 1e999 as Infinity, which JSON.stringify would show as null.
    const value = values[bad];
    const shown = (typeof value === 'number' && !Number.isFinite(value) ? String(value) : String(JSON.stringify(value))).slice(0, 40);
    throw invalid(`input "${input.name}": element ${bad} is ${shown}, expected ${codec.expected} for ${datatype}`, 'invalid_data');
  }
  return codec.build(values, [...input.shape]);
}

/**
 * Appends the leaves of (possibly nested) `data` to `out`. Stops early once `out` holds more than
 * `limit` elements, so a body whose data outgrows its declared shape costs at most `limit` slots.
 * Returns false when nesting exceeds `depth`.
 */
function flattenInto(out: unknown[], data: readonly unknown[], depth: number, limit: number): boolean {
  for (const v of data) {
    if (out.length > limit) return true;
    if (Array.isArray(v)) {
      if (depth <= 1 || !flattenInto(out, v, depth - 1, limit)) return false;
    } else {
      out.push(v);
    }
  }
  return true;
}

/**
 * Triton's binary-tensor and classification extensions change what the request or the answer
 * means; accepting them silently would answer something else than was asked (full probabilities
 * for a top-k request) or fail with a misleading "data: expected array". Refused by name.
 */
function refuseUnsupportedExtensions(body: unknown): void {
  const b = body as { inputs?: Array<{ parameters?: Record<string, unknown> }>; outputs?: Array<{ parameters?: Record<string, unknown> }> } | null;
  if (typeof b !== 'object' || b === null) return;
  const has = (items: unknown, key: string) => Array.isArray(items) && items.some((i) => typeof i?.parameters === 'object' && i.parameters !== null && key in i.parameters);
  if (has(b.inputs, 'binary_data_size')) {
    throw invalid('binary tensor data (parameters.binary_data_size) is not supported: send the tensor in "data" as JSON', 'binary_data_unsupported');
  }
  if (has(b.outputs, 'classification')) {
    throw invalid('the classification extension (outputs[].parameters.classification) is not supported: request the output tensor and take its top k', 'classification_unsupported');
  }
}

function requestedOutputs(requested: Array<{ name: string }>, outputs: TensorSpec[] | undefined): string[] {
  const names = [...new Set(requested.map((o) => o.name))];
  if (outputs) {
    const known = new Set(outputs.map((o) => o.name));
    const unknown = names.find((n) => !known.has(n));
    if (unknown !== undefined) throw invalid(`unknown output "${unknown}"; the model produces ${list(known)}`, 'unknown_output');
  }
  return names;
}

/**
 * Builds the OIP response for the outputs asked for (all of the model's when `requested` is absent),
 * in the order asked. INT64/UINT64 tensors become JSON numbers when every element is a safe
 * integer and decimal strings otherwise (the whole tensor, so a client sees one element type).
 */
export function encodeInferResponse(
  modelName: string,
  version: string,
  id: string | undefined,
  results: ort.InferenceSession.ReturnType,
  outputs: TensorSpec[],
  requested?: string[],
): InferResponse {
  const names = requested ?? outputs.map((o) => o.name);
  let outputElements = 0;
  const encoded = names.map((name) => {
    const value = results[name];
    if (!(value instanceof ort.Tensor)) {
      throw new AppError('internal', `model ${modelName} produced no tensor for output "${name}"`, { code: 'missing_output' });
    }
    const datatype = datatypeOfOrtType(value.type);
    if (!datatype) throw new AppError('internal', `output "${name}" has type ${value.type}, which OIP cannot carry`, { code: 'unsupported_output' });
    outputElements += value.size;
    return { name, shape: [...value.dims], datatype, data: outputData(value) };
  });
  const response: InferResponse = { model_name: modelName, model_version: version, outputs: encoded, outputElements };
  if (id !== undefined) response.id = id;
  return response;
}

function outputData(t: ort.Tensor): OutputData {
  const data = t.data;
  if (t.type === 'bool' && data instanceof Uint8Array) return Array.from(data, (b) => b !== 0);
  if (t.type === 'float16' && data instanceof Uint16Array) return Array.from(data, fromHalfBits);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    const big = Array.from(data);
    const safe = big.every((b) => b <= BigInt(Number.MAX_SAFE_INTEGER) && b >= BigInt(Number.MIN_SAFE_INTEGER));
    return safe ? big.map(Number) : big.map(String);
  }
  if (Array.isArray(data)) return data.map(String);
  // Float NaN/±Infinity stay numbers here; JSON.stringify writes them as null, as Triton does.
  return Array.from(data);
}

/** IEEE 754 half ↔ double, round-half-to-even. Inputs are range-checked (|v| <= 65504) before this. */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
export function toHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0] ?? 0;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  const mant = x & 0x7fffff;
  if (exp >= 0x1f) return sign | 0x7c00;
  // Subnormal halves (and zero) keep the implicit leading 1 inside the shifted mantissa.
  const shift = exp <= 0 ? 14 - exp : 13;
  if (shift > 24) return sign;
  const full = exp <= 0 ? mant | 0x800000 : mant;
  let half = (exp <= 0 ? 0 : exp << 10) | (full >>> shift);
  const rem = full & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rem > halfway || (rem === halfway && (half & 1) === 1)) half++;
  return sign | half;
}

export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function list(names: Iterable<string>): string {
  return [...names].map((n) => `"${n}"`).join(', ');
}
