import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { MachineInfo } from './types.ts';

/** Where a run happened, so numbers from different machines are not compared by mistake. */
export function machineInfo(): MachineInfo {
  const list = cpus();
  return { cpus: list.length, model: list[0]?.model.trim() ?? 'unknown', node: process.version, platform: `${process.platform}-${process.arch}` };
}

/**
 * The checked-out commit, read from .git (HEAD, then the ref it names, loose or packed) rather
 * than by running git: the bench must not depend on a git binary. Null outside a repository.
 */
export function currentCommit(from = process.cwd()): string | null {
  try {
    const gitDir = findGitDir(resolve(from));
    if (!gitDir) return null;
    const head = readFileSync(join(gitDir, 'HEAD'), 'utf8').trim();
    if (/^[0-9a-f]{40}$/.test(head)) return head;
    const ref = /^ref: (.+)$/.exec(head)?.[1];
    if (!ref) return null;
    const loose = join(gitDir, ref);
    if (existsSync(loose)) return readFileSync(loose, 'utf8').trim() || null;
    const packed = join(gitDir, 'packed-refs');
    if (!existsSync(packed)) return null;
    const line = readFileSync(packed, 'utf8').split('\n').find((l) => l.endsWith(` ${ref}`));
    return line?.split(' ')[0] ?? null;
  } catch {
    return null;
  }
}

function findGitDir(start: string): string | undefined {
  for (let dir = start; ; dir = dirname(dir)) {
    const candidate = join(dir, '.git');
    if (existsSync(candidate)) {
      // A worktree or submodule has a .git file pointing at the real directory.
      try {
        const text = readFileSync(candidate, 'utf8');
        const target = /^gitdir: (.+)$/m.exec(text)?.[1];
        return target ? resolve(dir, target.trim()) : undefined;
      } catch {
        return candidate; // a directory: readFileSync fails with EISDIR
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}
