import type { Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { HeldFile, Spool } from '../ingest/spool.ts';

/**
 * Where journaled spans go: how a span becomes a journal row, and how rows are delivered (a
 * ClickHouse insert, or an OTLP export). `deliver` must reject unless every row was accepted.
 */
export interface SpanDestination<R extends object> {
  /** The spool's subfolder for this destination's journal files. */
  table: string;
  toRow(span: ReadableSpan): R;
  deliver(rows: R[]): Promise<void>;
  /** Called once the processor has shut down (the last delivery done). */
  shutdown?(): Promise<void>;
}

export interface JournalOptions {
  batchDelayMs: number;
  maxBatchSize: number;
  /** Rows held in memory while delivery is slow; beyond this the journal file waits on disk instead. */
  maxBufferedRows?: number;
  /**
   * Replay the spool's leftover files through `deliver` on every flush interval (and at start).
   * Off when the process's spool-drain job already replays this spool.
   */
  drainSpool?: boolean;
  /**
   * Spans no answer waits for (a refusal's span ends after its 429 is decided, and nothing awaits
   * `recorded` for it): they join the next journal write made for an awaited span, or one made at
   * most `deferMs` later, instead of a write of their own. A tenant flooding past its quota then
   * costs one journal write per `deferMs`, not one O_DSYNC write per refused request (measured:
   * ~0.23 ms of CPU each, most of it the filesystem's journal commit). The price: a crash can
   * lose up to `deferMs` of such spans.
   */
  deferrable?: (span: ReadableSpan) => boolean;
  /** Longest a deferrable span waits for a journal write (default 100 ms). */
  deferMs?: number;
  onError?: (err: unknown) => void;
}

const DEFAULT_DEFER_MS = 100;
/** While requests cannot be recorded at all, one log line at most this often says how many. */
const NOT_RECORDED_LOG_MS = 10_000;

/** Spans of one journal write (group commit): on disk once `durable` resolves. */
interface JournalGroup<R> {
  rows: R[];
  spanIds: string[];
  /** Spans whose answer waits for this group (`recorded` was called for them). */
  awaited: Set<string>;
  durable: Promise<void>;
}

/**
 * A journal problem reported through `onError` with what was done about it already in its
 * message (unlike a failed delivery, whose rows are always kept and retried).
 */
export class SpanJournalError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SpanJournalError';
  }
}

/**
 * `recorded` rejects with this when a span could be neither journaled nor delivered (a full or
 * read-only disk while the destination is down too). Its row is dropped: the answer waiting for it
 * must be an error, so the request is neither acknowledged nor billed.
 */
export class SpanNotRecordedError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SpanNotRecordedError';
  }
}

/** The journal file of the current flush interval and the rows in it. */
interface Segment<R> {
  held: HeldFile;
  rows: R[];
}

/**
 * Crash safety for spans: a span is appended to a journal file as it ends, and `recorded(spanId)`
 * resolves once it is on disk, so an answer sent after it survives a SIGKILL of this process.
 *
 * Group commit: every span that ends while the previous group is being written goes into the next
 * one (one O_DSYNC write per group, into one file per flush interval, not one file per group).
 * Each flush closes the file, delivers its rows and deletes it; if delivery fails the file stays
 * in the spool and is replayed later (by this processor with `drainSpool`, else by the spool-drain
 * job). A crash leaves the file behind and the next start replays it. A file delivered just before
 * a crash can be delivered again; the `requests` table counts a span id once.
 */
export class JournaledSpanProcessor<R extends object> implements SpanProcessor {
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readonly maxBufferedRows: number;
  /** The group collecting spans now; every journal step runs in order on `writing`. */
  private collecting: JournalGroup<R> | undefined;
  private writing: Promise<void> = Promise.resolve();
  private segment: Segment<R> | undefined;
  /**
   * Rows no answer waits for (refusals) that neither the journal nor the destination took yet:
   * delivered (or spooled) by the next flush. At most `maxBufferedRows`, oldest dropped beyond.
   */
  private unjournaled: R[] = [];
  private readonly groupOf = new Map<string, JournalGroup<R>>();
  /** The flush waiting behind the one in flight, if any. */
  private queued: Promise<void> | undefined;
  /** Rows of deferrable spans waiting for the next journal write. */
  private deferred: R[] = [];
  private deferTimer: NodeJS.Timeout | undefined;
  /** The journal's last write failed (logged once per streak, not once per group). */
  private journalFailing = false;
  /** Answers failed since the last log line about it (at most one line per NOT_RECORDED_LOG_MS). */
  private notRecorded = { requests: 0, loggedAt: Number.NEGATIVE_INFINITY };

  constructor(
    private readonly spool: Spool,
    private readonly destination: SpanDestination<R>,
    private readonly opts: JournalOptions,
  ) {
    this.maxBufferedRows = opts.maxBufferedRows ?? 50_000;
    this.timer = setInterval(() => void this.flush(), opts.batchDelayMs);
    this.timer.unref();
    if (opts.drainSpool) this.chain = this.chain.then(() => this.drain());
  }

