/**
 * The process-wide counters the sampler and the ledger run on. Kept apart so that every
 * other module in this folder takes them as plain functions and stays testable.
 */

/** User + system CPU of this process, all threads (onnxruntime's pool included), in µs. */
export function readProcessCpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** Resident set size in bytes; `rss()` avoids the heap walk that `memoryUsage()` does. */
export function readProcessRssBytes(): number {
  return process.memoryUsage.rss();
}
