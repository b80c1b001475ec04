import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { GENERATED_HEADER, type GeneratedFile } from './generate.ts';

/**
 * Writing and checking dashboards/ against what the code generates. A file the generator once
 * made that the code no longer generates is stale too (a renamed board must not linger in
 * Grafana); every other file in the directory is the user's.
 */

export type StaleReason = 'missing' | 'differs' | 'not generated';

export interface StaleFile {
  path: string;
  reason: StaleReason;
}

/** Boards are named after their uids, which all carry this prefix (links.ts). */
const BOARD_FILE_PREFIX = 'inferledger-';

/**
 * Files the generator made, and only those: `inferledger-*.json` at the top and
 * `provisioning/{datasources,dashboards}/*.yaml` that start with its header. `--dir` may point
 * at a folder Grafana already uses: the user's own boards and datasources are never touched.
 */
async function ownedFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  const list = async (sub: string, owns: (name: string, path: string) => Promise<boolean>) => {
    const entries = await readdir(join(dir, sub), { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    for (const e of entries) {
      const path = sub ? `${sub}/${e.name}` : e.name;
      if (e.isFile() && (await owns(e.name, join(dir, path)))) found.push(path);
    }
  };
  const generatedYaml = async (name: string, path: string) => name.endsWith('.yaml') && (await readFile(path, 'utf8')).startsWith(GENERATED_HEADER);
  await list('', async (name) => name.startsWith(BOARD_FILE_PREFIX) && name.endsWith('.json'));
  await list('provisioning/datasources', generatedYaml);
  await list('provisioning/dashboards', generatedYaml);
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
