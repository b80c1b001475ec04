import { Counter, Histogram, type Registry } from 'prom-client';
import type { RequestMetrics, RequestObservation } from './request-metrics.ts';
import type { TenantLabeler } from './tenant-labeler.ts';

/**
 * The request families of the sidecar (SPEC §8), fed through the `RequestMetrics` port by the
 * inference service, so they count exactly the requests that become spans (and billed usage).
 */

/** Inference on CPU runs from sub-millisecond (small classifiers) to seconds (large models, batches). */
export const REQUEST_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Usually ~0 (a free slot); seconds only when the sidecar is saturated. */
export const QUEUE_WAIT_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function registerRequestMetrics(registry: Registry, labeler: TenantLabeler): RequestMetrics {
  const registers = [registry];
  const requests = new Counter({
    name: 'inferledger_requests_total',
    help: 'Inference requests by tenant, model and status (ok, error, rejected), as recorded in spans.',
    labelNames: ['tenant', 'model', 'status'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'inferledger_request_duration_seconds',
    help: 'Inference request duration from receipt (before the body is read) to the result, queue wait included, by tenant, model and status.',
    labelNames: ['tenant', 'model', 'status'] as const,
    buckets: REQUEST_DURATION_BUCKETS,
    registers,
  });
  const queueWait = new Histogram({
    name: 'inferledger_queue_wait_seconds',
    help: 'Time admitted requests waited for an inference slot, by tenant.',
    labelNames: ['tenant'] as const,
    buckets: QUEUE_WAIT_BUCKETS,
    registers,
  });
  const cpu = new Counter({
    name: 'inferledger_cpu_seconds_total',
    help: 'Process CPU seconds attributed to inference requests by the CPU ledger, by tenant and model.',
    labelNames: ['tenant', 'model'] as const,
    registers,
  });
  const gpu = new Counter({
    name: 'inferledger_gpu_seconds_total',
    help: 'GPU seconds held by inference runs of models on a GPU (GPU time ledger), by tenant and model.',
    labelNames: ['tenant', 'model'] as const,
    registers,
  });

  const paced = new Counter({
    name: 'inferledger_refusals_paced_total',
    help: 'Refusals answered only after quotas.repeat_refusal_delay_ms: the tenant kept sending in a quota window it had been refused in (Retry-After ignored), by tenant.',
    labelNames: ['tenant'] as const,
    registers,
  });

  return {
    paced(tenantId: string): void {
      try {
        paced.inc({ tenant: labeler.label(tenantId) });
      } catch {
        // A metric must never fail the request it describes.
      }
    },
    observe(o: RequestObservation): void {
      try {
        const tenant = labeler.label(o.tenantId);
        const labels = { tenant, model: o.model, status: o.status };
        requests.inc(labels);
        duration.observe(labels, nonNegative(o.durationS));
        if (o.queueS !== undefined) queueWait.observe({ tenant }, nonNegative(o.queueS));
        // Always touched, so a tenant × model with only rejections still shows 0 CPU, not no series.
        cpu.inc({ tenant, model: o.model }, nonNegative(o.cpuS));
        if (o.gpuS !== undefined) gpu.inc({ tenant, model: o.model }, nonNegative(o.gpuS));
      } catch {
        // A metric must never fail the request it describes.
      }
    },
  };
}

const nonNegative = (v: number) => (Number.isFinite(v) && v > 0 ? v : 0);
