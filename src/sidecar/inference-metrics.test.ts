import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryAround } from '../../test/support/registry.ts';
import { BUNDLED_MODELS } from '../config/load.ts';
import { AppError } from '../errors.ts';
import { ATTR } from '../telemetry/attributes.ts';
import type { RequestObservation } from '../telemetry/request-metrics.ts';
import { FairQueue } from './fair-queue.ts';
import { InferenceService, type InferenceDeps } from './inference-service.ts';
import { loadModelRegistry } from './models/model-registry.ts';
import { RefusalPacer } from './refusal-pacer.ts';
import type { ModelRegistry } from './models/types.ts';
import type { QuotaAdmission } from './quota-client.ts';
import { CpuLedger } from './resources/cpu-ledger.ts';
import { readProcessCpuMicros } from './resources/process-usage.ts';

/**
 * The inference service reports to the RequestMetrics port exactly the requests it records as
 * spans, with the status the span says: ok, error (the run failed), rejected (quota, full queue,
 * quota authority down). Requests answered before a span exists (unknown model) are not reported.
 */

const MODEL = 'classifier-small';
const body = () => ({ inputs: [{ name: 'input', shape: [1, 64], datatype: 'FP32', data: Array.from({ length: 64 }, (_, i) => (i % 7) / 7) }] });

let models: ModelRegistry;
beforeAll(async () => {
  models = await loadModelRegistry(BUNDLED_MODELS.map((m) => ({ ...m })), {}, { intraOpNumThreads: 1 });
});
afterAll(() => models?.close());

interface Rig {
  service: InferenceService;
  observed: RequestObservation[];
  spans: InMemorySpanExporter;
  /** Holds every run until released (to fill the one inference slot). */
  hold(): () => void;
}

