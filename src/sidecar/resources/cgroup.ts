import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

/**
 * Capacity held by this instance, read from its cgroup so that a container limited to 1.5
 * CPUs is billed for 1.5 CPUs, not for the host's 64. The parsers are pure; the readers only
 * add file access and never throw: a missing or unreadable file means "no limit here".
 *
 * `root` must be the cgroup directory of this process. Inside a container with a cgroup
 * namespace (Docker, Kubernetes) that is /sys/fs/cgroup; on a bare host the process usually
 * sits in a child cgroup and the root holds no limits, so the readers fall back to the host.
 */

/** Values at or above 2^60 bytes (1 EiB) are the kernel's "no limit" (e.g. 9223372036854771712). */
const UNLIMITED_BYTES = 2n ** 60n;

/** cgroup v2 `cpu.max`: "max 100000" → null (no limit); "150000 100000" → 1500 millicores. */
export function parseCpuMax(text: string): number | null {
  const [quota, period = '100000'] = text.trim().split(/\s+/);
  if (quota === undefined || quota === 'max') return null;
  return quotaToMillicores(quota, period);
}

/** cgroup v1 `cpu.cfs_quota_us` + `cpu.cfs_period_us`: quota -1 means no limit. */
export function parseCfsQuota(quotaText: string, periodText: string): number | null {
  return quotaToMillicores(quotaText.trim(), periodText.trim());
}

/** cgroup v2 `memory.max` or v1 `memory.limit_in_bytes`: "max" or absurdly large → null. */
export function parseMemoryLimit(text: string): number | null {
  const value = text.trim();
  if (!/^\d+$/.test(value)) return null;
  const bytes = BigInt(value);
  return bytes === 0n || bytes >= UNLIMITED_BYTES ? null : Number(bytes);
}

/**
 * A quota above what the machine has cannot be used, so capacity is the smaller of the two;
 * without a quota it is every core.
 */
export function resolveCpuMillicores(quotaMillicores: number | null, fallbackCores: number): number {
  const machine = Math.round(fallbackCores * 1000);
  return quotaMillicores === null ? machine : Math.min(quotaMillicores, machine);
}

/** Same reasoning as for CPU: a limit above physical memory is not capacity held. */
export function resolveMemoryBytes(limitBytes: number | null, fallbackBytes: number): number {
  return limitBytes === null ? fallbackBytes : Math.min(limitBytes, fallbackBytes);
}

export function readCpuCapacityMillicores(root = '/sys/fs/cgroup', fallbackCores = os.availableParallelism()): number {
  return resolveCpuMillicores(readCpuQuotaMillicores(root), fallbackCores);
}

export function readMemoryLimitBytes(root = '/sys/fs/cgroup', fallback = os.totalmem()): number {
  const v2 = readText(join(root, 'memory.max'));
  const text = v2 ?? readText(join(root, 'memory', 'memory.limit_in_bytes'));
  return resolveMemoryBytes(text === null ? null : parseMemoryLimit(text), fallback);
}

function readCpuQuotaMillicores(root: string): number | null {
  const v2 = readText(join(root, 'cpu.max'));
  // A v2 file that says "max" is authoritative: do not go looking for v1 files.
  if (v2 !== null) return parseCpuMax(v2);
  // v1 mounts the controller as `cpu` (usually a link to `cpu,cpuacct`) or only `cpu,cpuacct`.
  for (const dir of ['cpu', 'cpu,cpuacct']) {
    const quota = readText(join(root, dir, 'cpu.cfs_quota_us'));
    const period = readText(join(root, dir, 'cpu.cfs_period_us'));
    if (quota !== null && period !== null) return parseCfsQuota(quota, period);
  }
  return null;
}

function quotaToMillicores(quota: string, period: string): number | null {
  if (!/^\d+$/.test(quota) || !/^\d+$/.test(period)) return null; // includes v1's "-1"
  const q = Number(quota);
  const p = Number(period);
  if (q <= 0 || p <= 0) return null;
  // At least 1 so that a tiny quota never reads as zero capacity (a division by zero later).
  return Math.max(1, Math.round((q * 1000) / p));
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
