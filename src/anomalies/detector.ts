import { cauchyCombination } from './combine.ts';
import { AnomalyLikelihood } from './likelihood.ts';
import { RollingRange } from './rolling-range.ts';
import { median, RollingWindow } from './rolling-window.ts';
import { scoreOf, tailProbability } from './tail.ts';
import { TimeHistory } from './time-history.ts';

/**
 * Streaming, causal anomaly detector for one metric series. The score of a row uses that row
 * and earlier ones only; all state lives in the closure returned by `createDetector`.
 *
 * Method:
 * 1. Missing data: a non-finite timestamp or value scores 0 and leaves the state untouched.
 * 2. Forecasts of the next value, each from earlier rows only:
 *    - local: median of the last `localRows` values (robust to a lone spike; follows a level
 *      shift after half the window);
 *    - daily / weekly: median of the values at the same time of day 1..`seasons` days ago
 *      (same time of week for weekly), found by timestamp so irregular sampling and gaps work.
 *      A seasonal forecast exists only once at least one past season is there.
 * 3. Model choice: each forecast's absolute errors are kept over the last `selectionRows`
 *    rows; the one with the smallest mean error is used. Seasonality is thus used only where it
 *    actually predicts better, and a level shift that breaks the seasonal forecasts hands over
 *    to the local one (that is how a persistent change stops being anomalous).
 * 4. Evidence channels on the residual r = value − forecast: |r| (spikes, dips); |mean of
 *    the last `shiftRows` residuals| (a short run of moderate, same-signed errors: level shifts
 *    and drifts the point channel misses); and |r| / median |r| of the last `scaleRows` rows
 *    (the error relative to the current noise level: a spike in a calm stretch that is smaller
 *    than the errors of a noisier stretch earlier in the history).
 * 5. Calibration: each channel's value is ranked against its own last `historyRows` values
 *    (empirical tail probability, exponentially extrapolated beyond the window's maximum).
 *    Ranks make scores comparable across series of any scale or noise shape, without assuming
 *    Gaussian errors.
 * 6. Anomaly likelihood (likelihood.ts, after HTM's): each row's point-channel tail probability
 *    gives a bounded surprise u = 1 − p in [0, 1]; the mean of the last `likelihoodRows` u is
 *    ranked against its own last `historyRows` values. A burst of moderately off-pattern rows, a
 *    regime change or a noise burst becomes a fourth channel, though no single row is extreme.
 *    The channel p-values are combined by the Cauchy combination test (combine.ts): valid
 *    whatever the dependence between the channels, Bonferroni-like when one channel is extreme,
 *    and stronger than Bonferroni when several channels agree.
 * 7. Score = s/(s + ln(historyRows + 1)) with s = −ln p: 0.5 means "the largest deviation of
 *    the last `historyRows` rows", → 1 far beyond it. No score before `warmupRows` rows.
 * 8. Episodes: a score no higher than one of the last `quietRows` scores is halved. An
 *    incident is reported once, when it starts, and again only if it gets worse — the
 *    de-duplication an alert pipeline wants, and what NAB rewards (only the first detection in
 *    a window counts, every later one outside it is a false positive).
 *    Small in absolute terms: a residual under `minRangeFraction` of the range (max − min) the
 *    series has shown over the seasonal lookback is halved too. However unusual for its stretch,
 *    a wobble that small next to what the series does anyway is not worth a page (a calm CPU
 *    series at 2 % that blips to 3 % after having run at 90 %).
 * 9. Constant series: the scale floor is relative to the level (1e-9·|level| + 1e-12), so a
 *    flatline that changes at all is extreme, and no division by zero can occur.
 */
export interface DetectorOptions {
  localRows: number;
  seasons: number;
  selectionRows: number;
  shiftRows: number;
  historyRows: number;
  warmupRows: number;
  quietRows: number;
  scaleRows: number;
  /** Rows averaged by the anomaly-likelihood channel (0 turns it off). */
  likelihoodRows: number;
  /** A residual smaller than this fraction of the series' recent range is halved (0 turns it off). */
  minRangeFraction: number;
}

export const DEFAULT_DETECTOR_OPTIONS: Readonly<DetectorOptions> = Object.freeze({
  localRows: 11,
  seasons: 3,
  selectionRows: 288,
  shiftRows: 6,
  historyRows: 1000,
  warmupRows: 24,
  quietRows: 150,
  scaleRows: 150,
  // HTM's own averaging window; not tuned here (8 and 15 were also measured, see the README).
  likelihoodRows: 10,
  // "A tenth of the range" is a round figure, not a tuned one: 0.07 / 0.13 were measured afterwards
  // and move the NAB score by less than one window (see the README).
  minRangeFraction: 0.1,
});

export interface Detector {
  /** Score of this row in [0, 1]; rows must arrive in time order. */
  update(timestampMs: number, value: number): number;
}

const DAY_MS = 86_400_000;
const SEASONS_MS = [DAY_MS, 7 * DAY_MS] as const;
/** A past sample counts as "the same time" if within half an hour of it. */
const SEASON_TOLERANCE_MS = 1_800_000;
const MAX_HISTORY_ROWS = 50_000;
/** Within an open episode, a row that does not escalate it is reported at half its score (so is a small residual). */
const QUIET_FACTOR = 0.5;

