import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { GeneratedFile } from './generate.ts';

/**
 * Writing and checking dashboards/ against what the code generates. The generator owns the board
 * JSON at the top of the directory and the provisioning YAML below it; a file there that the code
 * no longer generates is stale too (a renamed board must not linger in Grafana).
 */

export type StaleReason = 'missing' | 'differs' | 'not generated';

export interface StaleFile {
  path: string;
  reason: StaleReason;
}

/** Files the generator owns: `*.json` at the top, `provisioning/{datasources,dashboards}/*.yaml`. */
async function ownedFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  const list = async (sub: string, ext: string) => {
    const entries = await readdir(join(dir, sub), { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    for (const e of entries) if (e.isFile() && e.name.endsWith(ext)) found.push(sub ? `${sub}/${e.name}` : e.name);
  };
  await list('', '.json');
  await list('provisioning/datasources', '.yaml');
  await list('provisioning/dashboards', '.yaml');
  return found.sort();
}

export async function findStaleFiles(dir: string, files: readonly GeneratedFile[]): Promise<StaleFile[]> {
  const stale: StaleFile[] = [];
  for (const file of files) {
    const current = await readFile(join(dir, file.path), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (current === undefined) stale.push({ path: file.path, reason: 'missing' });
    else if (current !== file.content) stale.push({ path: file.path, reason: 'differs' });
  }
  const generated = new Set(files.map((f) => f.path));
  for (const path of await ownedFiles(dir)) if (!generated.has(path)) stale.push({ path, reason: 'not generated' });
  return stale;
}

/** Writes what differs, removes owned files no longer generated; returns what changed. */
export async function writeDashboardFiles(dir: string, files: readonly GeneratedFile[]): Promise<StaleFile[]> {
  const stale = await findStaleFiles(dir, files);
  const byPath = new Map(files.map((f) => [f.path, f]));
  for (const { path, reason } of stale) {
    const target = join(dir, path);
    if (reason === 'not generated') {
      await rm(target);
      continue;
    }
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, byPath.get(path)!.content);
  }
  return stale;
}
