import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { byWeightDescending, OTHER_TENANT, TenantLabeler } from './tenant-labeler.ts';

describe('TenantLabeler', () => {
  it('keeps the first N tenants seen and folds the rest into "other"', () => {
    const l = new TenantLabeler(2);
    expect(['a', 'b', 'c', 'a', 'd', 'b'].map((t) => l.label(t))).toEqual(['a', 'b', 'other', 'a', 'other', 'b']);
    expect(l.keptTenants()).toEqual(['a', 'b']);
  });

  it('is sticky: a kept tenant never loses its label, a folded one never gains one while slots are full', () => {
    const l = new TenantLabeler(1);
    l.label('first');
    for (let i = 0; i < 100; i++) l.label('busy');
    expect(l.label('first')).toBe('first');
    expect(l.label('busy')).toBe(OTHER_TENANT);
  });

  it('rank() offers free slots busiest first and never evicts', () => {
    const l = new TenantLabeler(3);
    l.label('early');
    l.rank(['big', 'mid', 'small', 'tiny']);
    expect(l.keptTenants()).toEqual(['early', 'big', 'mid']);
    l.rank(['huge']);
    expect(l.label('huge')).toBe(OTHER_TENANT);
    expect(l.label('early')).toBe('early');
  });

  it('never gives a tenant named "other" a slot of its own', () => {
    const l = new TenantLabeler(5);
    expect(l.label('other')).toBe(OTHER_TENANT);
    expect(l.keptTenants()).toEqual([]);
  });

  it('N = 0 labels everyone "other"', () => {
    const l = new TenantLabeler(0);
    expect(l.label('a')).toBe(OTHER_TENANT);
    expect(l.has('a')).toBe(false);
  });

  it('rejects a negative or fractional N', () => {
    expect(() => new TenantLabeler(-1)).toThrow(RangeError);
    expect(() => new TenantLabeler(1.5)).toThrow(RangeError);
  });

  it('property: at most N + 1 distinct labels, deterministic for a given sequence, kept tenants keep their own name', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'other'), { maxLength: 60 }), fc.nat({ max: 7 }), (seq, n) => {
        const one = new TenantLabeler(n);
        const two = new TenantLabeler(n);
        const labels = seq.map((t) => one.label(t));
        expect(seq.map((t) => two.label(t))).toEqual(labels);
        expect(new Set(labels).size).toBeLessThanOrEqual(n + 1);
        labels.forEach((label, i) => expect(label === seq[i] || label === OTHER_TENANT).toBe(true));
        // Once labelled as itself, always itself.
        const firstOwn = new Map<string, number>();
        labels.forEach((label, i) => {
          if (label !== OTHER_TENANT && !firstOwn.has(label)) firstOwn.set(label, i);
        });
        for (const [t, i] of firstOwn) for (let j = i; j < seq.length; j++) if (seq[j] === t) expect(labels[j]).toBe(t);
      }),
    );
  });
});

describe('byWeightDescending', () => {
  it('orders heaviest first, ties by tenant id', () => {
    expect(byWeightDescending(new Map([['b', 5], ['a', 5], ['c', 9], ['d', 1]]))).toEqual(['c', 'a', 'b', 'd']);
    expect(byWeightDescending(new Map([['x', 10n], ['y', 20n]]))).toEqual(['y', 'x']);
  });
});
