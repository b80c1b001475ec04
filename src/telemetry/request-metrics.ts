/**
 * The port through which the inference service reports each request it records as a span, so
 * that live metrics and billed usage count the same requests. No metrics library behind this
 * import: the sidecar domain stays free of prom-client.
 */

/** ok: served; error: admitted but the run failed; rejected: refused by quotas or a full queue. */
export type RequestStatus = 'ok' | 'error' | 'rejected';

export interface RequestObservation {
  tenantId: string;
  /** The logical model name the tenant asked for (bounded by configuration, not by input). */
  model: string;
  status: RequestStatus;
  /** From receipt (before the body is read) to the result, queue wait included; the answer's serialisation is not in it. */
  durationS: number;
  /** Time waiting for an inference slot; absent for requests refused before the queue. */
  queueS?: number;
  /** CPU seconds attributed to the request by the ledger (0 for rejections). */
  cpuS: number;
  /** GPU seconds the request's run held its GPU; absent for models on the CPU and for rejections. */
  gpuS?: number;
}

export interface RequestMetrics {
  /** Must not throw: metrics never fail a request. */
  observe(o: RequestObservation): void;
  /** A refusal repeated in a quota window was answered only after the pacing delay. Must not throw. */
  paced?(tenantId: string): void;
}
