import { describe, expect, it } from 'vitest';
import { ANOMALY_ALERT_NAME, evaluateAnomalyAlerts } from './anomaly-rules.ts';
import { alertKey } from './lifecycle.ts';
import type { Alert, AlertState, AnomalyFinding } from './types.ts';

const T0 = Date.UTC(2025, 0, 15, 10, 0, 0);
const FOR_S = 300;

function finding(at: number, over: Partial<AnomalyFinding> = {}): AnomalyFinding {
  return {
    tenantId: 'acme',
    metric: 'cost_per_hour',
    at,
    score: 0.97,
    expected: 10,
    actual: 25,
    impact: { absolute: 15, percent: 150 },
    severity: 'warning',
    topContributors: [{ dimension: 'model', key: 'classifier-large', expected: 6, actual: 20, impact: 14 }],
    ...over,
  };
}

function episode(state: AlertState, startsAt = T0, endsAt?: number): Alert {
  const labels = { metric: 'cost_per_hour' };
  return {
    key: alertKey('anomaly', 'acme', ANOMALY_ALERT_NAME, labels),
    kind: 'anomaly',
    tenantId: 'acme',
    name: ANOMALY_ALERT_NAME,
    severity: 'warning',
    state,
    labels,
    annotations: {},
    value: 25,
    startsAt,
    endsAt,
    updatedAt: startsAt,
  };
}

const transitions = (r: ReturnType<typeof evaluateAnomalyAlerts>) => r.transitions.map((t) => `${t.from ?? 'none'}->${t.to}`);

describe('evaluateAnomalyAlerts: transitions', () => {
  it.each([
    { name: 'no finding, no alert', prev: [], findings: [], now: T0, forSeconds: FOR_S, expected: [] },
    { name: 'new finding: pending while shorter than forSeconds', prev: [], findings: [finding(T0)], now: T0 + 10_000, forSeconds: FOR_S, expected: ['none->pending'] },
    { name: 'new finding with forSeconds 0: fires at once', prev: [], findings: [finding(T0)], now: T0, forSeconds: 0, expected: ['none->firing'] },
    {
      name: "a finding an hour old when first seen (an hour's score): pending, forSeconds counts from detection",
      prev: [],
      findings: [finding(T0)],
      now: T0 + 3_600_000 + 5_000,
      forSeconds: FOR_S,
      expected: ['none->pending'],
    },
    { name: 'pending, still short of forSeconds: stays pending', prev: [episode('pending')], findings: [finding(T0 + 60_000)], now: T0 + 60_000, forSeconds: FOR_S, expected: [] },
    {
      name: 'pending, held forSeconds: fires',
      prev: [episode('pending')],
      findings: [finding(T0 + FOR_S * 1000)],
      now: T0 + FOR_S * 1000,
      forSeconds: FOR_S,
      expected: ['pending->firing'],
    },
    {
      name: 'pending, held forSeconds by the cron ticks though the clock was read a few ms later at detection: fires on time',
      prev: [{ ...episode('pending'), annotations: { detected_at: new Date(T0 + 6).toISOString() } }],
      findings: [finding(T0 + FOR_S * 1000 + 2)],
      now: T0 + FOR_S * 1000 + 2,
      forSeconds: FOR_S,
      expected: ['pending->firing'],
    },
    {
      name: 'pending, a tick short of forSeconds: stays pending',
      prev: [{ ...episode('pending'), annotations: { detected_at: new Date(T0 + 6).toISOString() } }],
      findings: [finding(T0 + FOR_S * 1000 - 1000)],
      now: T0 + FOR_S * 1000 - 1000 + 2,
      forSeconds: FOR_S,
      expected: [],
    },
    { name: 'pending, condition gone: resolves without firing', prev: [episode('pending')], findings: [], now: T0 + 60_000, forSeconds: FOR_S, expected: ['pending->resolved'] },
    { name: 'firing, still anomalous: keeps firing', prev: [episode('firing')], findings: [finding(T0 + 900_000)], now: T0 + 900_000, forSeconds: FOR_S, expected: [] },
    { name: 'firing, no longer anomalous: resolves', prev: [episode('firing')], findings: [], now: T0 + 900_000, forSeconds: FOR_S, expected: ['firing->resolved'] },
    {
      name: 'resolved, anomalous again: a new episode',
      prev: [episode('resolved', T0, T0 + 600_000)],
      findings: [finding(T0 + 700_000)],
      now: T0 + 700_000,
      forSeconds: 0,
      expected: ['none->firing'],
    },
  ])('$name', ({ prev, findings, now, forSeconds, expected }) => {
    expect(transitions(evaluateAnomalyAlerts(prev, findings, { forSeconds, now }))).toEqual(expected);
  });
});

