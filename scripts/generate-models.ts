/**
 * Generates the bundled demo models (SPEC §3): real ONNX files that onnxruntime runs on CPU.
 *
 *   node bin/run-ts.js scripts/generate-models.ts [outDir]     (default: ./models)
 *
 * Weights come from a seeded PRNG and every tensor is written as fixed little-endian bytes, so
 * re-running produces byte-identical files; test/models.test.ts regenerates and compares them,
 * which catches a committed model that no longer matches this script.
 *
 * The protobuf is encoded by protobufjs from scripts/onnx-subset.proto (ONNX's own field
 * numbers), rather than by hand-rolled varint code, so the wire format is a library's concern.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import protobuf from 'protobufjs';
import { seededRandom } from '../src/seeded-random.ts';

const IR_VERSION = 7;
const OPSET = 13;
/** ONNX TensorProto.DataType values used here. */
const FLOAT = 1;
const INT8 = 3;
/** ONNX AttributeProto.AttributeType values used here. */
const ATTR_INT = 2;

export const INPUT_NAME = 'input';
export const OUTPUT_NAME = 'probabilities';
export const INPUT_FEATURES = 64;
export const NUM_CLASSES = 10;

export interface ModelSpec {
  file: string;
  /** Layer widths, input first: [64, 128, 10] is 64→128 (ReLU) →10. */
  widths: readonly number[];
  seed: number;
  /** Weight-only int8 (QDQ): INT8 weights with per-channel scales, DequantizeLinear before MatMul. */
  quantize: boolean;
  doc: string;
}

export const MODEL_SPECS: readonly ModelSpec[] = [
  { file: 'classifier-small.onnx', widths: [64, 128, 10], seed: 0x5eed_0001, quantize: false, doc: 'MLP 64-128-10 classifier (float32)' },
  {
    file: 'classifier-large.onnx',
    widths: [64, 512, 512, 10],
    seed: 0x5eed_0002,
    quantize: false,
    doc: 'MLP 64-512-512-10 classifier (float32), about 30x the compute of classifier-small',
  },
  // Same seed as classifier-small: it is that model's weights, quantized.
  {
    file: 'classifier-small-int8.onnx',
    widths: [64, 128, 10],
    seed: 0x5eed_0001,
    quantize: true,
    doc: 'classifier-small with int8 weights (per-channel symmetric QDQ)',
  },
];

interface Dense {
  inDim: number;
  outDim: number;
  /** Row-major [inDim, outDim], ready for MatMul(x, W). */
  weight: Float32Array;
  bias: Float32Array;
}

/** Glorot-uniform weights and small biases; only +,*,sqrt so results are bit-stable. */
function makeDense(rng: () => number, inDim: number, outDim: number): Dense {
  const limit = Math.sqrt(6 / (inDim + outDim));
  const weight = new Float32Array(inDim * outDim);
  for (let i = 0; i < weight.length; i++) weight[i] = (rng() * 2 - 1) * limit;
  const bias = new Float32Array(outDim);
  for (let i = 0; i < bias.length; i++) bias[i] = (rng() * 2 - 1) * 0.1;
  return { inDim, outDim, weight, bias };
}

/** Symmetric per-output-channel int8: scale[j] = max|W[:,j]| / 127, zero point 0. */
function quantizeColumns(d: Dense): { q: Int8Array; scale: Float32Array } {
  const scale = new Float32Array(d.outDim);
  for (let j = 0; j < d.outDim; j++) {
    let max = 0;
    for (let i = 0; i < d.inDim; i++) max = Math.max(max, Math.abs(d.weight[i * d.outDim + j] ?? 0));
    scale[j] = max > 0 ? max / 127 : 1;
  }
  const q = new Int8Array(d.weight.length);
  for (let k = 0; k < q.length; k++) {
    const s = scale[k % d.outDim] ?? 1;
    q[k] = Math.max(-127, Math.min(127, Math.round((d.weight[k] ?? 0) / s)));
  }
  return { q, scale };
}

/** TensorProto / NodeProto as plain objects in onnx-subset.proto's field names. */
interface TensorObject {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
}
type NodeObject = ReturnType<typeof node>;

/** ONNX raw_data is little-endian regardless of the host, so write through a DataView. */
function floatTensor(name: string, dims: number[], data: Float32Array): TensorObject {
  const bytes = new Uint8Array(data.length * 4);
  const view = new DataView(bytes.buffer);
  data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return { name, dims, data_type: FLOAT, raw_data: bytes };
}

function int8Tensor(name: string, dims: number[], data: Int8Array): TensorObject {
  return { name, dims, data_type: INT8, raw_data: new Uint8Array(data.buffer.slice(0)) };
}

function node(opType: string, name: string, input: string[], output: string[], attrs: Record<string, number> = {}) {
  const attribute = Object.entries(attrs).map(([key, i]) => ({ name: key, type: ATTR_INT, i }));
  return { op_type: opType, name, input, output, attribute };
}

function valueInfo(name: string, dims: Array<number | string>) {
  const dim = dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d }));
  return { name, type: { tensor_type: { elem_type: FLOAT, shape: { dim } } } };
}

