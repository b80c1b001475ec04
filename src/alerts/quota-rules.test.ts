import { describe, expect, it } from 'vitest';
import type { QuotaStatus } from '../quotas/types.ts';
import { alertKey } from './lifecycle.ts';
import { compactPeaks, evaluateQuotaAlerts, QUOTA_ALERT_NAME } from './quota-rules.ts';
import type { Alert, AlertState } from './types.ts';

const T0 = Date.UTC(2025, 0, 15, 10, 0, 0);
const NOW = T0 + 60_000;
const WINDOW = Date.UTC(2025, 0, 15);
const NEXT_WINDOW = Date.UTC(2025, 0, 16);
const OPTS = { thresholds: [0.8, 1], hysteresis: 0.05, now: NOW };

function status(ratio: number, windowStart: number | undefined = WINDOW, tenantId = 'acme'): QuotaStatus {
  return { tenantId, kind: 'tokens_per_day', limit: 1000, used: Math.round(ratio * 1000), ratio, windowStart, resetAt: windowStart && windowStart + 86_400_000 };
}

/** An episode as the evaluator would have left it at T0. */
function episode(threshold: number, state: AlertState, opts: { windowStart?: number; startsAt?: number; tenantId?: string } = {}): Alert {
  const labels = { quota: 'tokens_per_day', threshold: String(threshold) };
  const tenantId = opts.tenantId ?? 'acme';
  return {
    key: alertKey('quota', tenantId, QUOTA_ALERT_NAME, labels),
    kind: 'quota',
    tenantId,
    name: QUOTA_ALERT_NAME,
    severity: threshold >= 1 ? 'critical' : 'warning',
    state,
    labels,
    annotations: { window_start: new Date(opts.windowStart ?? WINDOW).toISOString() },
    value: threshold,
    startsAt: opts.startsAt ?? T0,
    endsAt: state === 'resolved' ? T0 + 1 : undefined,
    updatedAt: T0,
  };
}

const summary = (r: ReturnType<typeof evaluateQuotaAlerts>) => ({
  transitions: r.transitions.map((t) => `${t.tenantId}/${t.severity}/${t.from ?? 'none'}->${t.to}`),
  open: r.alerts.filter((a) => a.state !== 'resolved').map((a) => `${a.labels.threshold}:${a.state}`),
});

describe('evaluateQuotaAlerts: transitions', () => {
  it.each([
    { name: 'below every threshold: nothing', prev: [], ratio: 0.5, transitions: [], open: [] },
    { name: 'crosses 80%: fires a warning straight away (no pending)', prev: [], ratio: 0.85, transitions: ['acme/warning/none->firing'], open: ['0.8:firing'] },
    { name: 'exactly at the threshold fires', prev: [], ratio: 0.8, transitions: ['acme/warning/none->firing'], open: ['0.8:firing'] },
    {
      name: 'jumps past both: one alert per threshold, critical at 100%',
      prev: [],
      ratio: 1.2,
      transitions: ['acme/warning/none->firing', 'acme/critical/none->firing'],
      open: ['0.8:firing', '1:firing'],
    },
    { name: 'stays above: the same episode, no new alert', prev: [episode(0.8, 'firing')], ratio: 0.95, transitions: [], open: ['0.8:firing'] },
    { name: 'inside the hysteresis band (≥ 0.76): keeps firing', prev: [episode(0.8, 'firing')], ratio: 0.77, transitions: [], open: ['0.8:firing'] },
    { name: 'below threshold × (1 − hysteresis): resolves', prev: [episode(0.8, 'firing')], ratio: 0.75, transitions: ['acme/warning/firing->resolved'], open: [] },
    {
      name: '100% crossed while 80% fires: only the new threshold fires',
      prev: [episode(0.8, 'firing')],
      ratio: 1,
      transitions: ['acme/critical/none->firing'],
      open: ['0.8:firing', '1:firing'],
    },
    {
      name: 'drop from 100% to 90%: the critical alert resolves, the warning stays',
      prev: [episode(0.8, 'firing'), episode(1, 'firing')],
      ratio: 0.9,
      transitions: ['acme/critical/firing->resolved'],
      open: ['0.8:firing'],
    },
    {
      name: 'after a resolve, a new crossing is a new episode',
      prev: [episode(0.8, 'resolved')],
      ratio: 0.85,
      transitions: ['acme/warning/none->firing'],
      open: ['0.8:firing'],
    },
  ])('$name', ({ prev, ratio, transitions, open }) => {
    expect(summary(evaluateQuotaAlerts(prev, [status(ratio)], OPTS))).toEqual({ transitions, open });
  });
});

