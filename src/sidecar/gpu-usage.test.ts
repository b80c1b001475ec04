import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryAround } from '../../test/support/registry.ts';
import { BUNDLED_MODELS } from '../config/load.ts';
import { ATTR } from '../telemetry/attributes.ts';
import type { RequestObservation } from '../telemetry/request-metrics.ts';
import { FairQueue } from './fair-queue.ts';
import { InferenceService } from './inference-service.ts';
import { loadModelRegistry } from './models/model-registry.ts';
import type { ModelRegistry } from './models/types.ts';
import { CpuLedger } from './resources/cpu-ledger.ts';
import { GpuTimeLedger } from './resources/gpu-time-ledger.ts';
import { readProcessCpuMicros } from './resources/process-usage.ts';

/**
 * GPU seconds on spans. This machine has no GPU, so the model runs on the CPU session while the
 * registry says it is placed on GPU 0: the service's accounting does not depend on the provider.
 * (The same path on a real H100 with the CUDA provider is recorded in src/sidecar/README.md.)
 * Runs are held and released one by one and the ledger's clock is set by hand, so the expected
 * seconds are exact.
 */

const body = (id: string) => ({ id, inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: Array.from({ length: 64 }, (_, i) => (i % 5) / 5) }] });

let models: ModelRegistry;
beforeAll(async () => {
  models = await loadModelRegistry(BUNDLED_MODELS.map((m) => ({ ...m })), {}, { intraOpNumThreads: 1 });
});
afterAll(() => models?.close());

function rig() {
  let clock = 0;
  const held: Array<{ id: string; release: (fail?: boolean) => void }> = [];
  const registry = registryAround(
    models,
    async (tenantId, _feeds, run) => {
      const fail = await new Promise<boolean>((resolve) => held.push({ id: tenantId, release: (f = false) => resolve(f) }));
      if (fail) throw new Error('device lost');
      return run();
    },
    // The "gpu" tenant's model is placed on GPU 0; everyone else runs on the CPU.
    (tenantId) => ({ gpuDevice: tenantId === 'gpu' ? 0 : undefined }),
  );
  const spans = new InMemorySpanExporter();
  const observed: RequestObservation[] = [];
  const service = new InferenceService({
    registry,
    tracer: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }).getTracer('test'),
    ledger: new CpuLedger(readProcessCpuMicros()),
    gpuTime: new GpuTimeLedger(() => clock),
    admission: new FairQueue({ maxConcurrency: 4, maxQueue: 0, maxQueuePerTenant: 1 }),
    readCpuMicros: readProcessCpuMicros,
    metrics: { observe: (o) => observed.push(o) },
  });
  const gpuSecondsOf = (requestId: string) => {
    const span = spans.getFinishedSpans().find((s) => s.attributes[ATTR.requestId] === requestId);
    return span?.attributes[ATTR.gpuSeconds];
  };
  const runsHeld = async (n: number) => {
    while (held.length < n) await new Promise((r) => setImmediate(r));
  };
  return { service, held, runsHeld, gpuSecondsOf, observed, at: (us: number) => void (clock = us) };
}

describe('GPU seconds per request', () => {
  it('shares the time two overlapping runs held the GPU, and bills a lone run its whole time', async () => {
    const r = rig();
    r.at(0);
    const a = r.service.infer('gpu', 'classifier-small', body('a'));
    await r.runsHeld(1);
    r.at(1_000); // a alone for 1 ms
    const b = r.service.infer('gpu', 'classifier-small', body('b'));
    await r.runsHeld(2);
    r.at(5_000); // 4 ms shared evenly (same input, same model)
    r.held[0]!.release();
    await a;
    r.at(6_000); // b alone for 1 ms
    r.held[1]!.release();
    await b;
    expect(r.gpuSecondsOf('a')).toBe(0.003);
    expect(r.gpuSecondsOf('b')).toBe(0.003);
    // Never more GPU seconds than the GPU had: 6 ms held, 6 ms billed.
    expect(r.observed.map((o) => o.gpuS)).toEqual([0.003, 0.003]);
  });

  it('bills a failed run the GPU time it held, and a CPU model none', async () => {
    const r = rig();
    r.at(10_000);
    const failed = r.service.infer('gpu', 'classifier-small', body('f')).catch((e: unknown) => e);
    const cpu = r.service.infer('other', 'classifier-small', body('c'));
    await r.runsHeld(2);
    r.at(12_500);
    r.held.find((h) => h.id === 'gpu')!.release(true);
    r.held.find((h) => h.id === 'other')!.release();
    expect(await failed).toMatchObject({ code: 'inference_failed' });
    await cpu;
    expect(r.gpuSecondsOf('f')).toBe(0.0025);
    expect(r.gpuSecondsOf('c')).toBe(0);
    const byTenant = Object.fromEntries(r.observed.map((o) => [o.tenantId, o]));
    expect(byTenant.gpu).toMatchObject({ status: 'error', gpuS: 0.0025 });
    expect(byTenant.other!.status).toBe('ok');
    expect(byTenant.other!.gpuS).toBeUndefined();
  });
});
