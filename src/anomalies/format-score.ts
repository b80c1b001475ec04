/** Scores are written with at most 6 decimals and no trailing zeros ('0.5', '0.123457', '0'). */
export function formatScore(score: number): string {
  return String(Number(score.toFixed(6)));
}
