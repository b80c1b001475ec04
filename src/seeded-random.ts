/**
 * Seeded PRNG (mulberry32): uniform numbers in [0, 1), the same sequence on every run, machine
 * and JS engine (integer operations only). For reproducible models, benchmarks and test data;
 * never for secrets.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
