/**
 * Every span and resource attribute name the product writes or reads, in one place.
 * gen_ai.* names follow the OpenTelemetry GenAI semantic conventions; inferledger.* are ours.
 * The requests materialized view (store/migrations) reads the same names: change both together.
 */
export const ATTR = {
  tenantId: 'tenant.id',
  operationName: 'gen_ai.operation.name',
  requestModel: 'gen_ai.request.model',
  responseModel: 'gen_ai.response.model',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  modelVersion: 'inferledger.model.version',
  modelVariant: 'inferledger.model.variant',
  batchSize: 'inferledger.batch_size',
  inputElements: 'inferledger.input_elements',
  outputElements: 'inferledger.output_elements',
  queueMs: 'inferledger.queue_ms',
  inferenceMs: 'inferledger.inference_ms',
  cpuSeconds: 'inferledger.cpu_seconds',
  gpuSeconds: 'inferledger.gpu_seconds',
  rejected: 'inferledger.rejected',
  rejectReason: 'inferledger.reject_reason',
  errorType: 'error.type',
  httpStatus: 'http.response.status_code',
  requestId: 'inferledger.request_id',
} as const;

export const RESOURCE_ATTR = {
  serviceName: 'service.name',
  serviceInstanceId: 'service.instance.id',
  serviceVersion: 'service.version',
  hostName: 'host.name',
  gpuModel: 'inferledger.gpu.model',
  gpuCount: 'inferledger.gpu.count',
} as const;

/** The span name of one inference request; the requests view selects spans by it. */
export const INFERENCE_SPAN_NAME = 'inference';
/** gen_ai.operation.name for OIP v2 tensor inference (not chat/completions). */
export const INFERENCE_OPERATION = 'inference';
