import { RollingWindow } from './rolling-window.ts';

/**
 * Anomaly likelihood, after the post-processing stage of Numenta's HTM detector (Ahmad et al.,
 * "Unsupervised real-time anomaly detection for streaming data", Neurocomputing 2017): a burst of
 * moderately unpredictable rows — a regime change, a noise burst, a run of off-pattern values no
 * one of which is extreme — is evidence on its own, which a per-row score cannot see.
 *
 * `push(u)` takes a row's bounded surprise u in [0, 1] (1 − its tail probability) and returns the
 * tail probability of the mean of the last `rows` values of u against the last `historyRows` such
 * means, or undefined until `MIN_MEANS` means exist. Within the range of means seen the tail is
 * empirical, like every other channel of the detector; beyond the largest one it decays like a
 * Gaussian tail from that maximum (using the means' mean and standard deviation), so a burst far
 * beyond anything seen keeps getting more surprising without the overconfidence of a pure
 * Gaussian fit inside the range (HTM's own choice, which turns every slow rise into an alarm).
 */
export class AnomalyLikelihood {
  private readonly recent: RollingWindow;
  private readonly means: RollingWindow;
  /** The means in arrival order, for a running sum and sum of squares. */
  private readonly ring: number[] = [];
  private next = 0;
  private sum = 0;
  private sumSq = 0;

  constructor(
    rows: number,
    private readonly historyRows: number,
  ) {
    this.recent = new RollingWindow(rows);
    this.means = new RollingWindow(historyRows);
  }

  push(u: number): number | undefined {
    this.recent.push(u);
    if (!this.recent.isFull) return undefined;
    const m = this.recent.mean();
    const p = this.tail(m);
    this.remember(m);
    return p;
  }

  private tail(m: number): number | undefined {
    const n = this.ring.length;
    if (n < MIN_MEANS) return undefined;
    const max = this.means.max();
    if (m <= max) return (this.means.countAtLeast(m) + 1) / (n + 1);
    const mu = this.sum / n;
    const sd = Math.max(Math.sqrt(Math.max(0, this.sumSq / n - mu * mu)), MIN_SD);
    return Math.exp(logGaussianTail((m - mu) / sd) - logGaussianTail((max - mu) / sd)) / (n + 1);
  }

  private remember(m: number): void {
    this.means.push(m);
    if (this.ring.length < this.historyRows) {
      this.ring.push(m);
    } else {
      const old = this.ring[this.next] as number;
      this.ring[this.next] = m;
      this.next = (this.next + 1) % this.historyRows;
      this.sum -= old;
      this.sumSq -= old * old;
    }
    this.sum += m;
    this.sumSq += m * m;
  }
}

/** Means needed before the stage says anything: fewer give an unstable rank and spread. */
const MIN_MEANS = 100;
/** Surprises live in [0, 1]; a spread below this is "constant" and must not divide by ~0. */
const MIN_SD = 1e-3;

/**
 * ln P(Z ≥ z) for a standard normal Z: the erfc approximation of Numerical Recipes (relative
 * error < 1.2e-7) and, far in the tail, the asymptotic series φ(z)/z·(1 − z⁻² + 3z⁻⁴ − 15z⁻⁶),
 * so the log stays finite where the probability itself underflows.
 */
export function logGaussianTail(z: number): number {
  if (z >= 8) {
    const w = 1 / (z * z);
    return -0.5 * z * z - Math.log(z * Math.sqrt(2 * Math.PI)) + Math.log1p(w * (-1 + w * (3 - 15 * w)));
  }
  if (z < 0) return Math.log1p(-Math.exp(logGaussianTail(-z)));
  const x = z / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const poly =
    -1.26551223 +
    t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return Math.log(t) - x * x + poly - Math.LN2;
}
