/**
 * GPU check: runs the bundled models on onnxruntime's CUDA execution provider through the real
 * model registry and inference service, next to the same models on the CPU, and reports:
 *   - that outputs on the GPU match the CPU's (max absolute difference per model);
 *   - per-request GPU seconds from the GPU time ledger, and that their sum never exceeds the
 *     wall time the GPU was held (conservation), per tenant;
 *   - throughput on GPU and CPU side by side, same requests, same process;
 *   - nvidia-smi readings taken through the product's own probe while the GPU runs, and the
 *     compute processes nvidia-smi lists (this process should hold GPU memory).
 *
 * Needs a host with an NVIDIA GPU and onnxruntime-node's CUDA binaries
 * (npm_config_onnxruntime_node_install=cuda12 npm install). Usage:
 *   node bin/run-ts.js scripts/gpu-check.ts [--requests N] [--out report.json] [--device cuda:N] [--wide FILE]
 * Exit status 0 only when every check holds.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ModelConfig } from '../src/config/schema.ts';
import { FairQueue } from '../src/sidecar/fair-queue.ts';
import { InferenceService } from '../src/sidecar/inference-service.ts';
import { loadModelRegistry } from '../src/sidecar/models/model-registry.ts';
import { CpuLedger } from '../src/sidecar/resources/cpu-ledger.ts';
import { GpuTimeLedger, monotonicMicros } from '../src/sidecar/resources/gpu-time-ledger.ts';
import { probeGpus, type GpuReading } from '../src/sidecar/resources/nvidia-smi.ts';
import { readProcessCpuMicros } from '../src/sidecar/resources/process-usage.ts';
import { ATTR } from '../src/telemetry/attributes.ts';

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const REQUESTS = Number(flag('--requests') ?? 2000);
const OUT = flag('--out');
/** `--device cpu` dry-runs the script on a machine without a GPU (the GPU checks then fail). */
const DEVICE = flag('--device') ?? 'cuda:0';
/**
 * `--wide FILE`: also load a wider MLP of the same input and output, in batches of up to 64, where
 * a GPU has more work (make it with `node bin/run-ts.js scripts/generate-models.ts --wide FILE`).
 */
const WIDE = flag('--wide');
const MODELS_DIR = resolve(process.env.INFERLEDGER_MODELS_DIR ?? 'models');
const CONCURRENCY = 8;
const TENANTS = ['acme', 'globex'];

const modelsOn = (device: string): ModelConfig[] => [
  ...['classifier-small', 'classifier-large'].map((name) => ({ name, path: resolve(MODELS_DIR, `${name}.onnx`), version: '1', tokens: false, device })),
  ...(WIDE ? [{ name: 'classifier-wide', path: resolve(WIDE), version: '1', tokens: false, device }] : []),
];

function input(seed: number, batch: number) {
  let x = seed;
  const data = Array.from({ length: batch * 64 }, () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1);
  return { id: `r${seed}`, inputs: [{ name: 'input', shape: [batch, 64], datatype: 'FP32', data }] };
}

function rig(registry: Awaited<ReturnType<typeof loadModelRegistry>>) {
  const spans = new InMemorySpanExporter();
  const service = new InferenceService({
    registry,
    tracer: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }).getTracer('gpu-check'),
    ledger: new CpuLedger(readProcessCpuMicros()),
    gpuTime: new GpuTimeLedger(monotonicMicros),
    admission: new FairQueue({ maxConcurrency: CONCURRENCY, maxQueue: 10_000, maxQueuePerTenant: 10_000 }),
    readCpuMicros: readProcessCpuMicros,
  });
  return { service, spans };
}

/** Runs REQUESTS requests, CONCURRENCY at a time, alternating tenants; returns wall seconds. */
async function load(service: InferenceService, model: string, maxBatch: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) {
        const i = next++;
        await service.infer(TENANTS[i % TENANTS.length]!, model, input(i, 1 + (i % maxBatch)));
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

async function computeApps(): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)('nvidia-smi', ['--query-compute-apps=pid,process_name,used_memory', '--format=csv,noheader,nounits'], { timeout: 10_000 });
    return stdout.trim();
  } catch (err) {
    return `nvidia-smi failed: ${(err as Error).message}`;
  }
}