  onStart(_span: Span, _ctx: Context): void {}

  onEnd(span: ReadableSpan): void {
    const row = this.destination.toRow(span);
    if (this.opts.deferrable?.(span)) {
      this.deferred.push(row);
      this.deferTimer ??= setTimeout(() => {
        this.deferTimer = undefined;
        if (this.deferred.length > 0) this.openGroup();
      }, this.opts.deferMs ?? DEFAULT_DEFER_MS).unref();
      return;
    }
    const spanId = span.spanContext().spanId;
    const group = this.openGroup();
    group.rows.push(row);
    group.spanIds.push(spanId);
    this.groupOf.set(spanId, group);
  }

  /** The group collecting spans now, or a new one, written once the write before it is done. */
  private openGroup(): JournalGroup<R> {
    if (!this.collecting) {
      const group: JournalGroup<R> = { rows: [], spanIds: [], awaited: new Set(), durable: Promise.resolve() };
      group.durable = this.step(() => this.writeGroup(group));
      // A group nobody waits for (refusals only) may fail too: that is reported by writeGroup,
      // not an unhandled rejection. Callers of recorded() still see the failure.
      group.durable.catch(() => undefined);
      this.collecting = group;
    }
    return this.collecting;
  }

  /**
   * Resolves once the span would survive a crash of this process: on disk in the journal, or, when
   * the journal cannot be written (disk full, read-only), delivered to the destination at once.
   * At once for a span this processor has not seen. Rejects (SpanNotRecordedError) only when both
   * failed; the span's row is then dropped, so the answer waiting for it must be an error.
   */
  recorded(spanId: string): Promise<void> {
    const group = this.groupOf.get(spanId);
    if (!group) return Promise.resolve();
    this.groupOf.delete(spanId);
    group.awaited.add(spanId);
    return group.durable;
  }

  /**
   * Delivers everything journaled so far; resolves once it is delivered or left in the spool.
   * At most one flush waits behind the delivery in flight, and every caller until it starts
   * shares it (it closes the file when it starts, so it takes their spans too): while the
   * destination is slow or down, the timer cannot pile up closed files in memory.
   */
  flush(): Promise<void> {
    if (this.queued) return this.queued;
    const run = this.chain.then(() => {
      this.queued = undefined;
      return this.deliverJournaled();
    });
    this.queued = run;
    // A failed step must not stop every later flush: the chain itself never rejects.
    this.chain = run.catch((err: unknown) => this.opts.onError?.(err));
    return run;
  }

  forceFlush(): Promise<void> {
    return this.flush();
  }

