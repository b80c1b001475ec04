import { randomUUID } from 'node:crypto';
import { SpanKind, SpanStatusCode, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { AppError } from '../errors.ts';
import { retryAfterSeconds, windowPhrase } from '../quotas/windows.ts';
import { ATTR, INFERENCE_OPERATION, INFERENCE_SPAN_NAME } from '../telemetry/attributes.ts';
import type { RequestMetrics, RequestStatus } from '../telemetry/request-metrics.ts';
import { AdmissionAbandoned, type Admitted, type FairQueue } from './fair-queue.ts';
import type { ModelMetadata, ModelRegistry, ModelSummary, ResolvedModel } from './models/types.ts';
import type { CpuLedger } from './resources/cpu-ledger.ts';
import { GpuTimeLedger, monotonicMicros } from './resources/gpu-time-ledger.ts';
import type { QuotaAdmission, QuotaAdmitted, QuotaRejection } from './quota-client.ts';
import type { RefusalPacer } from './refusal-pacer.ts';
import { decodeInferRequest, encodeInferResponse, type DecodedRequest, type InferResponse } from './tensors.ts';

export interface InferenceDeps {
  registry: ModelRegistry;
  tracer: Tracer;
  ledger: CpuLedger;
  admission: FairQueue;
  /** Time on each GPU, for models on the CUDA provider; default: a ledger on the monotonic clock. */
  gpuTime?: GpuTimeLedger;
  /** Process CPU counter in microseconds (user + system), read at ledger events. */
  readCpuMicros: () => number;
  /** Monotonic milliseconds, for queue and inference durations. */
  monotonicMs?: () => number;
  /** Per-tenant quotas (SPEC §6), checked after decoding and before the concurrency queue. */
  quotas?: QuotaAdmission;
  /** Holds back repeated refusals of a tenant in a quota window it was already refused in. */
  refusalPacer?: RefusalPacer;
  /** Live request metrics: told about exactly the requests that get a span. */
  metrics?: RequestMetrics;
  /**
   * Resolves once an ended span is durable (the span journal), so a served request is answered
   * only when its billing record would survive a crash. Never rejects.
   */
  recorded?: (span: Span) => Promise<void>;
}

export type InferResult = Omit<InferResponse, 'outputElements'>;

/**
 * Serves inference for one tenant at a time and records every admitted or rejected request as one
 * SERVER span. Requests that fail validation (unknown model, bad tensors) are answered before a
 * span exists: they used no capacity and are not billable, so nothing is written for them.
 */
export class InferenceService {
  private readonly monotonicMs: () => number;
  private readonly gpuTime: GpuTimeLedger;

  constructor(private readonly deps: InferenceDeps) {
    this.monotonicMs = deps.monotonicMs ?? (() => performance.now());
    this.gpuTime = deps.gpuTime ?? new GpuTimeLedger(monotonicMicros);
  }

  listModels(tenantId: string): ModelSummary[] {
    return this.deps.registry.list(tenantId);
  }

  modelMetadata(tenantId: string, model: string): ModelMetadata {
    return this.deps.registry.metadata(this.resolve(tenantId, model));
  }

  /**
   * `receivedAt`: when the request arrived (the HTTP layer knows; default now). `connection`: the
   * connection it came on, when there is one (refusal pacing holds at most one per connection).
   * `clientGone`: aborts when the client goes away; a request still waiting for a slot then never
   * runs (nor is billed), its quota units go back, and it is recorded as refused (`client_closed`).
   */
  async infer(tenantId: string, model: string, body: unknown, receivedAt = preciseNow(), connection?: object, clientGone?: AbortSignal): Promise<InferResult> {
    const resolved = this.resolve(tenantId, model);
    // Requested outputs are checked before admission: a name the model lacks is the caller's 400,
    // not a 500 after the model ran and the request was charged.
    const decoded = decodeInferRequest(body, resolved.inputs, resolved.outputs);
    const attributes = requestAttributes(tenantId, resolved, decoded);
    const quota = await this.admitQuota(tenantId, resolved.tokens ? decoded.inputElements : 0, receivedAt, attributes, connection);
    try {
      return await this.admitAndRun(tenantId, receivedAt, resolved, decoded, attributes, quota, clientGone, connection);
    } finally {
      quota.release();
    }
  }

  /** Quotas first: a request over quota is refused (and recorded) before it can wait for a slot. */
  private async admitQuota(tenantId: string, tokens: number, receivedAt: number, attributes: Attributes, connection?: object): Promise<QuotaAdmitted> {
    if (!this.deps.quotas) return NO_QUOTA;
    const decision = await this.deps.quotas.admit(tenantId, tokens);
    if (decision.ok) return decision;
    if (decision.reason === 'quota_authority_unavailable') {
      this.recordRejection(receivedAt, attributes, decision.reason, 503);
      throw new AppError('unavailable', 'the quota authority is unreachable and quotas fail closed: retry later', {
        code: 'quota_authority_unavailable',
        details: { retryAfterSeconds: decision.retryAfterSeconds },
      });
    }
    if (decision.reason === 'quota_authority_refused') {
      this.recordRejection(receivedAt, attributes, decision.reason, 503);
      throw new AppError('unavailable', "the quota authority refuses this sidecar's key for this tenant (quotas.authority_key revoked, rotated or another tenant's): retry later", {
        code: 'quota_authority_refused',
        details: { retryAfterSeconds: decision.retryAfterSeconds },
      });
    }
    if (decision.kind === 'tokens_per_day' && typeof decision.limit === 'number' && tokens > decision.limit) {
      // Found by dogfooding: a 429 whose Retry-After (midnight) could never work, for a request
      // larger than the whole daily budget. It is the request that is too large, on any day.
      this.recordRejection(receivedAt, attributes, decision.kind, 413);
      throw new AppError('payload_too_large', `this request has ${tokens} input tokens, more than the tenant's whole tokens_per_day limit of ${decision.limit}: no day can admit it; send fewer tokens per request`, {
        code: 'exceeds_quota_limit',
        details: { quota: decision.kind, limit: decision.limit, tokens },
      });
    }
    this.recordRejection(receivedAt, attributes, decision.kind);
    const { resetAt } = decision;
    const paced = resetAt !== undefined && (await this.deps.refusalPacer?.pace({ tenantId, kind: decision.kind, resetAt, receivedAt, connection })) === true;
    if (paced) this.deps.metrics?.paced?.(tenantId);
    // A held answer says how long is left when it is sent, not when it was decided.
    const retry = paced ? retryAfterSeconds(resetAt, Date.now()) : decision.retryAfterSeconds;
    throw new AppError('quota_exceeded', quotaMessage(decision), {
      code: 'quota_exceeded',
      details: { quota: decision.kind, limit: decision.limit, retryAfterSeconds: retry },
      closeConnection: paced,
    });
  }

  private async admitAndRun(
    tenantId: string,
    receivedAt: number,
    resolved: ResolvedModel,
    decoded: DecodedRequest,
    attributes: Attributes,
    quota: QuotaAdmitted,
    clientGone?: AbortSignal,
    connection?: object,
  ): Promise<InferResult> {
    // Weighted fair queueing across tenants once the sidecar is saturated (weights by plan).
    const admission = this.deps.admission.tryAdmit(tenantId, undefined, undefined, clientGone);
    if (!admission) {
      // Refused for lack of room, not for the tenant's usage: its quota units go back.
      quota.refund();
      this.recordRejection(receivedAt, attributes, 'queue_full');
      // Held like a repeated quota refusal when the tenant filled its own places and keeps sending.
      const paced =
        this.deps.admission.tenantQueueFull(tenantId) &&
        (await this.deps.refusalPacer?.paceFullQueue({ tenantId, receivedAt, retryAfterMs: QUEUE_FULL_RETRY_S * 1000, connection })) === true;
      if (paced) this.deps.metrics?.paced?.(tenantId);
      throw new AppError('quota_exceeded', 'the sidecar is saturated: admission queue is full, retry later', {
        code: 'queue_full',
        details: { retryAfterSeconds: QUEUE_FULL_RETRY_S },
        closeConnection: paced,
      });
    }
    let admitted: Admitted;
    try {
      admitted = await admission;
      if (clientGone?.aborted && admitted.queueMs > 0) {
        // Granted a slot in the same turn the client left: give it to the next waiter unused. (A
        // request that did not wait runs even so: a half-closing client still wants its answer.)
        admitted.release();
        throw new AdmissionAbandoned();
      }
    } catch (err) {
      if (!(err instanceof AdmissionAbandoned)) throw err;
      // Found by dogfooding: requests whose clients reset their connections while queued still
      // ran, were billed as served and held the tenant's concurrent_requests slots meanwhile.
      quota.refund();
      this.recordRejection(receivedAt, attributes, 'client_closed', CLIENT_CLOSED_STATUS);
      throw new AppError('invalid', 'the client closed its connection before the request was served', { code: 'client_closed' });
    }
    const { release, queueMs } = admitted;
    const span = this.deps.tracer.startSpan(INFERENCE_SPAN_NAME, { kind: SpanKind.SERVER, startTime: receivedAt, attributes });
    const requestId = randomUUID();
    const { ledger, readCpuMicros } = this.deps;
    const started = this.monotonicMs();
    // Weight ~ work: input elements x parameters approximates the multiply-adds of the run.
    const weight = Math.max(1, decoded.inputElements * (resolved.paramCount ?? 1));
    const gpu = resolved.gpuDevice;
    ledger.begin(requestId, weight, readCpuMicros());
    if (gpu !== undefined) this.gpuTime.begin(gpu, requestId, weight);
    let usage: Usage | undefined;
    const endUsage = (): Usage => ({
      cpuMicros: ledger.end(requestId, readCpuMicros()),
      gpuMicros: gpu === undefined ? undefined : this.gpuTime.end(gpu, requestId),
    });
    let outcome: { response: InferResult } | { error: AppError };
    try {
      const results = await resolved.session.run(decoded.feeds);
      usage = endUsage();
      const { outputElements, ...response } = encodeInferResponse(
        resolved.logicalName, resolved.version, decoded.id, results, resolved.outputs, decoded.requestedOutputs,
      );
      finish(span, { queueMs, inferenceMs: this.monotonicMs() - started, ...usage, outputElements, status: 200 });
      this.observe(attributes, 'ok', receivedAt, queueMs, usage);
      outcome = { response };
    } catch (err) {
      // A failed run still used CPU (and held its GPU); charge what it used (end exactly once).
      usage ??= endUsage();
      const appErr = err instanceof AppError ? err : new AppError('internal', `inference failed: ${(err as Error).message}`, { code: 'inference_failed', cause: err });
      finish(span, { queueMs, inferenceMs: this.monotonicMs() - started, ...usage, status: appErr.kind === 'internal' ? 500 : 400, error: appErr });
      this.observe(attributes, 'error', receivedAt, queueMs, usage);
      outcome = { error: appErr };
    } finally {
      release();
    }
    // The slot is free already; the answer waits until the billing record is durable (a failed
    // run used CPU and is billed too).
    await this.deps.recorded?.(span).catch((err: unknown) => {
      // Neither the span journal nor the store took the record (a full disk and no ClickHouse):
      // the record is dropped, so this must not be a success the tenant would not be billed for.
      throw new AppError('unavailable', 'the request could not be recorded for billing (no disk space for the span journal and the store is unreachable); it was not billed: retry later', {
        code: 'recording_unavailable',
        cause: err,
      });
    });
    if ('error' in outcome) throw outcome.error;
    return outcome.response;
  }

  private resolve(tenantId: string, model: string): ResolvedModel {
    const resolved = this.deps.registry.resolve(tenantId, model);
    if (!resolved) throw new AppError('not_found', `model "${model}" not found`, { code: 'model_not_found' });
    return resolved;
  }

  private recordRejection(receivedAt: number, attributes: Attributes, reason: string, httpStatus = 429): void {
    // A refused request used no tokens: gen_ai.usage.* is what billing and the quotas count.
    const { [ATTR.inputTokens]: _unused, ...refused } = attributes;
    const span = this.deps.tracer.startSpan(INFERENCE_SPAN_NAME, { kind: SpanKind.SERVER, startTime: receivedAt, attributes: refused });
    span.setAttributes({ [ATTR.rejected]: true, [ATTR.rejectReason]: reason, [ATTR.errorType]: reason, [ATTR.httpStatus]: httpStatus, [ATTR.cpuSeconds]: 0 });
    span.setStatus({ code: SpanStatusCode.ERROR, message: reason });
    span.end(preciseNow());
    this.observe(attributes, 'rejected', receivedAt);
  }

  private observe(attributes: Attributes, status: RequestStatus, receivedAt: number, queueMs?: number, usage: Usage = NO_USAGE): void {
    this.deps.metrics?.observe({
      tenantId: String(attributes[ATTR.tenantId]),
      model: String(attributes[ATTR.requestModel]),
      status,
      durationS: (preciseNow() - receivedAt) / 1000,
      queueS: queueMs === undefined ? undefined : queueMs / 1000,
      cpuS: usage.cpuMicros / 1e6,
      ...(usage.gpuMicros === undefined ? {} : { gpuS: usage.gpuMicros / 1e6 }),
    });
  }
}

const NO_QUOTA: QuotaAdmitted = { ok: true, release: () => {}, refund: () => {} };

/** A full queue's Retry-After: a place can free up at any moment. */
const QUEUE_FULL_RETRY_S = 1;

/** Recorded for a request whose client left before it was served (nginx's "client closed request"). */
const CLIENT_CLOSED_STATUS = 499;

/** What a run was charged: CPU from the CPU ledger; GPU time only for models on a GPU. */
interface Usage {
  cpuMicros: number;
  gpuMicros: number | undefined;
}

const NO_USAGE: Usage = { cpuMicros: 0, gpuMicros: undefined };

function quotaMessage(r: Extract<QuotaRejection, { reason: 'quota_exceeded' }>): string {
  const reset = r.resetAt === undefined ? `retry in ${r.retryAfterSeconds} s` : `resets at ${new Date(r.resetAt).toISOString()}`;
  return `quota ${r.kind} exceeded: limit ${r.limit} ${windowPhrase(r.kind)}; ${reset}`;
}

function requestAttributes(tenantId: string, resolved: ResolvedModel, decoded: DecodedRequest): Attributes {
  const attrs: Attributes = {
    [ATTR.tenantId]: tenantId,
    [ATTR.operationName]: INFERENCE_OPERATION,
    [ATTR.requestModel]: resolved.logicalName,
    [ATTR.responseModel]: resolved.variantName,
    [ATTR.modelVariant]: resolved.variantName,
    [ATTR.modelVersion]: resolved.version,
    [ATTR.batchSize]: decoded.batchSize,
    [ATTR.inputElements]: decoded.inputElements,
  };
  if (resolved.tokens) attrs[ATTR.inputTokens] = decoded.inputElements;
  if (decoded.id) attrs[ATTR.requestId] = decoded.id;
  return attrs;
}

interface Outcome extends Usage {
  queueMs: number;
  inferenceMs: number;
  status: number;
  outputElements?: number;
  error?: AppError;
}

function finish(span: Span, o: Outcome): void {
  span.setAttributes({
    [ATTR.queueMs]: round3(o.queueMs),
    [ATTR.inferenceMs]: round3(o.inferenceMs),
    [ATTR.cpuSeconds]: o.cpuMicros / 1e6,
    [ATTR.gpuSeconds]: (o.gpuMicros ?? 0) / 1e6,
    [ATTR.httpStatus]: o.status,
  });
  if (o.outputElements !== undefined) span.setAttribute(ATTR.outputElements, o.outputElements);
  if (o.error) {
    span.setAttribute(ATTR.errorType, o.error.code);
    span.setStatus({ code: SpanStatusCode.ERROR, message: o.error.message });
  } else {
    span.setStatus({ code: SpanStatusCode.OK });
  }
  span.end(preciseNow());
}

const round3 = (ms: number) => Math.round(ms * 1000) / 1000;

/**
 * Epoch ms with sub-millisecond precision from the monotonic clock. Both ends of a span must come
 * from it: given only a start time, the SDK ends the span at Date.now(), quantising Duration
 * (and so every latency percentile) to whole milliseconds.
 */
/** Epoch ms with sub-ms precision (span times are nanoseconds). */
export const preciseNow = (): number => performance.timeOrigin + performance.now();
