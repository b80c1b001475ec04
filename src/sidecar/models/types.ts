import type { InferenceSession, Tensor } from 'onnxruntime-node';

/**
 * Types shared by the model registry, the tensor codec and the sidecar routes. Names follow the
 * Open Inference Protocol v2 (KServe / Triton REST), which is what callers see.
 */

/** KServe v2 tensor datatypes the sidecar can serve (BF16 and 4-bit types have no ORT-node tensor). */
export type Datatype =
  | 'BOOL'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'FP16'
  | 'FP32'
  | 'FP64'
  | 'BYTES';

/** The onnxruntime tensor type behind each OIP datatype; the inverse is `datatypeOfOrtType`. */
export const ORT_TYPE_OF: Readonly<Record<Datatype, Tensor.Type>> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};

/** OIP datatype for an onnxruntime tensor type, or undefined for types OIP cannot carry (int4, uint4). */
export function datatypeOfOrtType(type: Tensor.Type): Datatype | undefined {
  for (const [datatype, ortType] of Object.entries(ORT_TYPE_OF) as Array<[Datatype, Tensor.Type]>) {
    if (ortType === type) return datatype;
  }
  return undefined;
}

export interface TensorSpec {
  name: string;
  datatype: Datatype;
  /** -1 marks a dynamic dimension (a symbolic dim_param such as "batch"). */
  shape: number[];
  /**
   * The symbolic name (ONNX dim_param) of each dimension, null where it has none (fixed, or
   * dynamic without a name). Dynamic dims with the same name must be equal in one request;
   * absent when unknown (then the dynamic first dims of all inputs are taken to be the batch).
   */
  dimNames?: Array<string | null>;
}

export const PLATFORM = 'onnxruntime_onnx';

/** One entry of `GET /v2/models` (our extension): a model the caller may use. */
export interface ModelSummary {
  name: string;
  versions: string[];
  platform: typeof PLATFORM;
}

/** `GET /v2/models/{model}`: OIP v2 model metadata. */
export interface ModelMetadata extends ModelSummary {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/** What a tenant's logical model name resolves to: the variant's loaded session and its tensor specs. */
export interface ResolvedModel {
  /** The name the tenant asked for (and sees in responses). */
  logicalName: string;
  /** The configured model actually run: equals logicalName unless the tenant has a variant for it. */
  variantName: string;
  version: string;
  /** Input elements are tokens: spans then carry gen_ai.usage.*_tokens. */
  tokens: boolean;
  session: InferenceSession;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  paramCount?: number;
  /** The GPU the session runs on (CUDA execution provider); undefined: the CPU. */
  gpuDevice?: number;
}

export interface ModelRegistry {
  /** The models this tenant may use, by logical name, sorted. */
  list(tenantId: string): ModelSummary[];
  /** Undefined when the name is unknown *or* not allowed for the tenant: callers answer 404 for both. */
  resolve(tenantId: string, logicalName: string): ResolvedModel | undefined;
  metadata(resolved: ResolvedModel): ModelMetadata;
  /** Releases every session; afterwards the registry resolves nothing. Safe to call twice. */
  close(): Promise<void>;
}
