/** What every suite reports: named metrics, each beside the baseline it is judged against. */

export interface Metric {
  name: string;
  /** null when it could not be measured this run (never a made-up 0). */
  value: number | null;
  unit: string;
  /** The same quantity measured the baseline way in this very run, or a bound (e.g. the limit L). */
  baseline?: number | null;
  /** value / baseline, when both are numbers and the baseline is not 0. */
  ratio?: number | null;
  note?: string;
}

export type SuiteStatus = 'ok' | 'skipped' | 'failed';

export interface SuiteResult {
  name: string;
  status: SuiteStatus;
  /** Why it was skipped or failed. */
  reason?: string;
  /** The sizes and settings it ran with, so runs are comparable. */
  params: Record<string, string | number | boolean>;
  metrics: Metric[];
  durationS: number;
}

/** Outcome of a suite's run() before the runner stamps name and duration on it. */
export type SuiteOutcome = Omit<SuiteResult, 'name' | 'durationS'>;

export interface MachineInfo {
  cpus: number;
  model: string;
  node: string;
  platform: string;
}

export interface BenchReport {
  machine: MachineInfo;
  started_at: string;
  commit: string | null;
  options: Record<string, string | number | boolean>;
  suites: SuiteResult[];
}