  async shutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    clearTimeout(this.deferTimer);
    this.deferTimer = undefined;
    await this.flush();
    await this.destination.shutdown?.();
  }

  /** Runs journal steps one at a time, in order; a failed step does not stop the next. */
  private step<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writing.then(fn);
    this.writing = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async writeGroup(group: JournalGroup<R>): Promise<void> {
    if (this.collecting === group) this.collecting = undefined; // later spans start the next group
    // Rows of deferrable spans (no answer waits for them) ride with this write.
    const deferred = this.deferred;
    this.deferred = [];
    const rows = deferred.length ? [...group.rows, ...deferred] : group.rows;
    if (rows.length === 0) return;
    try {
      await this.journal(rows);
      if (this.journalFailing) {
        this.journalFailing = false;
        this.opts.onError?.(new SpanJournalError('span journal: writing again'));
      }
    } catch (journalErr) {
      await this.deliverUnjournaled(group, deferred, journalErr);
    } finally {
      // Written, delivered or given up on: a later recorded() for these spans has nothing to wait for.
      for (const id of group.spanIds) if (this.groupOf.get(id) === group) this.groupOf.delete(id);
    }
    const inMemory = (this.segment?.rows.length ?? 0) + this.unjournaled.length;
    if (inMemory >= this.maxBufferedRows && this.segment) {
      // Delivery is not keeping up: the file waits for the drain instead of its rows in memory.
      await this.retireSegment();
    } else if (inMemory >= this.opts.maxBatchSize) {
      void this.flush();
    }
  }

  /** Appends rows to the current journal file (opening one if needed); on disk when it resolves. */
  private async journal(rows: R[]): Promise<void> {
    this.segment ??= { held: await this.spool.openHeld(this.destination.table), rows: [] };
    try {
      await this.segment.held.append(rows);
    } catch (err) {
      // A failed append (ENOSPC) can leave a torn line; the next rows must not be glued to it and
      // lost with it. The file's whole lines go to the drain; the next write starts a new file.
      await this.retireSegment();
      throw err;
    }
    this.segment.rows.push(...rows);
  }

  /** Hands the current journal file to the drain, which replays it; its rows leave memory. */
  private async retireSegment(): Promise<void> {
    const full = this.segment;
    if (!full) return;
    this.segment = undefined;
    await full.held.close().catch((err: unknown) => this.opts.onError?.(err));
    this.spool.release(full.held.file);
  }

  /**
   * The journal could not take a group: deliver it at once instead, so the answers waiting for
   * it still follow a durable record. If that fails too, those answers fail (their rows are
   * dropped: not acknowledged, so not billed); rows no answer waits for stay for the next flush.
   */
  private async deliverUnjournaled(group: JournalGroup<R>, deferred: R[], journalErr: unknown): Promise<void> {
    const rows = [...group.rows, ...deferred];
    if (!this.journalFailing) {
      this.journalFailing = true;
      const why = (journalErr as Error)?.message ?? String(journalErr);
      this.opts.onError?.(new SpanJournalError(`span journal: cannot write (${why}); delivering spans at once instead until it can`, { cause: journalErr }));
    }
    try {
      await this.destination.deliver(rows);
      return;
    } catch (deliverErr) {
      const kept = [...group.rows.filter((_, i) => !group.awaited.has(group.spanIds[i]!)), ...deferred];
      this.keepUnjournaled(kept, 'end');
      const why = (deliverErr as Error)?.message ?? String(deliverErr);
      this.notRecorded.requests += group.awaited.size;
      const now = Date.now();
      if (now - this.notRecorded.loggedAt >= NOT_RECORDED_LOG_MS) {
        const message = `span journal: cannot write, and delivery failed too (${why}): ${this.notRecorded.requests} requests answered with an error, not recorded`;
        this.opts.onError?.(new SpanJournalError(message, { cause: deliverErr }));
        this.notRecorded = { requests: 0, loggedAt: now };
      }
      throw new SpanNotRecordedError(`span journal: cannot write, and delivery failed too (${why})`, { cause: deliverErr });
    }
  }

  private async deliverJournaled(): Promise<void> {
    // Closing the segment is a journal step: it waits for the groups before it, and groups
    // after it start a new file.
    const delivered = await this.deliverClosed(await this.step(() => this.closeSegment()));
    // The destination just failed: a drain now would only wait out its timeout again for every
    // leftover file (a sidecar whose API is down took 20-30 s to stop). The next flush drains.
    if (delivered && this.opts.drainSpool) await this.drain();
  }

  private async closeSegment(): Promise<{ segment: Segment<R> | undefined; unjournaled: R[] }> {
    const segment = this.segment;
    this.segment = undefined;
    // Deferred rows no write has taken yet go with this delivery (and to the spool if it fails).
    const unjournaled = [...this.unjournaled, ...this.deferred];
    this.unjournaled = [];
    this.deferred = [];
    if (segment) await segment.held.close().catch((err: unknown) => this.opts.onError?.(err));
    return { segment, unjournaled };
  }

  /**
   * One delivery for the closed segment; success deletes its file, failure leaves it to the drain.
   * Resolves whether the destination took it (true when there was nothing to deliver).
   */
  private async deliverClosed({ segment, unjournaled }: { segment: Segment<R> | undefined; unjournaled: R[] }): Promise<boolean> {
    const rows = [...(segment?.rows ?? []), ...unjournaled];
    if (rows.length === 0) {
      if (segment) this.spool.remove(segment.held.file);
      return true;
    }
    try {
      await this.destination.deliver(rows);
    } catch (err) {
      this.opts.onError?.(err);
      // On disk already: the drain replays the file. Rows whose journal write failed are
      // spooled now, or kept for the next flush if even that fails.
      if (segment) this.spool.release(segment.held.file);
      try {
        this.spool.append(this.destination.table, unjournaled);
      } catch (spoolErr) {
        this.opts.onError?.(spoolErr);
        this.keepUnjournaled(unjournaled, 'start');
      }
      return false;
    }
    if (segment) this.spool.remove(segment.held.file);
    return true;
  }

  /**
   * Keeps rows for the next flush, within `maxBufferedRows`: while the disk is full and the
   * destination down, a flood of refusals must not grow memory without bound. Only rows no
   * answer waited for get here (refusal records, not billed usage).
   */
  private keepUnjournaled(rows: R[], at: 'start' | 'end'): void {
    this.unjournaled = at === 'start' ? [...rows, ...this.unjournaled] : [...this.unjournaled, ...rows];
    const over = this.unjournaled.length - this.maxBufferedRows;
    if (over > 0) {
      this.unjournaled.splice(0, over);
      this.opts.onError?.(new SpanJournalError(`span journal: dropped the ${over} oldest refusal records kept in memory (neither the disk nor the destination takes them)`));
    }
  }

  /** Replays leftover journal files (a crash's, or a failed delivery's), oldest first. */
  private async drain(): Promise<void> {
    try {
      await this.spool.drain(
        async (table, rows) => {
          // A dedicated spool holds only this destination's files; refuse (and so keep) any other.
          if (table !== this.destination.table) throw new Error(`span journal: ${table} files in its spool are not its own`);
          await this.destination.deliver(rows as R[]);
        },
        (_table, err) => this.opts.onError?.(err),
      );
    } catch (err) {
      this.opts.onError?.(err);
    }
  }
}
