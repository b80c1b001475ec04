import type { BenchPlatform } from './platform.ts';
import type { SuiteOutcome } from './types.ts';

export interface BenchOptions {
  /** Inference requests per measured series (sidecar-overhead, memory). */
  requests: number;
  /** Synthetic stored requests for the queries suite. */
  rows: number;
  /** Timed runs of each query (after one untimed); the p50 is reported. */
  runs: number;
  /** Sidecar replicas (QuotaGates) in the quota-accuracy suite. */
  replicas: number;
  /** Quota-accuracy also leases over HTTP from the started platform's authority. */
  quotaHttp: boolean;
}

export interface SuiteContext {
  readonly options: BenchOptions;
  /** One progress line, to stderr. */
  progress(line: string): void;
  /** The run's one started platform (started on first use, closed by the runner). */
  platform(): Promise<BenchPlatform>;
}

export interface Suite {
  readonly name: string;
  readonly description: string;
  run(ctx: SuiteContext): Promise<SuiteOutcome>;
}