/** One dense layer as MatMul + Add (+ Relu unless last); quantized layers dequantize their weight first. */
function layerGraph(d: Dense, index: number, input: string, last: boolean, quantize: boolean) {
  const p = `fc${index}`;
  const nodes: NodeObject[] = [];
  const initializers: TensorObject[] = [];
  const weightName = `${p}.weight`;
  if (quantize) {
    const { q, scale } = quantizeColumns(d);
    initializers.push(
      int8Tensor(`${p}.weight_quantized`, [d.inDim, d.outDim], q),
      floatTensor(`${p}.weight_scale`, [d.outDim], scale),
      int8Tensor(`${p}.weight_zero_point`, [d.outDim], new Int8Array(d.outDim)),
    );
    nodes.push(
      node('DequantizeLinear', `${p}.dequantize`, [`${p}.weight_quantized`, `${p}.weight_scale`, `${p}.weight_zero_point`], [weightName], {
        axis: 1,
      }),
    );
  } else {
    initializers.push(floatTensor(weightName, [d.inDim, d.outDim], d.weight));
  }
  initializers.push(floatTensor(`${p}.bias`, [d.outDim], d.bias));
  nodes.push(node('MatMul', `${p}.matmul`, [input, weightName], [`${p}.mm`]));
  nodes.push(node('Add', `${p}.add`, [`${p}.mm`, `${p}.bias`], [`${p}.out`]));
  let output = `${p}.out`;
  if (!last) {
    nodes.push(node('Relu', `${p}.relu`, [output], [`${p}.act`]));
    output = `${p}.act`;
  }
  return { nodes, initializers, output };
}

export function paramCount(widths: readonly number[]): number {
  let n = 0;
  for (let i = 1; i < widths.length; i++) n += (widths[i - 1] ?? 0) * (widths[i] ?? 0) + (widths[i] ?? 0);
  return n;
}

/** The ModelProto as a plain object in onnx-subset.proto's field names. */
export function buildModel(spec: ModelSpec) {
  const rng = seededRandom(spec.seed);
  const layers: Dense[] = [];
  for (let i = 1; i < spec.widths.length; i++) layers.push(makeDense(rng, spec.widths[i - 1] ?? 0, spec.widths[i] ?? 0));

  const nodes: NodeObject[] = [];
  const initializers: TensorObject[] = [];
  let current = INPUT_NAME;
  layers.forEach((d, i) => {
    const layer = layerGraph(d, i + 1, current, i === layers.length - 1, spec.quantize);
    nodes.push(...layer.nodes);
    initializers.push(...layer.initializers);
    current = layer.output;
  });
  nodes.push(node('Softmax', 'softmax', [current], [OUTPUT_NAME], { axis: -1 }));

  const name = spec.file.replace(/\.onnx$/, '');
  return {
    ir_version: IR_VERSION,
    opset_import: [{ domain: '', version: OPSET }],
    producer_name: 'inferledger',
    producer_version: 'generate-models/1',
    model_version: 1,
    doc_string: spec.doc,
    metadata_props: [
      { key: 'inferledger.param_count', value: String(paramCount(spec.widths)) },
      { key: 'inferledger.seed', value: String(spec.seed) },
    ],
    graph: {
      name,
      node: nodes,
      initializer: initializers,
      input: [valueInfo(INPUT_NAME, ['batch', INPUT_FEATURES])],
      output: [valueInfo(OUTPUT_NAME, ['batch', NUM_CLASSES])],
    },
  };
}

async function loadModelProto(): Promise<protobuf.Type> {
  // keepCase: the plain objects below use onnx.proto's snake_case names; without it protobufjs
  // expects camelCase and silently drops every multi-word field.
  const root = await new protobuf.Root().load(fileURLToPath(new URL('./onnx-subset.proto', import.meta.url)), { keepCase: true });
  return root.lookupType('onnx.ModelProto');
}

export function encodeModel(modelType: protobuf.Type, spec: ModelSpec): Uint8Array {
  const model = buildModel(spec);
  const problem = modelType.verify(model);
  if (problem) throw new Error(`${spec.file}: ${problem}`);
  return modelType.encode(modelType.fromObject(model)).finish();
}

export interface GeneratedModel {
  file: string;
  path: string;
  bytes: number;
  params: number;
}

/** Writes every model in MODEL_SPECS into outDir and returns what was written. */
export async function generateModels(outDir: string): Promise<GeneratedModel[]> {
  const modelType = await loadModelProto();
  await mkdir(outDir, { recursive: true });
  const written: GeneratedModel[] = [];
  for (const spec of MODEL_SPECS) {
    const bytes = encodeModel(modelType, spec);
    const path = resolve(outDir, spec.file);
    await writeFile(path, bytes);
    written.push({ file: spec.file, path, bytes: bytes.length, params: paramCount(spec.widths) });
  }
  return written;
}

/**
 * Not bundled (17 MB): a model with enough work per request to give a GPU something to do, for
 * `scripts/gpu-check.ts --wide FILE`. Same input and output as the classifiers.
 */
export const WIDE_CHECK_SPEC: ModelSpec = {
  file: 'classifier-wide.onnx',
  widths: [64, 2048, 2048, 10],
  seed: 0x5eed_0003,
  quantize: false,
  doc: 'MLP 64-2048-2048-10 (float32), GPU check only',
};

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  if (process.argv[2] === '--wide') {
    // node bin/run-ts.js scripts/generate-models.ts --wide FILE
    const path = resolve(process.argv[3] ?? WIDE_CHECK_SPEC.file);
    const bytes = encodeModel(await loadModelProto(), WIDE_CHECK_SPEC);
    await writeFile(path, bytes);
    console.log(`${path}  ${bytes.length} bytes  ${paramCount(WIDE_CHECK_SPEC.widths)} params`);
  } else {
    const outDir = resolve(process.argv[2] ?? 'models');
    for (const m of await generateModels(outDir)) {
      console.log(`${m.path}  ${m.bytes} bytes  ${m.params} params`);
    }
  }
}
