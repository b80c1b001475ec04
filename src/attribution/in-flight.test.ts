import { describe, expect, it } from 'vitest';
import { PiecesInFlight, piecesInFlightOf } from './in-flight.ts';

describe('PiecesInFlight', () => {
  it('lets the first claim price a key and the later ones wait for its value', async () => {
    const flight = new PiecesInFlight<string>();
    const first = flight.claim(['a', 'b']);
    expect([...first.theirs.keys()]).toEqual([]);
    const second = flight.claim(['b', 'c']);
    expect([...second.theirs.keys()]).toEqual(['b']);
    first.settle('b', 'value of b');
    expect(await second.theirs.get('b')).toBe('value of b');
    // Settled keys are free again: a later claim prices them (they are in the cache by then).
    expect([...flight.claim(['b']).theirs.keys()]).toEqual([]);
  });

  it('hands back undefined for what a claim leaves unsettled, so those waiting price it themselves', async () => {
    const flight = new PiecesInFlight<string>();
    const failing = flight.claim(['x', 'y']);
    const waiting = flight.claim(['x', 'y']);
    failing.settle('x', 'done');
    failing.release();
    expect(await waiting.theirs.get('x')).toBe('done');
    expect(await waiting.theirs.get('y')).toBeUndefined();
    expect(flight.size()).toBe(0);
    // Settling after the release does nothing (and throws nothing).
    failing.settle('y', 'late');
    expect(flight.size()).toBe(0);
  });

  it('claims a key listed twice once', () => {
    const flight = new PiecesInFlight<number>();
    const claim = flight.claim(['k', 'k']);
    expect(claim.theirs.size).toBe(0);
    expect(flight.size()).toBe(1);
    claim.release();
    expect(flight.size()).toBe(0);
  });

  it('keeps one registry per owner', () => {
    const cacheA = {};
    const cacheB = {};
    expect(piecesInFlightOf(cacheA)).toBe(piecesInFlightOf(cacheA));
    expect(piecesInFlightOf(cacheA)).not.toBe(piecesInFlightOf(cacheB));
  });
});