interface ForecastModel {
  forecast: number | undefined;
  errors: RollingWindow;
}

export function createDetector(opts: Partial<DetectorOptions> = {}): Detector {
  const o: DetectorOptions = { ...DEFAULT_DETECTOR_OPTIONS, ...opts };
  const recentValues = new RollingWindow(o.localRows);
  const lookbackMs = o.seasons * SEASONS_MS[1] + DAY_MS;
  const history = new TimeHistory(lookbackMs, MAX_HISTORY_ROWS);
  const range = new RollingRange(lookbackMs);
  const models: ForecastModel[] = [0, 1, 2].map(() => ({ forecast: undefined, errors: new RollingWindow(o.selectionRows) }));
  const residuals = new RollingWindow(o.shiftRows);
  const pointChannel = new RollingWindow(o.historyRows);
  const shiftChannel = new RollingWindow(o.historyRows);
  const reference = Math.log(o.historyRows + 1);
  const recentErrors = new RollingWindow(o.scaleRows);
  const relativeChannel = new RollingWindow(o.historyRows);
  const recentScores = new RollingWindow(Math.max(1, o.quietRows));
  const likelihood = o.likelihoodRows > 0 ? new AnomalyLikelihood(o.likelihoodRows, o.historyRows) : undefined;
  let rows = 0;

  return {
    update(timestampMs: number, value: number): number {
      if (!Number.isFinite(timestampMs) || !Number.isFinite(value)) return 0;
      forecastAll(models, recentValues, history, timestampMs, o.seasons);
      const chosen = chooseModel(models);
      let score = 0;
      if (chosen !== undefined) {
        const r = value - chosen;
        residuals.push(r);
        const floor = 1e-9 * Math.abs(recentValues.median()) + 1e-12;
        const point = Math.abs(r);
        const shift = Math.abs(residuals.mean());
        // |r| in units of the recent typical error: a spike in a calm stretch counts even when a
        // noisier stretch earlier in the history had larger absolute errors.
        // (∞/∞ from values near ±1e308 is NaN, which a sorted window cannot hold: count it as 1.)
        const ratio = recentErrors.size ? point / Math.max(recentErrors.median(), floor) : 0;
        const relative = Number.isNaN(ratio) ? 1 : ratio;
        const pPoint = tailProbability(pointChannel, point, floor);
        const ps = [pPoint, tailProbability(shiftChannel, shift, floor), tailProbability(relativeChannel, relative, 1e-12)];
        const pBurst = likelihood?.push(1 - pPoint);
        if (pBurst !== undefined) ps.push(pBurst);
        const p = cauchyCombination(ps);
        if (rows >= o.warmupRows) score = scoreOf(p, reference);
        // The range of earlier rows only: a spike does not widen the yardstick it is measured by.
        if (point < o.minRangeFraction * range.span()) score *= QUIET_FACTOR;
        pointChannel.push(point);
        shiftChannel.push(shift);
        relativeChannel.push(relative);
        recentErrors.push(point);
      }
      for (const m of models) if (m.forecast !== undefined) m.errors.push(Math.abs(value - m.forecast));
      recentValues.push(value);
      history.push(timestampMs, value);
      range.push(timestampMs, value);
      rows++;
      const ongoing = o.quietRows > 0 && recentScores.size > 0 && score <= recentScores.max();
      recentScores.push(score);
      return ongoing ? score * QUIET_FACTOR : score;
    },
  };
}

function forecastAll(models: ForecastModel[], recent: RollingWindow, history: TimeHistory, t: number, seasons: number): void {
  const [local, daily, weekly] = models as [ForecastModel, ForecastModel, ForecastModel];
  local.forecast = recent.size ? recent.median() : undefined;
  daily.forecast = seasonalForecast(history, t, SEASONS_MS[0], seasons);
  weekly.forecast = seasonalForecast(history, t, SEASONS_MS[1], seasons);
}

function seasonalForecast(history: TimeHistory, t: number, periodMs: number, seasons: number): number | undefined {
  const past: number[] = [];
  for (let k = 1; k <= seasons; k++) {
    const v = history.valueNear(t - k * periodMs, SEASON_TOLERANCE_MS);
    if (v !== undefined) past.push(v);
  }
  return past.length ? median(past) : undefined;
}

/**
 * The forecast of the model with the smallest mean recent error. A seasonal model competes only
 * once it has a full selection window of errors, so one lucky day cannot take over.
 */
function chooseModel(models: readonly ForecastModel[]): number | undefined {
  let best: ForecastModel | undefined;
  let bestError = Number.POSITIVE_INFINITY;
  models.forEach((m, i) => {
    if (m.forecast === undefined) return;
    const ready = i === 0 || m.errors.isFull;
    const error = m.errors.size ? m.errors.mean() : Number.POSITIVE_INFINITY;
    if (ready && (best === undefined || error < bestError)) {
      best = m;
      bestError = error;
    }
  });
  return best?.forecast;
}