function rig(
  opts: { quotas?: QuotaAdmission; failingTenant?: string; recorded?: InferenceDeps['recorded']; queue?: number; ran?: string[]; refusalPacer?: RefusalPacer } = {},
): Rig {
  const spans = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  const observed: RequestObservation[] = [];
  let gate: Promise<void> | undefined;
  const registry = registryAround(models, async (tenantId, _feeds, run) => {
    if (gate) await gate;
    opts.ran?.push(tenantId);
    if (tenantId === opts.failingTenant) throw new Error('boom');
    return run();
  });
  const service = new InferenceService({
    registry,
    tracer: provider.getTracer('test'),
    ledger: new CpuLedger(readProcessCpuMicros()),
    admission: new FairQueue({ maxConcurrency: 1, maxQueue: opts.queue ?? 0, maxQueuePerTenant: Math.max(1, opts.queue ?? 1) }),
    readCpuMicros: readProcessCpuMicros,
    quotas: opts.quotas,
    metrics: { observe: (o) => observed.push(o) },
    recorded: opts.recorded,
    refusalPacer: opts.refusalPacer,
  });
  return {
    service,
    observed,
    spans,
    hold() {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

const statuses = (r: Rig) => r.observed.map((o) => `${o.tenantId}:${o.model}:${o.status}`);
const spanStatuses = (r: Rig) =>
  r.spans.getFinishedSpans().map((s) => `${String(s.attributes[ATTR.tenantId])}:${String(s.attributes[ATTR.requestModel])}:${s.attributes[ATTR.rejected] ? 'rejected' : s.status.code === 2 ? 'error' : 'ok'}`);

describe('InferenceService → RequestMetrics', () => {
  it('ok: one observation per served request, with duration, queue wait and CPU', async () => {
    const r = rig();
    await r.service.infer('acme', MODEL, body());
    await r.service.infer('acme', MODEL, body());
    expect(statuses(r)).toEqual(['acme:classifier-small:ok', 'acme:classifier-small:ok']);
    for (const o of r.observed) {
      expect(o.durationS).toBeGreaterThan(0);
      expect(o.queueS).toBeGreaterThanOrEqual(0);
      expect(o.durationS).toBeGreaterThanOrEqual(o.queueS!);
      expect(o.cpuS).toBeGreaterThanOrEqual(0);
    }
    expect(statuses(r)).toEqual(spanStatuses(r));
  });

  it('error: a failed run is reported as error, once', async () => {
    const r = rig({ failingTenant: 'broken' });
    await expect(r.service.infer('broken', MODEL, body())).rejects.toThrow(/inference failed: boom/);
    expect(statuses(r)).toEqual(['broken:classifier-small:error']);
    expect(r.observed[0]!.queueS).toBeGreaterThanOrEqual(0);
    expect(statuses(r)).toEqual(spanStatuses(r));
  });

  it('rejected: over quota and quota authority down, without a queue wait or CPU', async () => {
    const quotas: QuotaAdmission = {
      admit: async (tenantId) =>
        tenantId === 'capped'
          ? { ok: false, reason: 'quota_exceeded', kind: 'requests_per_minute', limit: 5, retryAfterSeconds: 30 }
          : tenantId === 'cut-off'
            ? { ok: false, reason: 'quota_authority_unavailable', retryAfterSeconds: 5 }
            : { ok: true, release: () => {}, refund: () => {} },
    };
    const r = rig({ quotas });
    await expect(r.service.infer('capped', MODEL, body())).rejects.toMatchObject({ code: 'quota_exceeded' });
    await expect(r.service.infer('cut-off', MODEL, body())).rejects.toMatchObject({ code: 'quota_authority_unavailable' });
    expect(statuses(r)).toEqual(['capped:classifier-small:rejected', 'cut-off:classifier-small:rejected']);
    for (const o of r.observed) expect(o).toMatchObject({ queueS: undefined, cpuS: 0 });
    expect(statuses(r)).toEqual(spanStatuses(r));
  });

  it('rejected: the admission queue is full', async () => {
    const r = rig();
    const release = r.hold();
    const first = r.service.infer('acme', MODEL, body());
    await expect(r.service.infer('globex', MODEL, body())).rejects.toMatchObject({ code: 'queue_full' });
    release();
    await first;
    expect(statuses(r).sort()).toEqual(['acme:classifier-small:ok', 'globex:classifier-small:rejected']);
    expect(statuses(r).sort()).toEqual(spanStatuses(r).sort());
  });

  it('a request refused by a full queue gets its quota units back; a served one keeps them spent', async () => {
    const refunds: string[] = [];
    const quotas: QuotaAdmission = {
      admit: async (tenantId) => ({ ok: true, release: () => {}, refund: () => refunds.push(tenantId) }),
    };
    const r = rig({ quotas });
    const release = r.hold();
    const first = r.service.infer('acme', MODEL, body());
    await expect(r.service.infer('globex', MODEL, body())).rejects.toMatchObject({ code: 'queue_full' });
    release();
    await first;
    expect(refunds).toEqual(['globex']);
  });

  it('requests answered before a span exists (unknown model, bad tensors) are not reported', async () => {
    const r = rig();
    await expect(r.service.infer('acme', 'no-such-model', body())).rejects.toMatchObject({ code: 'model_not_found' });
    await expect(r.service.infer('acme', MODEL, { inputs: [] })).rejects.toThrow();
    expect(r.observed).toEqual([]);
    expect(r.spans.getFinishedSpans()).toEqual([]);
  });
});

describe('InferenceService: the answer waits for the span to be durable', () => {
  /** A journal whose writes the test completes by hand. */
  function journal() {
    const waiting: Array<() => void> = [];
    const recorded = () => new Promise<void>((resolve) => waiting.push(resolve));
    return { recorded, waiting, flushAll: () => waiting.splice(0).forEach((done) => done()) };
  }
  const settled = async (p: Promise<unknown>) => {
    let state = 'pending';
    p.then(() => (state = 'resolved'), () => (state = 'rejected'));
    await new Promise((r) => setTimeout(r, 20));
    return state;
  };

  it('served and failed requests are answered only once their spans are recorded; the slot is free meanwhile', async () => {
    const j = journal();
    const r = rig({ recorded: j.recorded, failingTenant: 'broken' });
    const served = r.service.infer('acme', MODEL, body());
    expect(await settled(served)).toBe('pending');
    expect(j.waiting).toHaveLength(1);
    // The single inference slot (max_concurrency 1, no queue) was released before the wait.
    const failed = r.service.infer('broken', MODEL, body());
    expect(await settled(failed)).toBe('pending');
    expect(j.waiting).toHaveLength(2);
    j.flushAll();
    await expect(served).resolves.toMatchObject({ model_name: MODEL });
    await expect(failed).rejects.toMatchObject({ code: 'inference_failed' });
  });

  it('a span that could not be recorded at all makes the answer a 503, never a success that is not billed', async () => {
    const r = rig({ recorded: () => Promise.reject(new Error('journal and store both failing')) });
    const answer = r.service.infer('acme', MODEL, body());
    await expect(answer).rejects.toBeInstanceOf(AppError);
    await expect(answer).rejects.toMatchObject({ kind: 'unavailable', code: 'recording_unavailable' });
  });
});

describe('InferenceService: a client that goes away while its request waits for a slot', () => {
  it('the request leaves the queue: it never runs, its quota units go back, and it is recorded as refused (client_closed)', async () => {
    const ran: string[] = [];
    const quotaCalls: string[] = [];
    const quotas: QuotaAdmission = {
      admit: async (tenantId) => ({ ok: true, release: () => quotaCalls.push(`release:${tenantId}`), refund: () => quotaCalls.push(`refund:${tenantId}`) }),
    };
    const r = rig({ quotas, queue: 2, ran });
    const release = r.hold();
    const busy = r.service.infer('busy', MODEL, body());
    const gone = new AbortController();
    const abandoned = r.service.infer('light', MODEL, body(), undefined, undefined, gone.signal);
    const stays = r.service.infer('light', MODEL, body());
    await new Promise((resolve) => setTimeout(resolve, 10));
    gone.abort();
    await expect(abandoned).rejects.toMatchObject({ code: 'client_closed' });
    // Its concurrent_requests slot and its rate units are back before the slot holder finished.
    expect(quotaCalls).toEqual(['refund:light', 'release:light']);
    release();
    await busy;
    await stays;
    expect(ran).toEqual(['busy', 'light']);
    expect(statuses(r)).toEqual([`light:${MODEL}:rejected`, `busy:${MODEL}:ok`, `light:${MODEL}:ok`]);
    const refused = r.spans.getFinishedSpans().find((s) => s.attributes[ATTR.rejected]);
    expect(refused?.attributes).toMatchObject({ [ATTR.rejectReason]: 'client_closed', [ATTR.httpStatus]: 499 });
  });
});

describe('InferenceService: queue_full refusals of a tenant that keeps sending', () => {
  it('a tenant whose own places are taken is answered at once first, then held and its connection closed; a full sidecar queue is not paced', async () => {
    const slept: number[] = [];
    const refusalPacer = new RefusalPacer({ delayMs: 1000, maxHeld: 10, now: Date.now, sleep: async (ms) => void slept.push(ms) });
    const r = rig({ queue: 1, refusalPacer });
    const release = r.hold();
    const busy = r.service.infer('busy', MODEL, body());
    const queued = r.service.infer('flood', MODEL, body()); // takes the one place
    const first = await r.service.infer('flood', MODEL, body()).catch((e: AppError) => e);
    const again = await r.service.infer('flood', MODEL, body(), undefined, {}).catch((e: AppError) => e);
    const light = await r.service.infer('light', MODEL, body(), undefined, {}).catch((e: AppError) => e);
    expect([first, again, light].map((e) => [(e as AppError).code, (e as AppError).closeConnection])).toEqual([
      ['queue_full', false],
      ['queue_full', true],
      ['queue_full', false],
    ]);
    expect(slept).toHaveLength(1);
    release();
    await Promise.all([busy, queued]);
  });
});
