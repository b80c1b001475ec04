import { AppError } from '../../errors.ts';
import { apportion } from './apportion.ts';

/**
 * Conserving per-request GPU time.
 *
 * A request's GPU seconds are the time its model held the GPU: onnxruntime's CUDA provider
 * launches a run's kernels on the session's stream, so overlapping runs on one GPU queue behind
 * each other and their wall times overlap. Charging each run its own wall time would bill the
 * same GPU second several times. Instead, per GPU, the time between two events (a run begins or
 * ends) goes to the runs then in flight on that GPU, split by weight with the same exact
 * apportionment as the CPU ledger (cpu-ledger.ts). So over any interval, Σ per-request GPU time
 * on a GPU = the time that GPU had at least one run in flight ≤ the interval: never more GPU
 * seconds than the GPU had. How busy the GPU was while held (utilisation, memory, power) is
 * what gpu_samples records from nvidia-smi; attribution prices the held GPU hours either way.
 *
 * Pure: the caller passes a monotonic clock in integer µs, so tests drive it with any sequence.
 */
export class GpuTimeLedger {
  private readonly gpus = new Map<number, GpuState>();

  constructor(private readonly clockMicros: () => number) {}

  /** Starts charging `requestId` for time on `gpu`; `weight` > 0 sets its share while runs overlap. */
  begin(gpu: number, requestId: string, weight: number): void {
    if (!(Number.isFinite(weight) && weight > 0)) throw misuse('weight', `begin('${requestId}'): weight must be a finite number > 0, got ${weight}`);
    const state = this.stateOf(gpu);
    if (state.open.has(requestId)) throw misuse('duplicate', `begin('${requestId}'): request is already in flight on GPU ${gpu}`);
    this.advance(state);
    state.open.set(requestId, { weight, total: 0 });
  }

  /** Stops charging `requestId`; returns the GPU µs it was given since begin. */
  end(gpu: number, requestId: string): number {
    const state = this.gpus.get(gpu);
    const entry = state?.open.get(requestId);
    if (!state || !entry) throw misuse('unknown', `end('${requestId}'): no such request in flight on GPU ${gpu}`);
    this.advance(state);
    state.open.delete(requestId);
    return entry.total;
  }

  inFlight(gpu: number): number {
    return this.gpus.get(gpu)?.open.size ?? 0;
  }

  private stateOf(gpu: number): GpuState {
    let state = this.gpus.get(gpu);
    if (!state) {
      state = { last: this.now(0), open: new Map() };
      this.gpus.set(gpu, state);
    }
    return state;
  }

  private advance(state: GpuState): void {
    const now = this.now(state.last);
    const delta = now - state.last;
    state.last = now;
    if (delta === 0 || state.open.size === 0) return;
    const shares = [...state.open].map(([id, o]) => ({ id, weight: o.weight }));
    for (const [id, micros] of apportion(delta, shares)) state.open.get(id)!.total += micros;
  }

  private now(previous: number): number {
    const now = this.clockMicros();
    if (!Number.isSafeInteger(now) || now < previous) {
      throw misuse('clock', `clock must be a monotonic integer number of µs, got ${now} after ${previous}`);
    }
    return now;
  }
}

/** Monotonic µs for the ledger: performance.now() never goes back, and rounding keeps that. */
export const monotonicMicros = (): number => Math.round(performance.now() * 1000);

interface GpuState {
  last: number;
  readonly open: Map<string, { readonly weight: number; total: number }>;
}

function misuse(what: 'clock' | 'weight' | 'duplicate' | 'unknown', message: string): AppError {
  return new AppError('internal', `GpuTimeLedger: ${message}`, { code: `gpu_ledger_${what}` });
}
