import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKey } from './keys.ts';

export interface AdminKeyResult {
  key: string;
  /** True when the key was generated now: print it once. */
  generated: boolean;
  path?: string;
}

/**
 * The bootstrap admin key: INFERLEDGER_ADMIN_KEY (config admin_key) if set; otherwise the one
 * generated on first start and kept in `<data_dir>/admin.key` with mode 0600.
 */
export function resolveAdminKey(configured: string | undefined, dataDir: string): AdminKeyResult {
  if (configured) return { key: configured, generated: false };
  const path = join(dataDir, 'admin.key');
  if (existsSync(path)) return { key: readFileSync(path, 'utf8').trim(), generated: false, path };
  mkdirSync(dataDir, { recursive: true });
  const key = generateKey('admin');
  writeFileSync(path, key + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600); // the umask may have narrowed or widened the create mode
  return { key, generated: true, path };
}