async function main(): Promise<void> {
  const checks: Record<string, boolean> = {};
  const report: Record<string, unknown> = { requests: REQUESTS, concurrency: CONCURRENCY, node: process.version };
  report.gpus_before = await probeGpus();

  const cpu = await loadModelRegistry(modelsOn('cpu'), {});
  const gpu = await loadModelRegistry(modelsOn(DEVICE), {});
  report.compute_apps_after_load = await computeApps();
  checks.process_holds_gpu_memory = String(report.compute_apps_after_load).split('\n').some((l) => l.startsWith(`${process.pid},`));

  // Same inputs on both devices: the GPU must compute what the CPU computes.
  const cpuRig = rig(cpu);
  const gpuRig = rig(gpu);
  const maxDiff: Record<string, number> = {};
  for (const model of ['classifier-small', 'classifier-large', ...(WIDE ? ['classifier-wide'] : [])]) {
    let worst = 0;
    for (let i = 0; i < 20; i++) {
      const [a, b] = await Promise.all([cpuRig.service.infer('acme', model, input(i, 4)), gpuRig.service.infer('acme', model, input(i, 4))]);
      a.outputs.forEach((out, k) => out.data.forEach((v, j) => (worst = Math.max(worst, Math.abs(Number(v) - Number(b.outputs[k]!.data[j]))))));
    }
    maxDiff[model] = worst;
  }
  report.max_abs_output_diff = maxDiff;
  checks.outputs_match_cpu = Object.values(maxDiff).every((d) => d < 1e-3);

  // Load: GPU then CPU on the same requests, with nvidia-smi sampled through the product's probe.
  const runs = [{ model: 'classifier-large', maxBatch: 8 }, ...(WIDE ? [{ model: 'classifier-wide', maxBatch: 64 }] : [])];
  report.runs = [];
  for (const { model, maxBatch } of runs) {
    const samples: GpuReading[][] = [];
    const sampling = setInterval(() => void probeGpus().then((g) => samples.push(g), () => {}), 250);
    gpuRig.spans.reset();
    const gpuWall = await load(gpuRig.service, model, maxBatch);
    clearInterval(sampling);
    cpuRig.spans.reset();
    const cpuWall = await load(cpuRig.service, model, maxBatch);

    const gpuSpans = gpuRig.spans.getFinishedSpans();
    const perTenant: Record<string, { requests: number; gpu_seconds: number; cpu_seconds: number }> = {};
    let gpuMicros = 0;
    for (const s of gpuSpans) {
      const t = String(s.attributes[ATTR.tenantId]);
      const g = Number(s.attributes[ATTR.gpuSeconds]);
      const entry = (perTenant[t] ??= { requests: 0, gpu_seconds: 0, cpu_seconds: 0 });
      entry.requests++;
      entry.gpu_seconds += g;
      entry.cpu_seconds += Number(s.attributes[ATTR.cpuSeconds]);
      gpuMicros += Math.round(g * 1e6);
    }
    const cpuGpuSeconds = cpuRig.spans.getFinishedSpans().reduce((sum, s) => sum + Number(s.attributes[ATTR.gpuSeconds]), 0);
    (report.runs as unknown[]).push({
      model,
      batch_rows: `1-${maxBatch}`,
      gpu_run: { wall_s: gpuWall, requests_per_s: REQUESTS / gpuWall, sum_gpu_seconds: gpuMicros / 1e6, per_tenant: perTenant },
      cpu_run: { wall_s: cpuWall, requests_per_s: REQUESTS / cpuWall, sum_gpu_seconds: cpuGpuSeconds },
      nvidia_smi_during_gpu_run: {
        samples: samples.length,
        max_utilization_pct: Math.max(0, ...samples.flat().map((g) => g.utilizationPct ?? 0)),
        max_memory_used_bytes: Math.max(0, ...samples.flat().map((g) => g.memoryUsedBytes ?? 0)),
        last: samples.at(-1),
      },
    });
    checks[`${model}: every GPU request has GPU seconds`] = gpuSpans.length === REQUESTS && gpuSpans.every((s) => Number(s.attributes[ATTR.gpuSeconds]) > 0);
    checks[`${model}: GPU seconds within wall time`] = gpuMicros / 1e6 <= gpuWall;
    checks[`${model}: both tenants billed`] = TENANTS.every((t) => (perTenant[t]?.gpu_seconds ?? 0) > 0);
    checks[`${model}: CPU models bill no GPU`] = cpuGpuSeconds === 0;
    checks[`${model}: nvidia-smi sampled`] = samples.length > 0 && samples.every((s) => s.length > 0);
  }

  await Promise.all([cpu.close(), gpu.close()]);
  report.checks = checks;
  const text = JSON.stringify(report, null, 2);
  console.log(text);
  if (OUT) writeFileSync(OUT, `${text}\n`);
  process.exitCode = Object.values(checks).every(Boolean) ? 0 : 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 2;
});
