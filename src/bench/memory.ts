import { featureRows, inferBody, postInfer, timeConcurrent } from './load.ts';
import { metric } from './report.ts';
import { percentile } from './stats.ts';
import type { Suite } from './suite.ts';
import type { SuiteOutcome } from './types.ts';

/**
 * SPEC §10 memory: RSS of the `up` process (sidecar + API + jobs + embedded ClickHouse, which is
 * one process here) idle, then while HTTP inference load runs. The baseline of "idle" is the same
 * process before the platform started (node, the bench and its imports); the baseline of "under
 * load" is idle. The bench's HTTP client lives in the same process, so its buffers count too.
 */

const MIB = 1024 * 1024;
const IN_FLIGHT = 8;
const SAMPLE_MS = 20;
const SETTLE_MS = 2000;
const MODEL = 'classifier-large';

export const memorySuite: Suite = {
  name: 'memory',
  description: 'RSS of the running platform (sidecar + API + embedded ClickHouse, one process) idle and under inference load',
  async run(ctx): Promise<SuiteOutcome> {
    const bench = await ctx.platform();
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const idle = process.memoryUsage();
    const n = ctx.options.requests;
    const body = JSON.stringify(inferBody(featureRows(4, 7), 4));
    const rss: number[] = [];
    const heap: number[] = [];
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      rss.push(m.rss);
      heap.push(m.heapUsed);
    }, SAMPLE_MS);
    ctx.progress(`memory: ${n} HTTP inferences on ${MODEL} (batch 4), ${IN_FLIGHT} in flight, RSS sampled every ${SAMPLE_MS} ms`);
    try {
      await timeConcurrent(n, IN_FLIGHT, () => postInfer(bench.baseUrl, bench.tenantKey, MODEL, body));
      await bench.platform.flushTelemetry();
    } finally {
      clearInterval(sampler);
    }
    const mib = (b: number | null) => (b === null ? null : b / MIB);
    const peak = (xs: number[]) => (xs.length ? Math.max(...xs) : null);
    return {
      status: 'ok',
      params: { requests: n, in_flight: IN_FLIGHT, model: MODEL, batch: 4, samples: rss.length },
      metrics: [
        metric('RSS idle, platform started (baseline: process before start)', mib(idle.rss), 'MiB', mib(bench.rssBeforeStartBytes)),
        metric('RSS peak under HTTP inference load (baseline: idle)', mib(peak(rss)), 'MiB', mib(idle.rss)),
        metric('RSS median under load (baseline: idle)', mib(percentile(rss, 50)), 'MiB', mib(idle.rss)),
        metric('V8 heap used, peak under load (baseline: idle)', mib(peak(heap)), 'MiB', mib(idle.heapUsed)),
      ],
    };
  },
};
