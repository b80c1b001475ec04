import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AppError } from '../../errors.ts';

/**
 * GPU readings from `nvidia-smi`. Parsing is pure and strict (a changed output format must
 * fail loudly, not turn into zeros); probing only adds the process call.
 */

export interface GpuReading {
  readonly index: number;
  readonly uuid: string;
  readonly name: string;
  /** null when the GPU does not report it (`[N/A]`, `[Not Supported]`, e.g. MIG or vGPU). */
  readonly utilizationPct: number | null;
  readonly memoryUsedBytes: number;
  readonly memoryTotalBytes: number;
  readonly powerWatts: number | null;
  readonly powerLimitWatts: number | null;
}

export const NVIDIA_SMI_ARGS: readonly string[] = [
  '--query-gpu=index,uuid,name,utilization.gpu,memory.used,memory.total,power.draw,power.limit',
  '--format=csv,noheader,nounits',
];

const FIELD_COUNT = 8;
const MIB = 1024 * 1024;
const NUMBER = /^\d+(\.\d+)?$/;
/** nvidia-smi writes unavailable values as a bracketed phrase: `[N/A]`, `[Not Supported]`, … */
const UNAVAILABLE = /^\[[^\]]*\]$|^N\/A$/i;

export function parseNvidiaSmiCsv(text: string): GpuReading[] {
  const readings: GpuReading[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    readings.push(parseLine(line, i + 1));
  });
  return readings;
}

function parseLine(line: string, lineNo: number): GpuReading {
  const rawFields = line.split(',');
  const fields = rawFields.map((f) => f.trim());
  if (fields.length < FIELD_COUNT) {
    throw malformed(lineNo, line, `expected ${FIELD_COUNT} comma-separated fields, got ${fields.length}`);
  }
  // Only the name is free text; should it ever contain a comma, the fixed fields around it still line up.
  const extra = fields.length - FIELD_COUNT;
  const name = rawFields.slice(2, 3 + extra).join(',').trim();
  const [index, uuid] = fields;
  const [util, memUsed, memTotal, power, powerLimit] = fields.slice(3 + extra);
  const field = (label: string, value: string | undefined) => ({ label, value: value ?? '', lineNo, line });

  if (!/^\d+$/.test(index ?? '')) throw malformed(lineNo, line, `index '${index}' is not an integer`);
  if (!uuid) throw malformed(lineNo, line, 'uuid is empty');
  if (!name) throw malformed(lineNo, line, 'name is empty');
  return {
    index: Number(index),
    uuid,
    name,
    utilizationPct: optionalNumber(field('utilization.gpu', util)),
    memoryUsedBytes: Math.round(requiredNumber(field('memory.used', memUsed)) * MIB),
    memoryTotalBytes: Math.round(requiredNumber(field('memory.total', memTotal)) * MIB),
    powerWatts: optionalNumber(field('power.draw', power)),
    powerLimitWatts: optionalNumber(field('power.limit', powerLimit)),
  };
}

interface Field {
  label: string;
  value: string;
  lineNo: number;
  line: string;
}

function optionalNumber(f: Field): number | null {
  return UNAVAILABLE.test(f.value) ? null : requiredNumber(f);
}

function requiredNumber(f: Field): number {
  if (!NUMBER.test(f.value)) throw malformed(f.lineNo, f.line, `${f.label} '${f.value}' is not a number`);
  return Number(f.value);
}

function malformed(lineNo: number, line: string, why: string): AppError {
  return new AppError('internal', `nvidia-smi output line ${lineNo} is malformed (${why}): ${JSON.stringify(line)}`, {
    code: 'nvidia_smi_malformed',
  });
}

const execFileAsync = promisify(execFile);

export interface ProbeGpusOptions {
  /** Path or name of the binary; tests point it at a script. */
  command?: string;
  timeoutMs?: number;
}

/**
 * Runs nvidia-smi once. No binary means no NVIDIA GPU on this host, which is a normal
 * outcome (→ []); anything else (driver not loaded, timeout, odd output) is an error the
 * caller should see.
 */
export async function probeGpus(opts: ProbeGpusOptions = {}): Promise<GpuReading[]> {
  const command = opts.command ?? 'nvidia-smi';
  const timeoutMs = opts.timeoutMs ?? 5_000;
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(command, NVIDIA_SMI_ARGS, {
      timeout: timeoutMs,
      encoding: 'utf8',
      maxBuffer: 1024 * 1024,
      windowsHide: true,
    }));
  } catch (err) {
    if (isErrnoException(err) && err.code === 'ENOENT') return [];
    throw new AppError('unavailable', `nvidia-smi failed: ${describeExecFailure(err, timeoutMs)}`, {
      code: 'nvidia_smi_failed',
      cause: err,
    });
  }
  return parseNvidiaSmiCsv(stdout);
}

interface ExecFailure {
  code?: unknown;
  killed?: boolean;
  signal?: unknown;
  stderr?: unknown;
  stdout?: unknown;
  message?: unknown;
}

function describeExecFailure(err: unknown, timeoutMs: number): string {
  if (typeof err !== 'object' || err === null) return String(err);
  const e = err as ExecFailure;
  if (e.killed && e.signal) return `timed out after ${timeoutMs} ms (killed with ${String(e.signal)})`;
  // Without a driver, nvidia-smi explains itself on stdout, not stderr.
  const said = [e.stderr, e.stdout].map((s) => (typeof s === 'string' ? s.trim() : '')).find((s) => s !== '') ?? '';
  if (typeof e.code === 'number') return `exit code ${e.code}${said ? `: ${said.slice(0, 500)}` : ''}`;
  return typeof e.message === 'string' ? e.message : String(err);
}

function isErrnoException(err: unknown): err is NodeJS.ErrnoException {
  return typeof err === 'object' && err !== null && 'code' in err;
}
