/**
 * Combines the channels' p-values into one by the Cauchy combination test (ACAT; Liu & Xie
 * 2020, "Cauchy combination test: a powerful test with analytic p-value calculation under
 * arbitrary dependency structure", JASA 115:393–402).
 *
 * Each p-value becomes a standard Cauchy variate tan((½ − p)π) = cot(pπ); their mean is again
 * standard Cauchy whatever the dependence between the channels (the channels here are built from
 * the same residuals, so they are strongly dependent), which gives an analytic combined p-value.
 * With one strong channel it reduces to Bonferroni (k·min p) in the tail; unlike Bonferroni, two
 * channels that agree reinforce each other instead of being charged for being two.
 *
 * p-values above ½ are taken as ½: a channel without evidence contributes 0 rather than a large
 * negative variate that would cancel another channel's evidence (cot(pπ) → −∞ as p → 1).
 * When no channel is below ½ there is no evidence at all, and the result is 1 (score 0), so a
 * perfectly predicted row stays at 0.
 */
export function cauchyCombination(ps: readonly number[]): number {
  if (ps.length === 0) return 1;
  let sum = 0;
  for (const p of ps) {
    if (!(p < 0.5)) continue; // contributes cot(½π) = 0 (computed, it would be 6e-17)
    // cot(pπ), not tan((½ − p)π): ½ − p rounds to ½ for p below 1e-17, which loses the tail.
    sum += p <= 0 ? Number.POSITIVE_INFINITY : 1 / Math.tan(p * Math.PI);
  }
  const t = sum / ps.length;
  // P(Cauchy ≥ t) = ½ − atan(t)/π = atan(1/t)/π for t > 0, which keeps precision for huge t.
  return t > 0 ? Math.atan(1 / t) / Math.PI : 1;
}
