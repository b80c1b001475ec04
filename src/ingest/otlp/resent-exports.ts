import { createHash } from 'node:crypto';
import type { OtlpSender } from './tenancy.ts';
import type { OtlpEncoding } from './transport.ts';

/**
 * Remembers the exports this receiver stored, so that one re-sent byte for byte is stored once.
 *
 * Why: an exporter that times out on an export the receiver did store retries it, and metric data
 * points carry no id the tables could deduplicate on, so the retry would be a second copy of every
 * point (spans do: `requests` counts a span id once, and only `otel_traces` would hold the raw
 * copy). OTLP exporters resend the same bytes, so a hash of sender, encoding and body identifies
 * the retry. A repeat within `ttlMs` gets the first answer without writing; one arriving while
 * the first is still being written waits for it. A failed write is forgotten, so its retry
 * writes. Per process and in memory: a retry that lands on another replica, or after a restart,
 * is still stored twice.
 */
export class ResentExports<T> {
  private readonly entries = new Map<string, { at: number; result: Promise<T> }>();

  constructor(
    private readonly ttlMs = 10 * 60_000,
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** `store()` once per distinct export within the window; a repeat gets the first result. */
  once(sender: OtlpSender, encoding: OtlpEncoding, body: Buffer, store: () => Promise<T>): Promise<T> {
    const key = exportKey(sender, encoding, body);
    const now = this.now();
    this.expire(now);
    const seen = this.entries.get(key);
    if (seen) return seen.result;
    const result = store();
    this.entries.set(key, { at: now, result });
    result.catch(() => {
      if (this.entries.get(key)?.result === result) this.entries.delete(key);
    });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return result;
  }

  /** Entries are in insertion order, so the expired ones are at the front. */
  private expire(now: number): void {
    for (const [key, entry] of this.entries) {
      if (now - entry.at < this.ttlMs) break;
      this.entries.delete(key);
    }
  }
}

function exportKey(sender: OtlpSender, encoding: OtlpEncoding, body: Buffer): string {
  const who = sender.role === 'ingest' ? `ingest:${sender.tenantId}` : 'admin';
  return createHash('sha256').update(who).update('\0').update(encoding).update('\0').update(body).digest('base64');
}
