import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { findStaleFiles, writeDashboardFiles } from '../dashboards/files.ts';
import { generateDashboardFiles } from '../dashboards/generate.ts';

/**
 * `inferledger dashboards [--check] [--dir DIR]`: writes the Grafana boards and provisioning files
 * generated from src/dashboards into DIR (default ./dashboards), or with --check only compares:
 * exit 1 and the stale files listed when the committed files differ from what the code generates.
 * Offline: needs no config and no store.
 */

export interface DashboardsIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Base of a relative --dir (default: the process's working directory). */
  cwd?: string;
}

const USAGE = `usage: inferledger dashboards [--check] [--dir DIR] [--currency CODE]

Generates the Grafana dashboards (JSON) and provisioning files (datasources, dashboard folder)
from src/dashboards into DIR (default: ./dashboards). Only its own files are written or removed
(inferledger-*.json, and provisioning YAML carrying its header): DIR may be a folder Grafana
already reads, and other files there are left alone.
  --check           write nothing; exit 1 listing the files that differ from what the code generates
  --currency CODE   the currency of the money panels, as pricing.currency (ISO 4217; default USD)`;

export async function runDashboardsCommand(args: string[], io: DashboardsIo): Promise<number> {
  let values: { check?: boolean; dir?: string; help?: boolean; currency?: string };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        check: { type: 'boolean', default: false },
        dir: { type: 'string', default: 'dashboards' },
        currency: { type: 'string', default: 'USD' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    io.stderr.write(`dashboards: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const currency = values.currency ?? 'USD';
  if (!/^[A-Za-z]{3}$/.test(currency)) {
    io.stderr.write(`dashboards: --currency takes an ISO 4217 code such as EUR, not ${JSON.stringify(currency)}\n${USAGE}\n`);
    return 2;
  }
  const dir = resolve(io.cwd ?? process.cwd(), values.dir ?? 'dashboards');
  const files = generateDashboardFiles({ currency });
  if (values.check) {
    const stale = await findStaleFiles(dir, files);
    if (stale.length === 0) {
      io.stdout.write(`dashboards: ${files.length} files up to date in ${dir}\n`);
      return 0;
    }
    io.stderr.write(`dashboards: ${stale.length} file(s) in ${dir} differ from what src/dashboards generates:\n`);
    for (const s of stale) io.stderr.write(`  ${s.path} (${s.reason})\n`);
    io.stderr.write('run `inferledger dashboards` and commit the result\n');
    return 1;
  }
  const changed = await writeDashboardFiles(dir, files);
  for (const c of changed) io.stdout.write(`  ${c.reason === 'not generated' ? 'removed' : 'wrote'} ${c.path}\n`);
  io.stdout.write(`dashboards: ${changed.length ? `${changed.length} file(s) updated` : 'already up to date'} in ${dir} (${files.length} files)\n`);
  return 0;
}
