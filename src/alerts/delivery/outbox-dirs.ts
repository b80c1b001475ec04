import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { webhookIdentity } from '../config.ts';
import { describeUrl } from './destination.ts';
import { isNotificationFile } from './outbox.ts';

/** What identifies a webhook's outbox: where it posts and which tenants it is for (not its secret). */
export interface WebhookIdentity {
  url: string;
  tenants?: readonly string[];
}

/** Written into each outbox folder, so a folder left by a removed webhook can be named in the log. */
const META_FILE = 'webhook.json';

const hash16 = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

/**
 * The folder of one webhook's outbox under `root`: hashed (the URL may hold a token) from the URL
 * *and* the tenants filter. Two webhooks with the same URL for different tenants (a team's
 * receiver behind one gateway) must not share a folder: each would read back, sign and send the
 * other's notifications (another tenant's alerts), and delete them once sent. The secret is left
 * out so that rotating it keeps what is waiting; the config refuses two webhooks with the same
 * identity (`webhookIdentity`).
 */
export function webhookOutboxDir(root: string, w: WebhookIdentity): string {
  return join(root, hash16(webhookIdentity(w)));
}

/**
 * The folder of what Alertmanager is owed (alertmanager.ts). Not named from the URL: Alertmanager
 * is one destination whatever its address, so a page owed when its URL changes goes to the new one.
 */
export function alertmanagerOutboxDir(root: string): string {
  return join(root, 'alertmanager');
}

/** The folder name before the tenants filter was part of it (hash of the URL alone). */
const legacyOutboxDir = (root: string, url: string) => join(root, hash16(url));

/**
 * Prepares `root` for these webhooks, before their outboxes open:
 * - a folder in the older layout (one per URL, shared by every webhook with that URL) is handed
 *   to each webhook with its URL (copied; each one drops what its tenants filter excludes), then
 *   removed, so nothing waiting is lost by the upgrade;
 * - each webhook's folder gets a note of its URL (without query or credentials) and tenants;
 * - a folder that no configured webhook owns but that still holds notifications (its webhook was
 *   removed, or its URL or tenants changed) is reported: those are never sent.
 */
export function prepareOutboxDirs(
  root: string,
  webhooks: readonly WebhookIdentity[],
  log: (line: string) => void,
  alertmanager?: { url: string },
): void {
  mkdirSync(root, { recursive: true });
  const owned = new Map(webhooks.map((w) => [webhookOutboxDir(root, w), w]));
  const alertmanagerDir = alertmanagerOutboxDir(root);
  if (alertmanager) {
    mkdirSync(alertmanagerDir, { recursive: true });
    writeFileSync(join(alertmanagerDir, META_FILE), `${JSON.stringify({ alertmanager: describeUrl(alertmanager.url) })}\n`);
  } else if (pendingFiles(alertmanagerDir).length > 0) {
    log(
      `alert outbox: ${pendingFiles(alertmanagerDir).length} alerts in ${alertmanagerDir} are owed to Alertmanager, which is no longer configured; ` +
        'configure alerts.alertmanager again to send them, or delete the folder',
    );
  }
  for (const url of new Set(webhooks.map((w) => w.url))) {
    const legacy = legacyOutboxDir(root, url);
    if (owned.has(legacy) || !existsSync(legacy)) continue;
    const files = pendingFiles(legacy);
    for (const [dir, w] of owned) {
      if (w.url !== url) continue;
      mkdirSync(dir, { recursive: true });
      for (const f of files) if (!existsSync(join(dir, f))) copyFileSync(join(legacy, f), join(dir, f));
    }
    rmSync(legacy, { recursive: true, force: true });
    if (files.length) log(`alert outbox: ${files.length} waiting notifications of ${describeUrl(url)} moved to the per-webhook layout`);
  }
  for (const [dir, w] of owned) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, META_FILE), `${JSON.stringify({ url: describeUrl(w.url), tenants: w.tenants ?? null })}\n`);
  }
  for (const name of readdirSync(root)) {
    const dir = join(root, name);
    if (owned.has(dir) || dir === alertmanagerDir) continue;
    const waiting = pendingFiles(dir).length;
    if (waiting === 0) continue;
    log(
      `alert outbox: ${waiting} notifications in ${dir} (${ownerOf(dir)}) belong to no configured webhook and will not be sent; ` +
        'restore that webhook to send them, or delete the folder',
    );
  }
}

function pendingFiles(dir: string): string[] {
  try {
    return readdirSync(dir).filter(isNotificationFile);
  } catch {
    return [];
  }
}

function ownerOf(dir: string): string {
  try {
    const meta = JSON.parse(readFileSync(join(dir, META_FILE), 'utf8')) as { url?: string; tenants?: string[] | null };
    return `webhook ${meta.url ?? '?'}${meta.tenants ? ` for ${meta.tenants.join(', ')}` : ''}`;
  } catch {
    return 'a webhook of an older version, URL unknown';
  }
}
