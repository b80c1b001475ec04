import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Alert } from '../types.ts';

/**
 * A destination's notifications waiting to be sent, in the order they were offered, keyed so
 * that an offer repeated by a re-run is one entry. The disk outbox makes a page survive a crash:
 * a notification is on disk (fsync'ed) before the evaluation that produced it returns, and is
 * deleted only once the receiver took it (or refused it for good). A restarted process sends
 * what the previous one could not. Notifications are rare (a few per crossing), so plain
 * synchronous writes are fine.
 */
export interface Outbox {
  readonly size: number;
  set(id: string, alert: Alert): void;
  delete(id: string): void;
  /** Oldest first. */
  entries(): Array<[string, Alert]>;
}

export function memoryOutbox(): Outbox {
  const map = new Map<string, Alert>();
  return {
    get size() {
      return map.size;
    },
    set: (id, alert) => void map.set(id, alert),
    delete: (id) => void map.delete(id),
    entries: () => [...map],
  };
}

interface Stored {
  id: string;
  alert: Alert;
}

/** A notification's file name: `<sequence>-<hash of id>.json` (other files in the folder are not ours). */
export const isNotificationFile = (name: string): boolean => /^\d{12}-[^.]+\.json$/.test(name);

/** One file per notification in `dir`: `<sequence>-<hash of id>.json`, written atomically. */
export function diskOutbox(dir: string, log: (line: string) => void = () => {}): Outbox {
  mkdirSync(dir, { recursive: true });
  const files = new Map<string, string>(); // id → file name, in sequence order
  const alerts = new Map<string, Alert>();
  let seq = 0;
  for (const name of readdirSync(dir).filter(isNotificationFile).sort()) {
    try {
      const stored = JSON.parse(readFileSync(join(dir, name), 'utf8')) as Stored;
      files.set(stored.id, name);
      alerts.set(stored.id, stored.alert);
      seq = Math.max(seq, Number.parseInt(name, 10) + 1);
    } catch (err) {
      log(`alert outbox: skipped unreadable ${name} (${(err as Error).message})`);
    }
  }
  return {
    get size() {
      return alerts.size;
    },
    set(id, alert) {
      // The same entry keeps its place (and file); a new one goes last.
      const name = files.get(id) ?? `${String(seq++).padStart(12, '0')}-${createHash('sha256').update(id).digest('hex').slice(0, 24)}.json`;
      writeAtomically(join(dir, name), JSON.stringify({ id, alert } satisfies Stored));
      files.set(id, name);
      alerts.set(id, alert);
    },
    delete(id) {
      const name = files.get(id);
      if (name === undefined) return;
      files.delete(id);
      alerts.delete(id);
      try {
        unlinkSync(join(dir, name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    },
    entries: () => [...files.keys()].map((id) => [id, alerts.get(id)!]),
  };
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}
