/**
 * Scores the anomaly detector on NAB-layout data with the shared NAB scorer.
 *
 *   node bin/run-ts.js scripts/nab-eval.ts [--data DIR] [--results DIR] [--set name=value ...] [--keep DIR] [--detector MODULE]
 *
 * `--results DIR` scores result files already written there (by another tool) instead of running a detector.
 * `--detector` scores another module exporting `createDetector(opts)` (for trying a candidate
 * method side by side with the shipped one).
 *
 * Runs one detector per file, writes `<category>/<file>.csv` results into a temp dir, runs
 * nab_score.py (all three profiles, corpus-wide threshold), and prints the score, a per-folder
 * breakdown at that threshold, and a held-out check: the threshold is chosen on one half of the
 * folders and applied unchanged to the other half, so that number is not tuned on its data.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { createDetector, formatScore, parseTimestamp, type Detector, type DetectorOptions } from '../src/anomalies/index.ts';

type DetectorFactory = (opts: Partial<DetectorOptions>) => Detector;

const NAB = resolve(import.meta.dirname, '../../shared/nab');
/** Leave-one-folder-out folds: the threshold is swept on the other folds, then applied to this one. */
const FOLDS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['artificial', ['artificialNoAnomaly', 'artificialWithAnomaly']],
  ['realAWSCloudwatch', ['realAWSCloudwatch']],
  ['realTraffic', ['realTraffic']],
];
const SPLITS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['realTraffic (held out; threshold from AWS + artificial)', ['realAWSCloudwatch', 'artificialNoAnomaly', 'artificialWithAnomaly']],
  ['realAWSCloudwatch + artificial (held out; threshold from realTraffic)', ['realTraffic']],
];

interface FileResult { file: string; raw_score: number; windows: number; windows_detected: number; fp_detections: number }
interface ProfileResult { score: number; raw_score: number; perfect_score: number; null_score: number; threshold: number | null; per_file: FileResult[]; windows_detected: number; windows: number; fp_detections: number }
interface ScoreJson { profiles: Record<string, ProfileResult> }

const PROFILE_WEIGHTS: Record<string, { tp: number; fn: number }> = {
  standard: { tp: 1, fn: 1 },
  reward_low_FP_rate: { tp: 1, fn: 1 },
  reward_low_FN_rate: { tp: 1, fn: 2 },
};

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string' }, set: { type: 'string', multiple: true }, keep: { type: 'string' }, detector: { type: 'string' },
      results: { type: 'string' },
    },
    strict: true,
  });
  const dataDir = resolve(values.data ?? join(NAB, 'data'));
  const opts = parseOverrides(values.set ?? []);
  const factory: DetectorFactory = values.detector
    ? ((await import(pathToFileURL(resolve(values.detector)).href)) as { createDetector: DetectorFactory }).createDetector
    : createDetector;
  const files = listCsv(dataDir);
  const out = values.results ? resolve(values.results) : values.keep ? resolve(values.keep) : mkdtempSync(join(tmpdir(), 'nab-results-'));
  if (!values.results) {
    const started = performance.now();
    for (const rel of files) runFile(join(dataDir, rel), join(out, rel), () => factory(opts));
    const seconds = (performance.now() - started) / 1000;
    console.log(`detector: ${files.length} files in ${seconds.toFixed(2)} s${values.set ? `  overrides: ${values.set.join(' ')}` : ''}`);
  }
  const all = score(out, dataDir, ['--profile', 'all']);
  if (!all) return 2;
  for (const [name, r] of Object.entries(all.profiles)) {
    console.log(`\nprofile ${name}: NAB score ${r.score.toFixed(2)}  threshold ${r.threshold}  windows ${r.windows_detected}/${r.windows}  FPs ${r.fp_detections}`);
    printFolders(r, PROFILE_WEIGHTS[name] ?? { tp: 1, fn: 1 });
  }
  printHeldOut(out, dataDir, files);
  printLeaveOneFolderOut(out, dataDir, files);
  if (!values.keep && !values.results) rmSync(out, { recursive: true, force: true });
  return 0;
}

function parseOverrides(pairs: readonly string[]): Partial<DetectorOptions> {
  const opts: Record<string, number> = {};
  for (const pair of pairs) {
    const [key, raw] = pair.split('=');
    if (!key || raw === undefined || !Number.isFinite(Number(raw))) throw new Error(`--set expects name=number, got "${pair}"`);
    opts[key] = Number(raw);
  }
  return opts as Partial<DetectorOptions>;
}

function listCsv(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.csv'))
    .sort();
}

