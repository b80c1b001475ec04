import { describe, expect, it } from 'vitest';
import { costSnapshotOf, tenantsByRequests } from './cost-snapshot.ts';

describe('costSnapshotOf', () => {
  it('maps each tenant to its fully loaded cost in currency units', () => {
    const snapshot = costSnapshotOf({ tenants: [{ totalCost: 12_345_678n, tenantId: 'acme' }, { totalCost: 0n, tenantId: 'idle' }] }, 'USD');
    expect(snapshot.currency).toBe('USD');
    expect([...snapshot.costs]).toEqual([
      ['acme', 12.345678],
      ['idle', 0],
    ]);
  });
});

describe('tenantsByRequests', () => {
  it('sums requests over hours, instances and models; busiest first, ties by id, idle tenants left out', () => {
    const rows = [
      { tenant_id: 'b', requests: 10n },
      { tenant_id: 'a', requests: 4n },
      { tenant_id: 'a', requests: 6n },
      { tenant_id: 'c', requests: 50n },
      { tenant_id: 'z', requests: 0n },
    ];
    expect(tenantsByRequests(rows)).toEqual(['c', 'a', 'b']);
  });
});
