export { createDetector, DEFAULT_DETECTOR_OPTIONS, type Detector, type DetectorOptions } from './detector.ts';
export { parseTimestamp } from './parse-timestamp.ts';
export { formatScore } from './format-score.ts';
export {
  describeAnomaly,
  severityOf,
  type AnomalyDescription,
  type AnomalyInput,
  type AnomalyMetric,
  type BreakdownRow,
  type Contributor,
  type ContributorDimension,
  type Severity,
} from './describe-anomaly.ts';