describe('evaluateAnomalyAlerts: anomaly_for_s counts from detection', () => {
  it("an hour's finding first seen after the hour fires forSeconds later, and startsAt stays the hour", () => {
    const detected = T0 + 3_600_000 + 5_000;
    const first = evaluateAnomalyAlerts([], [finding(T0)], { forSeconds: FOR_S, now: detected });
    expect(first.alerts[0]).toMatchObject({ state: 'pending', startsAt: T0, annotations: { detected_at: new Date(detected).toISOString() } });
    // An evaluation one cron tick (a second) before forSeconds is up: still pending.
    const early = evaluateAnomalyAlerts(first.alerts, [finding(T0)], { forSeconds: FOR_S, now: detected + FOR_S * 1000 - 1001 });
    expect(transitions(early)).toEqual([]);
    const held = evaluateAnomalyAlerts(early.alerts, [finding(T0)], { forSeconds: FOR_S, now: detected + FOR_S * 1000 });
    expect(transitions(held)).toEqual(['pending->firing']);
    expect(held.alerts[0]!.annotations.detected_at).toBe(new Date(detected).toISOString());
  });

  it('a finding gone before forSeconds passed never fires', () => {
    const first = evaluateAnomalyAlerts([], [finding(T0)], { forSeconds: FOR_S, now: T0 + 3_700_000 });
    expect(transitions(evaluateAnomalyAlerts(first.alerts, [], { forSeconds: FOR_S, now: T0 + 3_800_000 }))).toEqual(['pending->resolved']);
  });
});

describe('evaluateAnomalyAlerts: episodes and annotations', () => {
  it('carries expected, actual, impact and contributors as annotations', () => {
    const [alert] = evaluateAnomalyAlerts([], [finding(T0)], { forSeconds: 0, now: T0 }).alerts;
    expect(alert).toMatchObject({ state: 'firing', value: 25, severity: 'warning', labels: { metric: 'cost_per_hour' }, startsAt: T0 });
    expect(alert!.annotations).toMatchObject({ expected: '10', actual: '25', impact_absolute: '15', impact_percent: '150', score: '0.97' });
    expect(JSON.parse(alert!.annotations.top_contributors!)).toEqual(finding(T0).topContributors);
    expect(alert!.annotations.summary).toBe('cost_per_hour of tenant acme is 25, expected 10 (+150%)');
  });

  it.each([
    ['low', 'info'],
    ['medium', 'warning'],
    ['high', 'warning'],
    ['critical', 'critical'],
    ['info', 'info'],
    ['warning', 'warning'],
  ] as const)('describer severity %s → alert severity %s (original kept)', (given, expected) => {
    const [alert] = evaluateAnomalyAlerts([], [finding(T0, { severity: given })], { forSeconds: 0, now: T0 }).alerts;
    expect([alert!.severity, alert!.annotations.anomaly_severity]).toEqual([expected, given]);
  });

  it('no percentage when nothing was expected', () => {
    const [alert] = evaluateAnomalyAlerts([], [finding(T0, { expected: 0, actual: 5, impact: { absolute: 5, percent: null } })], { forSeconds: 0, now: T0 }).alerts;
    expect(alert!.annotations.summary).toBe('cost_per_hour of tenant acme is 5, expected 0');
    expect(alert!.annotations.impact_percent).toBe('');
  });

  it('a new episode never starts before the previous one ended (distinct episode ids)', () => {
    const prev = [episode('resolved', T0, T0 + 600_000)];
    const [, fresh] = evaluateAnomalyAlerts(prev, [finding(T0)], { forSeconds: 0, now: T0 + 700_000 }).alerts;
    expect(fresh).toMatchObject({ state: 'firing', startsAt: T0 + 600_000 });
  });

  it('the latest of several findings for one tenant × metric counts; other metrics are separate alerts', () => {
    const r = evaluateAnomalyAlerts(
      [],
      [finding(T0 + 2, { actual: 40 }), finding(T0 + 1, { actual: 30 }), finding(T0, { metric: 'error_rate', actual: 0.2 })],
      { forSeconds: 0, now: T0 + 10 },
    );
    expect(r.alerts.map((a) => [a.labels.metric, a.value, a.startsAt])).toEqual([
      ['cost_per_hour', 40, T0 + 2],
      ['error_rate', 0.2, T0],
    ]);
  });

  it('severity and value follow the latest finding while firing', () => {
    const r = evaluateAnomalyAlerts([episode('firing')], [finding(T0 + 60_000, { severity: 'critical', actual: 90 })], { forSeconds: 0, now: T0 + 60_000 });
    expect(r.transitions).toEqual([]);
    expect(r.alerts[0]).toMatchObject({ severity: 'critical', value: 90, updatedAt: T0 + 60_000, startsAt: T0 });
  });

  it.each([
    ['below minScore: no alert', [], [finding(T0, { score: 0.5 })], []],
    ['firing, latest finding below minScore: recovered', [episode('firing')], [finding(T0 - 1), finding(T0 + 1, { score: 0.2 })], ['firing->resolved']],
    ['at minScore: anomalous', [], [finding(T0, { score: 0.9 })], ['none->firing']],
  ])('minScore: %s', (_name, prev, findings, expected) => {
    expect(transitions(evaluateAnomalyAlerts(prev, findings, { forSeconds: 0, now: T0 + 10, minScore: 0.9 }))).toEqual(expected);
  });

  it('re-running with the same findings changes nothing', () => {
    const first = evaluateAnomalyAlerts([], [finding(T0)], { forSeconds: 0, now: T0 });
    const again = evaluateAnomalyAlerts(first.alerts, [finding(T0)], { forSeconds: 0, now: T0 + 15_000 });
    expect(again.transitions).toEqual([]);
    expect(again.alerts).toEqual(first.alerts);
  });

  it('leaves quota alerts alone', () => {
    const quota: Alert = { ...episode('firing'), kind: 'quota', key: 'q' };
    expect(evaluateAnomalyAlerts([quota], [], { forSeconds: 0, now: T0 }).alerts).toEqual([]);
  });
});
