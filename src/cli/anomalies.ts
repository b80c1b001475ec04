import { createReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { checkHeader, parseRow } from '../anomalies/csv-rows.ts';
import { createDetector, formatScore } from '../anomalies/index.ts';

/**
 * `inferledger anomalies detect <file.csv>`: streams a `timestamp,value` CSV through one detector
 * and writes `timestamp,value,anomaly_score` to stdout, row for row. Exit 0 on success, 2 on a
 * usage or input error (missing file, bad header, bad row — with its line number).
 */
export interface AnomaliesIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Source of the file's bytes; defaults to a file stream (tests pass chunks instead). */
  readFile?: (path: string) => AsyncIterable<string | Buffer>;
}

const USAGE = `usage: inferledger anomalies detect <file.csv>

Reads a CSV with header timestamp,value (timestamps: 'YYYY-MM-DD HH:MM:SS' as UTC, RFC 3339, or
epoch seconds or milliseconds, below 1e11 being seconds; empty or NaN values are missing) and
writes timestamp,value,anomaly_score.
Scores are in [0, 1] and causal: a row's score uses that row and earlier ones only.
About 0.5 means "the largest deviation in the last 1000 rows"; higher is more surprising.`;

/** Output is flushed in chunks of about this many characters, honouring backpressure. */
const FLUSH_CHARS = 64 * 1024;

export async function runAnomaliesCommand(args: string[], io: AnomaliesIo): Promise<number> {
  const [sub, file, ...extra] = args;
  if (sub === 'help' || args.includes('--help') || args.includes('-h')) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (sub !== 'detect' || !file || extra.length > 0) {
    io.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const source = (io.readFile ?? ((p: string) => createReadStream(p)))(file);
  try {
    const error = await detectStream(lines(source), io.stdout);
    if (error === undefined) return 0;
    io.stderr.write(`anomalies detect: ${file}: ${error}\n`);
  } catch (err) {
    io.stderr.write(`anomalies detect: ${file}: ${describeReadError(err)}\n`);
  }
  return 2;
}

/** Runs the detector over the lines; returns an error message, or undefined when all went well. */
async function detectStream(input: AsyncIterable<string>, out: NodeJS.WritableStream): Promise<string | undefined> {
  const detector = createDetector();
  let lineNumber = 0;
  let previousMs: number | undefined;
  let buffer = '';
  for await (const line of input) {
    lineNumber++;
    if (lineNumber === 1) {
      const bad = checkHeader(line);
      if (bad) return bad;
      buffer = 'timestamp,value,anomaly_score\n';
      continue;
    }
    if (line.trim() === '') continue;
    const parsed = parseRow(line, lineNumber, previousMs);
    if (!parsed.ok) return parsed.error;
    const { row } = parsed;
    previousMs = row.timestampMs;
    const score = detector.update(row.timestampMs, row.value);
    buffer += `${row.timestampText},${row.valueText},${formatScore(score)}\n`;
    if (buffer.length >= FLUSH_CHARS) buffer = await flush(out, buffer);
  }
  if (lineNumber === 0) return 'empty file: expected the header "timestamp,value"';
  await flush(out, buffer);
  return undefined;
}

async function flush(out: NodeJS.WritableStream, text: string): Promise<string> {
  if (text && !out.write(text)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  return '';
}

/** Splits a byte/string stream into lines (LF or CRLF) without holding the whole file. */
async function* lines(source: AsyncIterable<string | Buffer>): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of source) {
    const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    // Only the new text is searched for a line end: rescanning the unfinished line on every chunk
    // made a file without LF (old Mac CR-only endings) take quadratic time before its error.
    if (!text.includes('\n')) {
      rest += text;
      if (rest.length > MAX_LINE_CHARS) throw new LineTooLong(rest.length);
      continue;
    }
    const parts = (rest + text).split('\n');
    rest = parts.pop() ?? '';
    for (const p of parts) yield p.replace(/\r$/, '');
  }
  rest += decoder.end();
  if (rest !== '') yield rest.replace(/\r$/, '');
}

/** A line longer than any timestamp,value row could be: the file has no LF line ends (or is not a CSV). */
const MAX_LINE_CHARS = 1 << 20;

class LineTooLong extends Error {
  constructor(chars: number) {
    super(`a line of over ${chars} characters has no line end: lines must end in LF or CRLF (convert a file with CR-only line ends, as old Mac software writes them)`);
  }
}

function describeReadError(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'EACCES') return 'permission denied';
  return err instanceof Error ? err.message : String(err);
}
