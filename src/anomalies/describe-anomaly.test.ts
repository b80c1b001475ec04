import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { describeAnomaly, severityOf, type BreakdownRow, type Severity } from './describe-anomaly.ts';

describe('describeAnomaly', () => {
  it.each([
    { expected: 100, actual: 110, absolute: 10, percent: 10, severity: 'low' },
    { expected: 100, actual: 130, absolute: 30, percent: 30, severity: 'medium' },
    { expected: 100, actual: 180, absolute: 80, percent: 80, severity: 'high' },
    { expected: 100, actual: 250, absolute: 150, percent: 150, severity: 'critical' },
    { expected: 100, actual: 40, absolute: -60, percent: -60, severity: 'high' },
    { expected: -50, actual: -25, absolute: 25, percent: 50, severity: 'high' },
    { expected: 0, actual: 3, absolute: 3, percent: null, severity: 'high' },
    { expected: 0, actual: 0, absolute: 0, percent: null, severity: 'low' },
  ] as const)('$expected → $actual: impact $absolute ($percent %), $severity', ({ expected, actual, absolute, percent, severity }) => {
    const d = describeAnomaly({ metric: 'cost_per_hour', expected, actual });
    expect(d.impact).toEqual({ absolute, percent });
    expect(d.severity).toBe(severity);
    expect(d).toMatchObject({ metric: 'cost_per_hour', expected, actual, topContributors: [] });
  });

  it.each([
    [19.99, 'low'],
    [20, 'medium'],
    [49.99, 'medium'],
    [50, 'high'],
    [99.99, 'high'],
    [100, 'critical'],
    [-100, 'critical'],
  ] as const)('severity at %s %% is %s', (percent, severity: Severity) => {
    expect(severityOf(percent, percent)).toBe(severity);
  });

  const rows: BreakdownRow[] = [
    { dimension: 'model', key: 'llama-8b', expected: 40, actual: 90 },
    { dimension: 'model', key: 'resnet', expected: 60, actual: 55 },
    { dimension: 'variant', key: 'fp16', expected: 30, actual: 70 },
    { dimension: 'instance', key: 'gpu-a', expected: 50, actual: 60 },
    { dimension: 'instance', key: 'gpu-b', expected: 50, actual: 85 },
    { dimension: 'variant', key: 'int8', expected: 70, actual: 70 },
  ];

  it.each([
    {
      name: 'a rise: the rows that rose most, largest first',
      expected: 100,
      actual: 145,
      keys: ['model/llama-8b:50', 'variant/fp16:40', 'instance/gpu-b:35'],
    },
    { name: 'a fall: only rows that fell', expected: 200, actual: 100, keys: ['model/resnet:-5'] },
    {
      name: 'no change: any moving row, ties broken by dimension then key',
      expected: 100,
      actual: 100,
      keys: ['model/llama-8b:50', 'variant/fp16:40', 'instance/gpu-b:35'],
    },
  ])('top contributors for $name', ({ expected, actual, keys }) => {
    const d = describeAnomaly({ metric: 'gpu_seconds', expected, actual, breakdown: rows });
    expect(d.topContributors.map((c) => `${c.dimension}/${c.key}:${c.impact}`)).toEqual(keys);
  });

  it('breaks impact ties deterministically', () => {
    const tied: BreakdownRow[] = [
      { dimension: 'variant', key: 'b', expected: 0, actual: 5 },
      { dimension: 'model', key: 'z', expected: 0, actual: 5 },
      { dimension: 'model', key: 'a', expected: 0, actual: 5 },
      { dimension: 'instance', key: 'i', expected: 0, actual: 5 },
    ];
    const d = describeAnomaly({ metric: 'requests_per_hour', expected: 0, actual: 20, breakdown: tied });
    expect(d.topContributors.map((c) => `${c.dimension}/${c.key}`)).toEqual(['instance/i', 'model/a', 'model/z']);
  });

  it.each([
    { expected: Number.NaN, actual: 1 },
    { expected: 1, actual: Number.POSITIVE_INFINITY },
  ])('rejects non-finite numbers ($expected, $actual)', ({ expected, actual }) => {
    expect(() => describeAnomaly({ metric: 'error_rate', expected, actual })).toThrow(AppError);
    expect(() =>
      describeAnomaly({ metric: 'p95_latency', expected: 1, actual: 2, breakdown: [{ dimension: 'model', key: 'm', expected, actual }] }),
    ).toThrow(AppError);
  });
});
