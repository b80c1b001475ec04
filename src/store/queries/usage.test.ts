import { describe, expect, it } from 'vitest';
import { usageByGroupQuery, usageSeriesQuery } from './usage.ts';

describe('usage query builders', () => {
  it.each([
    ['model', 'model AS key'],
    ['variant', 'model_variant AS key'],
    ['instance', 'instance_id AS key'],
  ] as const)('groups by %s through a fixed column, never input text', (group, fragment) => {
    const q = usageByGroupQuery("t'; DROP TABLE requests --", { from: 1, to: 2 }, group);
    expect(q.query).toContain(fragment);
    expect(q.query).not.toContain('DROP');
    expect(q.params).toEqual({ tenant: "t'; DROP TABLE requests --", from: 1, to: 2 });
  });

  it('bounds every read by tenant and [from, to) and dedupes with FINAL', () => {
    for (const q of [usageByGroupQuery('a', { from: 1, to: 2 }, 'model'), usageSeriesQuery('a', { from: 1, to: 2 }, 60)]) {
      expect(q.query).toContain('FROM requests FINAL');
      expect(q.query).toContain('tenant_id = {tenant:String}');
      expect(q.query).toContain('ts >= fromUnixTimestamp64Milli({from:Int64})');
      expect(q.query).toContain('ts < fromUnixTimestamp64Milli({to:Int64})');
    }
  });
});