describe('evaluateQuotaAlerts: window reset', () => {
  it('resolves every open episode of the old window', () => {
    const r = evaluateQuotaAlerts([episode(0.8, 'firing'), episode(1, 'firing')], [status(0.01, NEXT_WINDOW)], OPTS);
    expect(summary(r)).toEqual({ transitions: ['acme/warning/firing->resolved', 'acme/critical/firing->resolved'], open: [] });
    expect(r.alerts.map((a) => a.annotations.resolved_reason)).toEqual(['window_reset', 'window_reset']);
  });

  it('a new window already over the threshold ends the old episode and starts a new one', () => {
    const r = evaluateQuotaAlerts([episode(0.8, 'firing')], [status(0.9, NEXT_WINDOW)], OPTS);
    expect(summary(r).transitions).toEqual(['acme/warning/firing->resolved', 'acme/warning/none->firing']);
    const [old, fresh] = r.alerts;
    expect(old).toMatchObject({ state: 'resolved', startsAt: T0, endsAt: NOW });
    expect(fresh).toMatchObject({ state: 'firing', startsAt: NOW, key: old!.key });
  });

  it('quotas without a window (concurrency) resolve by usage only', () => {
    const r = evaluateQuotaAlerts([episode(0.8, 'firing')], [status(0.9, undefined)], OPTS);
    expect(summary(r)).toEqual({ transitions: [], open: ['0.8:firing'] });
  });
});

describe('evaluateQuotaAlerts: missing information', () => {
  it('a non-finite ratio leaves the episode untouched', () => {
    const prev = [episode(0.8, 'firing')];
    const r = evaluateQuotaAlerts(prev, [status(Number.NaN)], OPTS);
    expect(r.transitions).toEqual([]);
    expect(r.alerts).toEqual(prev);
  });

  it.each([
    ['stale and low: keeps firing (no evidence usage fell)', [episode(0.8, 'firing')], 0, WINDOW, [], ['0.8:firing']],
    ['stale and high: fires on the last known usage', [], 0.9, WINDOW, ['acme/warning/none->firing'], ['0.8:firing']],
    ['stale in a new window: still resets', [episode(0.8, 'firing')], 0, NEXT_WINDOW, ['acme/warning/firing->resolved'], []],
  ])('%s', (_name, prev, ratio, windowStart, transitions, open) => {
    const r = evaluateQuotaAlerts(prev, [{ ...status(ratio, windowStart), stale: true }], OPTS);
    expect(summary(r)).toEqual({ transitions, open });
    if (ratio === 0 && windowStart === WINDOW) expect(r.alerts).toEqual(prev);
  });

  it('a quota no longer reported for an evaluated tenant resolves (quota_removed)', () => {
    const r = evaluateQuotaAlerts([episode(0.8, 'firing')], [], { ...OPTS, tenants: new Set(['acme']) });
    expect(summary(r).transitions).toEqual(['acme/warning/firing->resolved']);
    expect(r.alerts[0]!.annotations.resolved_reason).toBe('quota_removed');
  });

  it('a threshold removed from the config resolves its alerts', () => {
    const r = evaluateQuotaAlerts([episode(0.8, 'firing')], [status(0.9)], { ...OPTS, thresholds: [1] });
    expect(summary(r).transitions).toEqual(['acme/warning/firing->resolved']);
  });

  it('alerts of a tenant whose status could not be read stay as they are', () => {
    const other = episode(0.8, 'firing', { tenantId: 'globex' });
    const r = evaluateQuotaAlerts([other], [status(0.1)], OPTS);
    expect(r.transitions).toEqual([]);
    expect(r.alerts).toContainEqual(other);
  });
});

describe('evaluateQuotaAlerts: re-running', () => {
  it('the same state twice yields no transition and nothing to save', () => {
    const first = evaluateQuotaAlerts([], [status(0.85)], OPTS);
    const second = evaluateQuotaAlerts(first.alerts, [status(0.85)], { ...OPTS, now: NOW + 15_000 });
    expect(second.transitions).toEqual([]);
    expect(second.alerts).toEqual(first.alerts);
  });

  it('keys are deterministic and differ per tenant, quota and threshold', () => {
    const a = evaluateQuotaAlerts([], [status(1)], OPTS).alerts.map((x) => x.key);
    const b = evaluateQuotaAlerts([], [status(1)], { ...OPTS, now: NOW + 1 }).alerts.map((x) => x.key);
    const c = evaluateQuotaAlerts([], [status(1, WINDOW, 'globex')], OPTS).alerts.map((x) => x.key);
    expect(a).toEqual(b);
    expect(new Set([...a, ...c]).size).toBe(4);
    expect(a[0]).toMatch(/^[0-9a-f]{64}$/);
  });

  it('usage changes update the open episode (value, annotations) without a transition', () => {
    const first = evaluateQuotaAlerts([], [status(0.85)], OPTS);
    const r = evaluateQuotaAlerts(first.alerts, [status(0.9)], { ...OPTS, now: NOW + 15_000 });
    expect(r.transitions).toEqual([]);
    expect(r.alerts[0]).toMatchObject({ value: 0.9, startsAt: NOW, updatedAt: NOW + 15_000, state: 'firing' });
    expect(r.alerts[0]!.annotations.summary).toBe('Tenant acme reached 90% of its tokens_per_day quota (threshold 80%)');
  });
});

