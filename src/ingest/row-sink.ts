import { AppError } from '../errors.ts';
import type { Store } from '../store/client.ts';
import type { Spool } from './spool.ts';

/** Where accepted rows go. Resolves only once the rows are in the store or durably spooled. */
export interface RowSink {
  write(table: string, rows: readonly object[]): Promise<void>;
}

/**
 * The never-drop path, for every billing input (the sidecar's spans and resource samples, OTLP
 * ingest): insert; when the store refuses (down, timeout), fsync the rows to the
 * disk spool, which the spool-drain job replays. Only when both fail does the write fail, so the
 * sender is told to retry (503) instead of being acknowledged for rows that exist nowhere.
 */
export function storeOrSpool(store: Pick<Store, 'insert'>, spool: Pick<Spool, 'append'>, onStoreError: (err: unknown) => void = () => {}): RowSink {
  return primaryOrSpool((table, rows) => store.insert(table, rows), spool, onStoreError, 'store');
}

/**
 * The never-drop path with any primary destination: `write`, else fsync to the spool; fails only
 * when both fail. `verb` names the primary in that failure ("could not store or spool …").
 */
export function primaryOrSpool(
  write: (table: string, rows: readonly object[]) => Promise<void>,
  spool: Pick<Spool, 'append'>,
  onPrimaryError: (err: unknown) => void,
  verb: string,
): RowSink {
  return {
    async write(table, rows) {
      if (rows.length === 0) return;
      let primaryError: unknown;
      try {
        await write(table, rows);
        return;
      } catch (err) {
        primaryError = err;
      }
      try {
        spool.append(table, rows);
      } catch (err) {
        const primary = (primaryError as Error)?.message ?? String(primaryError);
        throw new AppError('unavailable', `could not ${verb} or spool ${rows.length} rows for ${table}: ${(err as Error).message} (${verb}: ${primary})`, { cause: err });
      }
      // Reported once the rows are safe in the spool, so "spooled, will retry" is then true.
      onPrimaryError(primaryError);
    },
  };
}
