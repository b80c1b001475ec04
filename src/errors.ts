import type { ZodError } from 'zod';

/**
 * One error type for the whole product. `kind` is a closed set, mapped to an HTTP status in
 * exactly one place (`statusOf`), so a new failure mode cannot silently become a 500.
 */
export type ErrorKind =
  | 'invalid'
  | 'unauthenticated'
  | 'not_found'
  | 'forbidden'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'quota_exceeded'
  | 'unavailable'
  | 'internal';

/** Kinds that are failures of the server, whose stack someone may need to read. */
const STACKED_KINDS: ReadonlySet<ErrorKind> = new Set<ErrorKind>(['internal', 'unavailable']);

export class AppError extends Error {
  readonly kind: ErrorKind;
  /** Machine-readable detail code, e.g. `unknown_model`, `shape_mismatch`. Defaults to the kind. */
  readonly code: string;
  readonly details: unknown;
  /** The answer should end its connection (a refusal held by pacing; see refusal-pacer.ts). */
  readonly closeConnection: boolean;

  constructor(kind: ErrorKind, message: string, opts: { code?: string; details?: unknown; cause?: unknown; closeConnection?: boolean } = {}) {
    // A caller's mistake (4xx) is answered by code and message, never by its stack, and capturing
    // one cost about 37 µs of a refusal's ~1 ms (profiled): a tenant flooding past its quota is
    // refused thousands of times a second. Failures of ours keep their stacks.
    const stackTraceLimit = Error.stackTraceLimit;
    if (!STACKED_KINDS.has(kind)) Error.stackTraceLimit = 0;
    try {
      super(message, { cause: opts.cause });
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    this.name = 'AppError';
    this.kind = kind;
    this.code = opts.code ?? kind;
    this.details = opts.details;
    this.closeConnection = opts.closeConnection ?? false;
  }
}

export function statusOf(kind: ErrorKind): 400 | 401 | 403 | 404 | 409 | 413 | 415 | 429 | 500 | 503 {
  switch (kind) {
    case 'invalid':
      return 400;
    case 'unauthenticated':
      return 401;
    case 'forbidden':
      return 403;
    case 'not_found':
      return 404;
    case 'conflict':
      return 409;
    case 'payload_too_large':
      return 413;
    case 'unsupported_media_type':
      return 415;
    case 'quota_exceeded':
      return 429;
    case 'unavailable':
      return 503;
    case 'internal':
      return 500;
  }
}

export const invalid = (message: string, code = 'invalid', details?: unknown) =>
  new AppError('invalid', message, { code, details });
export const notFound = (message: string, code = 'not_found') => new AppError('not_found', message, { code });

/** A zod error as one line, `path: message; …`, for an error message or a log line. */
export function zodMessage(error: ZodError): string {
  return limitIssues(error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)));
}

/** Problems named in one message, at most; each at most this many characters. */
const MAX_ISSUES = 10;
const MAX_ISSUE_CHARS = 500;

/**
 * Validation problems as one bounded line: the first MAX_ISSUES, each cut at MAX_ISSUE_CHARS,
 * then how many more. Found by fuzzing: 10,000 empty rows (a 30 KB body) made a 10 MB error
 * message, and an object of 400,000 unknown keys listed every one.
 */
export function limitIssues(lines: readonly string[]): string {
  const shown = lines.slice(0, MAX_ISSUES).map((l) => (l.length > MAX_ISSUE_CHARS ? `${l.slice(0, MAX_ISSUE_CHARS)}…` : l));
  const more = lines.length - shown.length;
  return more > 0 ? `${shown.join('; ')}; and ${more} more problem${more === 1 ? '' : 's'}` : shown.join('; ');
}
