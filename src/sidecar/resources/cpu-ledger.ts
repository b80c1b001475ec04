import { AppError } from '../../errors.ts';
import { apportion } from './apportion.ts';

/**
 * Conserving per-request CPU attribution.
 *
 * Per-request CPU cannot be measured: onnxruntime runs inference on its own thread pool and
 * requests overlap, so only the process-wide CPU counter is trustworthy. The ledger therefore
 * splits that counter's growth: at every event (begin, end, closeWindow) the delta since the
 * previous event goes to the requests in flight in proportion to their weight (integer
 * largest remainder, see apportion.ts), or to non-inference CPU when none is in flight.
 * Nothing is estimated, so in every window Σ perRequestMicros === inferenceCpuMicros.
 *
 * The ledger is pure: the caller passes the counter (integer µs, process.cpuUsage()
 * user + system) so that tests can drive it with any sequence.
 */

export interface WindowCpu {
  /** Counter growth over the window. */
  readonly cpuUsedMicros: number;
  /** Part of cpuUsedMicros that elapsed while at least one request was in flight. */
  readonly inferenceCpuMicros: number;
  /** cpuUsedMicros − inferenceCpuMicros: idle time, GC, HTTP handling between requests. */
  readonly nonInferenceCpuMicros: number;
  /**
   * What each request received in this window. Every request in flight at any moment of the
   * window has an entry, possibly 0, including those still in flight at its close.
   */
  readonly perRequestMicros: Map<string, number>;
}

interface Open {
  readonly weight: number;
  total: number;
}

export class CpuLedger {
  private lastCpu: number;
  private readonly open = new Map<string, Open>();
  private used = 0;
  private inference = 0;
  private perRequest = new Map<string, number>();

  constructor(startCpuMicros: number) {
    if (!Number.isSafeInteger(startCpuMicros) || startCpuMicros < 0) {
      throw misuse('counter', `start counter must be a non-negative integer (µs), got ${startCpuMicros}`);
    }
    this.lastCpu = startCpuMicros;
  }

  /** Starts attributing to `requestId`. `weight` > 0 sets its share while others overlap. */
  begin(requestId: string, weight: number, cpuMicrosNow: number): void {
    // Validate everything before touching state, so a rejected call leaves the ledger intact.
    this.checkCounter(cpuMicrosNow);
    if (!(Number.isFinite(weight) && weight > 0)) {
      throw misuse('weight', `begin('${requestId}'): weight must be a finite number > 0, got ${weight}`);
    }
    if (this.open.has(requestId)) {
      throw misuse('duplicate', `begin('${requestId}'): request is already in flight`);
    }
    this.advance(cpuMicrosNow);
    this.open.set(requestId, { weight, total: 0 });
    this.perRequest.set(requestId, this.perRequest.get(requestId) ?? 0);
  }

  /** Stops attributing to `requestId`; returns all it received since begin (integer µs). */
  end(requestId: string, cpuMicrosNow: number): number {
    this.checkCounter(cpuMicrosNow);
    const entry = this.open.get(requestId);
    if (!entry) throw misuse('unknown', `end('${requestId}'): no such request in flight`);
    this.advance(cpuMicrosNow);
    this.open.delete(requestId);
    return entry.total;
  }

  /** Closes the current window and opens the next one at `cpuMicrosNow`. */
  closeWindow(cpuMicrosNow: number): WindowCpu {
    this.checkCounter(cpuMicrosNow);
    this.advance(cpuMicrosNow);
    const window: WindowCpu = {
      cpuUsedMicros: this.used,
      inferenceCpuMicros: this.inference,
      nonInferenceCpuMicros: this.used - this.inference,
      perRequestMicros: this.perRequest,
    };
    this.used = 0;
    this.inference = 0;
    this.perRequest = new Map([...this.open.keys()].map((id) => [id, 0]));
    return window;
  }

  inFlight(): number {
    return this.open.size;
  }

  private checkCounter(cpuMicrosNow: number): void {
    if (!Number.isSafeInteger(cpuMicrosNow)) {
      throw misuse('counter', `CPU counter must be an integer number of µs, got ${cpuMicrosNow}`);
    }
    if (cpuMicrosNow < this.lastCpu) {
      throw misuse(
        'counter',
        `CPU counter went backwards: ${cpuMicrosNow} µs < previous ${this.lastCpu} µs (it must be monotonic)`,
      );
    }
  }

  private advance(cpuMicrosNow: number): void {
    const delta = cpuMicrosNow - this.lastCpu;
    this.lastCpu = cpuMicrosNow;
    this.used += delta;
    if (delta === 0 || this.open.size === 0) return;
    this.inference += delta;
    const shares = [...this.open].map(([id, o]) => ({ id, weight: o.weight }));
    for (const [id, micros] of apportion(delta, shares)) {
      this.open.get(id)!.total += micros;
      this.perRequest.set(id, (this.perRequest.get(id) ?? 0) + micros);
    }
  }
}

function misuse(what: 'counter' | 'weight' | 'duplicate' | 'unknown', message: string): AppError {
  return new AppError('internal', `CpuLedger: ${message}`, { code: `cpu_ledger_${what}` });
}