describe('evaluateQuotaAlerts: peaks between evaluations', () => {
  const peak = (ratio: number, windowStart: number | undefined = WINDOW) => status(ratio, windowStart);

  it('a current peak above the usage now fires, and keeps the episode open until usage falls between two evaluations', () => {
    const r = evaluateQuotaAlerts([], [status(0.5)], { ...OPTS, peaks: [peak(0.9)] });
    expect(summary(r)).toEqual({ transitions: ['acme/warning/none->firing'], open: ['0.8:firing'] });
    expect(r.alerts[0]).toMatchObject({ value: 0.9, annotations: { used: '900' } });
    // Next evaluation: no new peak, usage still 50%: now it resolves.
    const next = evaluateQuotaAlerts(r.alerts, [status(0.5)], { ...OPTS, now: NOW + 15_000 });
    expect(summary(next)).toEqual({ transitions: ['acme/warning/firing->resolved'], open: [] });
  });

  it('a peak lower than the usage now changes nothing', () => {
    expect(summary(evaluateQuotaAlerts([], [status(0.85)], { ...OPTS, peaks: [peak(0.5)] }))).toEqual({
      transitions: ['acme/warning/none->firing'],
      open: ['0.8:firing'],
    });
  });

  it('a window that ended over the threshold fires once, from its peak, and resets at the next evaluation', () => {
    const first = evaluateQuotaAlerts([], [status(0.1, NEXT_WINDOW)], { ...OPTS, now: NEXT_WINDOW + 5_000, peaks: [peak(1)] });
    expect(summary(first)).toEqual({ transitions: ['acme/warning/none->firing', 'acme/critical/none->firing'], open: ['0.8:firing', '1:firing'] });
    expect(first.alerts[0]!.annotations).toMatchObject({ window_start: new Date(WINDOW).toISOString(), used: '1000' });
    const second = evaluateQuotaAlerts(first.alerts, [status(0.1, NEXT_WINDOW)], { ...OPTS, now: NEXT_WINDOW + 20_000 });
    expect(summary(second)).toEqual({ transitions: ['acme/warning/firing->resolved', 'acme/critical/firing->resolved'], open: [] });
    expect(second.alerts.map((a) => a.annotations.resolved_reason)).toEqual(['window_reset', 'window_reset']);
  });

  it('an episode already open in the ended window takes its peak and resets now; only the new threshold fires', () => {
    const r = evaluateQuotaAlerts([episode(0.8, 'firing')], [status(0.1, NEXT_WINDOW)], { ...OPTS, now: NEXT_WINDOW + 5_000, peaks: [peak(1)] });
    expect(summary(r)).toEqual({ transitions: ['acme/critical/none->firing', 'acme/warning/firing->resolved'], open: ['1:firing'] });
    expect(r.alerts[0]).toMatchObject({ value: 1, annotations: { resolved_reason: 'window_reset' } });
  });

  it('a concurrency burst (no window) fires from its peak', () => {
    const r = evaluateQuotaAlerts([], [status(0, undefined)], { ...OPTS, peaks: [peak(1, undefined)] });
    expect(summary(r).open).toEqual(['0.8:firing', '1:firing']);
  });

  it('a peak of a quota no longer reported, in a window still running, is ignored', () => {
    const r = evaluateQuotaAlerts([], [], { ...OPTS, peaks: [peak(1, NEXT_WINDOW)] });
    expect(r.transitions).toEqual([]);
  });
});

describe('compactPeaks', () => {
  it('keeps, per tenant × quota, the highest ended window and the highest of each running one', () => {
    const now = NEXT_WINDOW + 1;
    const kept = compactPeaks(
      [status(0.5, WINDOW - 86_400_000), status(0.9, WINDOW), status(0.7, WINDOW), status(0.3, NEXT_WINDOW), status(0.6, NEXT_WINDOW), status(0.4, NEXT_WINDOW, 'globex')],
      now,
    );
    expect(kept.map((p) => [p.tenantId, p.windowStart, p.ratio])).toEqual([
      ['acme', WINDOW, 0.9],
      ['acme', NEXT_WINDOW, 0.6],
      ['globex', NEXT_WINDOW, 0.4],
    ]);
  });
});
