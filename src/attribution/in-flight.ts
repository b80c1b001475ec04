/**
 * Pieces (days, hours) being priced in this process, so that calls running at the same time price
 * each once: the cost gauge, the API and a dashboard asking for the same cold month would
 * otherwise each read and price every day of it, several times the CPU and, at 100M requests a
 * month, several times a heap that one month already fills.
 *
 * A call claims, in one synchronous step, every key no other call holds, and waits for the keys
 * others hold. Waits therefore only ever go from a later claim to an earlier one: no cycle, no
 * deadlock. A claim that ends without a value (an error) hands back `undefined`, and whoever
 * waited prices the piece itself.
 */
export class PiecesInFlight<T> {
  private readonly pending = new Map<string, Promise<T | undefined>>();

  /** Claims the free keys; `theirs` are the ones another call is pricing, with its promise. */
  claim(keys: readonly string[]): Claim<T> {
    const settlers = new Map<string, (value: T | undefined) => void>();
    const theirs = new Map<string, Promise<T | undefined>>();
    for (const key of keys) {
      if (settlers.has(key)) continue; // listed twice: claimed once (waiting on itself would never end)
      const other = this.pending.get(key);
      if (other) {
        theirs.set(key, other);
        continue;
      }
      let resolve!: (value: T | undefined) => void;
      const promise = new Promise<T | undefined>((r) => (resolve = r));
      this.pending.set(key, promise);
      settlers.set(key, (value) => {
        if (this.pending.get(key) === promise) this.pending.delete(key);
        settlers.delete(key);
        resolve(value);
      });
    }
    return {
      theirs,
      settle: (key, value) => settlers.get(key)?.(value),
      release: () => {
        for (const settle of [...settlers.values()]) settle(undefined);
      },
    };
  }

  /** Keys claimed and not yet settled (for tests). */
  size(): number {
    return this.pending.size;
  }
}

export interface Claim<T> {
  /** Keys another call holds, with what it will hand over (`undefined` if it fails). */
  theirs: ReadonlyMap<string, Promise<T | undefined>>;
  /** Hands a claimed key's value to those waiting for it (once; later calls do nothing). */
  settle(key: string, value: T): void;
  /** Ends the claim: keys not settled are handed back as `undefined`. Call it in a `finally`. */
  release(): void;
}

const registries = new WeakMap<object, PiecesInFlight<unknown>>();

/** The registry shared by every call that uses `owner` (a day cache): one per cache, so values of one type. */
export function piecesInFlightOf<T>(owner: object): PiecesInFlight<T> {
  let registry = registries.get(owner);
  if (!registry) registries.set(owner, (registry = new PiecesInFlight<unknown>()));
  return registry as PiecesInFlight<T>;
}