function runFile(input: string, output: string, newDetector: () => Detector): void {
  const lines = readFileSync(input, 'utf8').split(/\r?\n/).filter((l) => l.length > 0);
  const detector = newDetector();
  const rows = ['timestamp,anomaly_score'];
  for (const line of lines.slice(1)) {
    const comma = line.indexOf(',');
    const ts = line.slice(0, comma);
    const score = detector.update(parseTimestamp(ts) ?? Number.NaN, Number(line.slice(comma + 1)));
    rows.push(`${ts},${formatScore(score)}`);
  }
  mkdirSync(dirname(output), { recursive: true });
  writeFileSync(output, `${rows.join('\n')}\n`);
}

/** Runs nab_score.py; returns its JSON output, or undefined (after printing why) on failure. */
function score(results: string, dataDir: string, extra: readonly string[]): ScoreJson | undefined {
  const json = join(results, 'score.json');
  const args = [join(NAB, 'tools/nab_score.py'), results, '--windows', join(NAB, 'windows.json'), '--data-dir', dataDir, '--json', json, ...extra];
  const run = spawnSync('python3', args, { encoding: 'utf8' });
  if (run.status !== 0) {
    console.error(`nab_score.py failed (exit ${run.status}):\n${run.stdout}${run.stderr}`);
    return undefined;
  }
  const parsed = JSON.parse(readFileSync(json, 'utf8')) as ScoreJson;
  rmSync(json);
  return parsed;
}

/** Per-folder NAB score at the corpus threshold: 100·(raw − null)/(perfect − null) over the folder's windows. */
function printFolders(r: ProfileResult, w: { tp: number; fn: number }): void {
  const folders = new Map<string, FileResult[]>();
  for (const f of r.per_file) {
    const folder = f.file.split('/')[0] ?? f.file;
    folders.set(folder, [...(folders.get(folder) ?? []), f]);
  }
  for (const [folder, fs] of [...folders].sort()) {
    const raw = fs.reduce((s, f) => s + f.raw_score, 0);
    const windows = fs.reduce((s, f) => s + f.windows, 0);
    const detected = fs.reduce((s, f) => s + f.windows_detected, 0);
    const fps = fs.reduce((s, f) => s + f.fp_detections, 0);
    const nul = -w.fn * windows;
    const norm = windows ? ((100 * (raw - nul)) / (w.tp * windows - nul)).toFixed(2) : '  n/a';
    console.log(`  ${folder.padEnd(24)} score ${norm.padStart(6)}  raw ${raw.toFixed(3).padStart(8)}  windows ${detected}/${windows}  FPs ${fps}`);
  }
}

function printHeldOut(results: string, dataDir: string, files: readonly string[]): void {
  console.log('\nheld-out (standard profile; threshold swept on the other folders, then fixed):');
  for (const [label, tuneFolders] of SPLITS) {
    const tune = files.filter((f) => tuneFolders.some((d) => f.startsWith(`${d}/`)));
    const test = files.filter((f) => !tune.includes(f));
    const swept = score(results, dataDir, ['--files', ...tune]);
    const thr = swept?.profiles.standard?.threshold;
    const fixed = score(results, dataDir, ['--files', ...test, ...(thr == null ? [] : ['--threshold', String(thr)])]);
    const own = score(results, dataDir, ['--files', ...test]);
    const f = fixed?.profiles.standard;
    const o = own?.profiles.standard;
    if (!f || !o) continue;
    console.log(`  ${label}: ${f.score.toFixed(2)} at threshold ${thr}  (its own best threshold: ${o.score.toFixed(2)})`);
  }
}

/**
 * Leave-one-folder-out: each folder's windows are scored at the threshold swept on the other
 * folders only; the folds' raw scores are summed and normalised like a NAB score. No row of a
 * folder influences the threshold it is scored at.
 */
function printLeaveOneFolderOut(results: string, dataDir: string, files: readonly string[]): void {
  let raw = 0;
  let nul = 0;
  let perfect = 0;
  const parts: string[] = [];
  for (const [name, folders] of FOLDS) {
    const inFold = (f: string): boolean => folders.some((d) => f.startsWith(`${d}/`));
    const test = files.filter(inFold);
    const tune = files.filter((f) => !inFold(f));
    if (!test.length || !tune.length) continue;
    const thr = score(results, dataDir, ['--files', ...tune])?.profiles.standard?.threshold;
    const r = score(results, dataDir, ['--files', ...test, ...(thr == null ? [] : ['--threshold', String(thr)])])?.profiles.standard;
    if (!r) return;
    raw += r.raw_score;
    nul += r.null_score;
    perfect += r.perfect_score;
    parts.push(`${name} ${r.score.toFixed(2)}@${thr == null ? 'none' : thr.toFixed(3)}`);
  }
  const norm = perfect - nul ? (100 * (raw - nul)) / (perfect - nul) : Number.NaN;
  console.log(`  leave-one-folder-out (standard): ${norm.toFixed(2)}  [${parts.join(', ')}]`);
}

process.exitCode = await main();
