import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Alert } from '../types.ts';
import { diskOutbox } from './outbox.ts';
import { alertmanagerOutboxDir, prepareOutboxDirs, webhookOutboxDir } from './outbox-dirs.ts';
import { createHash } from 'node:crypto';

const URL_A = 'http://receiver.example:9000/shared?token=s3cret';
const alert = (tenantId: string) => ({ tenantId, alertname: 'InferledgerQuotaThreshold' }) as unknown as Alert;
const root = () => join(mkdtempSync(join(tmpdir(), 'il-outbox-dirs-')), 'alert-outbox');

describe('webhook outbox folders', () => {
  it('two webhooks with the same URL for different tenants get folders of their own', () => {
    const r = root();
    const alpha = webhookOutboxDir(r, { url: URL_A, tenants: ['alpha'] });
    const beta = webhookOutboxDir(r, { url: URL_A, tenants: ['beta'] });
    const all = webhookOutboxDir(r, { url: URL_A });
    expect(new Set([alpha, beta, all]).size).toBe(3);
    expect(webhookOutboxDir(r, { url: URL_A, tenants: ['b', 'a'] })).toBe(webhookOutboxDir(r, { url: URL_A, tenants: ['a', 'b'] }));
  });

  it("hands a folder of the older per-URL layout to every webhook with that URL, then removes it", () => {
    const r = root();
    const legacy = join(r, createHash('sha256').update(URL_A).digest('hex').slice(0, 16));
    const old = diskOutbox(legacy);
    old.set('e1:firing', alert('alpha'));
    old.set('e2:firing', alert('beta'));
    const logs: string[] = [];
    const hooks = [{ url: URL_A, tenants: ['alpha'] }, { url: URL_A }];
    prepareOutboxDirs(r, hooks, (l) => logs.push(l));
    expect(existsSync(legacy)).toBe(false);
    for (const w of hooks) expect(diskOutbox(webhookOutboxDir(r, w)).entries().map(([id]) => id)).toEqual(['e1:firing', 'e2:firing']);
    expect(logs).toEqual(['alert outbox: 2 waiting notifications of http://receiver.example:9000/shared moved to the per-webhook layout']);
  });

  it('reports a folder that still holds notifications but belongs to no configured webhook, naming its URL without the token', () => {
    const r = root();
    const removed = { url: URL_A, tenants: ['alpha'] };
    prepareOutboxDirs(r, [removed], () => {});
    diskOutbox(webhookOutboxDir(r, removed)).set('e1:firing', alert('alpha'));
    mkdirSync(join(r, 'empty-one'));
    const logs: string[] = [];
    prepareOutboxDirs(r, [{ url: 'http://other.example/hook' }], (l) => logs.push(l));
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/^alert outbox: 1 notifications in .* \(webhook http:\/\/receiver\.example:9000\/shared for alpha\) belong to no configured webhook and will not be sent/);
    expect(logs[0]).not.toContain('s3cret');
  });

  it("Alertmanager's folder is its own, not an orphan; reported when Alertmanager is no longer configured", () => {
    const r = root();
    const am = { url: 'http://user:pw@alertmanager.example:9093' };
    prepareOutboxDirs(r, [], () => {}, am);
    diskOutbox(alertmanagerOutboxDir(r)).set('k@1', alert('alpha'));
    const logs: string[] = [];
    prepareOutboxDirs(r, [], (l) => logs.push(l), am);
    expect(logs).toEqual([]);
    prepareOutboxDirs(r, [{ url: 'http://other.example/hook' }], (l) => logs.push(l));
    expect(logs).toEqual([
      `alert outbox: 1 alerts in ${alertmanagerOutboxDir(r)} are owed to Alertmanager, which is no longer configured; configure alerts.alertmanager again to send them, or delete the folder`,
    ]);
  });

  it('the note beside the notifications is not read as one', () => {
    const r = root();
    const w = { url: URL_A };
    prepareOutboxDirs(r, [w], () => {});
    writeFileSync(join(webhookOutboxDir(r, w), 'notes.json'), '{}');
    const logs: string[] = [];
    expect(diskOutbox(webhookOutboxDir(r, w), (l) => logs.push(l)).size).toBe(0);
    expect(logs).toEqual([]);
    expect(readdirSync(webhookOutboxDir(r, w)).sort()).toEqual(['notes.json', 'webhook.json']);
  });
});
