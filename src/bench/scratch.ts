import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The bench's temporary directories (embedded engines, journals), removed when their run ends and
 * also when the bench is interrupted (Ctrl-C, SIGTERM), where no `finally` runs: a `--rows
 * 10000000` run leaves gigabytes otherwise.
 */
const live = new Set<string>();

/** A new temporary directory under the OS's, removed by `removeScratch` or on interruption. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  live.add(dir);
  return dir;
}

export function removeScratch(dir: string): void {
  live.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}

/**
 * For a signal handler, just before the process exits: removes every live directory now, and
 * again from a detached child once this process is gone, because the embedded engine's threads
 * can recreate paths under a directory until the very moment the process ends.
 */
export function removeAllScratchOnExit(): void {
  const dirs = [...live];
  for (const dir of dirs) {
    try {
      removeScratch(dir);
    } catch {
      // Best effort while the process goes down; the child tries again.
    }
  }
  if (dirs.length === 0) return;
  const again = `setTimeout(() => { for (const d of ${JSON.stringify(dirs)}) require('node:fs').rmSync(d, { recursive: true, force: true }); }, 500);`;
  spawn(process.execPath, ['-e', again], { detached: true, stdio: 'ignore' }).unref();
}
