import * as ort from 'onnxruntime-node';
import { BUNDLED_MODELS } from '../config/load.ts';
import { featureRows, inferBody, postInfer, timeConcurrent, timeSequential } from './load.ts';
import { BENCH_TENANT } from './platform.ts';
import { metric } from './report.ts';
import { perSecond, summarize } from './stats.ts';
import type { Suite } from './suite.ts';
import type { Metric, SuiteOutcome } from './types.ts';

/**
 * SPEC §10 sidecar overhead: the same bundled model and the same input, three ways, in one process:
 * bare onnxruntime `session.run` (the baseline); InferenceService.infer in process (decode, quota
 * and fair admission, CPU ledger, span, encode); and the full HTTP path of the started platform
 * (Hono, auth, JSON, then the service). The HTTP client runs in the same process and shares the
 * CPUs, so the HTTP numbers include the client's cost too.
 */

const MODELS = ['classifier-small', 'classifier-large'] as const;
const IN_FLIGHT = 4; // the sidecar's default max_concurrency
const WARMUP = 50;

export const sidecarOverheadSuite: Suite = {
  name: 'sidecar-overhead',
  description: 'instrumented inference (service and HTTP) vs bare onnxruntime session.run, same model and input',
  async run(ctx): Promise<SuiteOutcome> {
    const bench = await ctx.platform();
    const inference = bench.platform.inference;
    if (!inference) return { status: 'failed', reason: 'the started platform has no sidecar', params: {}, metrics: [] };
    const n = ctx.options.requests;
    const data = featureRows(1, 20261127);
    const body = inferBody(data, 1);
    const bodyText = JSON.stringify(body);
    const metrics: Metric[] = [];
    for (const model of MODELS) {
      const path = BUNDLED_MODELS.find((m) => m.name === model)!.path;
      // The registry creates its sessions with these same options (CPU provider, default threads).
      const session = await ort.InferenceSession.create(path, { executionProviders: ['cpu'] });
      try {
        const feeds = () => ({ input: new ort.Tensor('float32', Float32Array.from(data), [1, 64]) });
        ctx.progress(`sidecar-overhead: ${model}: ${n} bare session.run`);
        const bare = summarize(await timeSequential(n, WARMUP, () => session.run(feeds())));
        ctx.progress(`sidecar-overhead: ${model}: ${n} InferenceService.infer`);
        const service = summarize(await timeSequential(n, WARMUP, () => inference.infer(BENCH_TENANT, model, body)));
        ctx.progress(`sidecar-overhead: ${model}: ${n} HTTP POST /v2/models/${model}/infer`);
        const http = summarize(await timeSequential(n, WARMUP, () => postInfer(bench.baseUrl, bench.tenantKey, model, bodyText)));
        ctx.progress(`sidecar-overhead: ${model}: throughput, ${IN_FLIGHT} in flight`);
        const bareTput = perSecond(n, await timeConcurrent(n, IN_FLIGHT, () => session.run(feeds())));
        const httpTput = perSecond(n, await timeConcurrent(n, IN_FLIGHT, () => postInfer(bench.baseUrl, bench.tenantKey, model, bodyText)));
        metrics.push(
          metric(`${model} p50 latency, HTTP (baseline: bare session.run)`, http.p50, 'ms', bare.p50),
          metric(`${model} p99 latency, HTTP (baseline: bare session.run)`, http.p99, 'ms', bare.p99),
          metric(`${model} p50 latency, InferenceService in process (baseline: bare)`, service.p50, 'ms', bare.p50),
          metric(`${model} p99 latency, InferenceService in process (baseline: bare)`, service.p99, 'ms', bare.p99),
          metric(`${model} throughput, HTTP, ${IN_FLIGHT} in flight (baseline: bare, ${IN_FLIGHT} in flight)`, httpTput, 'req/s', bareTput),
        );
      } finally {
        await session.release();
      }
    }
    await bench.platform.flushTelemetry();
    return { status: 'ok', params: { requests_per_series: n, warmup: WARMUP, in_flight: IN_FLIGHT, batch: 1, models: MODELS.join(',') }, metrics };
  },
};
