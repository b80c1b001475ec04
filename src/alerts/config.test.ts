import { describe, expect, it } from 'vitest';
import { unknownWebhookTenantNotes } from './config.ts';

describe('unknownWebhookTenantNotes', () => {
  it('names each webhook tenant nobody knows (a typo sends its alerts nowhere), and nothing else', () => {
    const hooks = [{ tenants: ['acme', 'acmee'] }, {}, { tenants: ['globex'] }];
    expect(unknownWebhookTenantNotes(hooks, new Set(['acme', 'globex']))).toEqual([
      'note: alerts.webhooks[0].tenants names "acmee", a tenant not in the config and holding no key: this webhook gets its alerts only once it exists (a typo?)',
    ]);
    expect(unknownWebhookTenantNotes(hooks, new Set(['acme', 'acmee', 'globex']))).toEqual([]);
  });
});
