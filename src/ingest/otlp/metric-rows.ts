import { ATTR } from '../../telemetry/attributes.ts';
import { formatUnixNanos } from '../../telemetry/span-rows.ts';
import { attributesToMap, stringAttribute } from './any-value.ts';
import type {
  Exemplar,
  ExponentialHistogramDataPoint,
  HistogramDataPoint,
  InstrumentationScope,
  Metric,
  MetricsRequest,
  NumberDataPoint,
  ResourceMetrics,
  SummaryDataPoint,
} from './model.ts';
import { decideTenant, Rejections, type OtlpSender } from './tenancy.ts';
import { serviceName } from './trace-rows.ts';

/** The collector ClickHouse exporter's metric tables, by its default names (migrations 0006, 0007). */
export const METRIC_TABLES = {
  gauge: 'otel_metrics_gauge',
  sum: 'otel_metrics_sum',
  histogram: 'otel_metrics_histogram',
  exponentialHistogram: 'otel_metrics_exponential_histogram',
  summary: 'otel_metrics_summary',
} as const;

export type MetricKind = keyof typeof METRIC_TABLES;

const MAX_NANOS = 2n ** 63n - 1n;

type Row = Record<string, unknown>;

export type MetricsPlan = Record<MetricKind, Row[]> & { rejections: Rejections };

/**
 * Decides every data point of a request before anything is written (pure). The tenant is a
 * resource's: `tenant.id` on the resource, or the ingest key's tenant, stamped on the resource
 * attributes of every row. A point that cannot be stored (a time past 2262) is
 * refused with a reason; the others are kept.
 */
export function planMetricRows(sender: OtlpSender, request: MetricsRequest): MetricsPlan {
  const plan: MetricsPlan = { gauge: [], sum: [], histogram: [], exponentialHistogram: [], summary: [], rejections: new Rejections() };
  for (const rm of request.resourceMetrics) {
    const tenant = decideTenant(sender, rm.resource?.attributes ?? []);
    if (!tenant.ok) {
      plan.rejections.add(tenant.reason, countPoints(rm), tenant.missing === true);
      continue;
    }
    const resourceAttributes = { ...attributesToMap(rm.resource?.attributes ?? []), [ATTR.tenantId]: tenant.tenantId };
    for (const sm of rm.scopeMetrics) {
      const common = {
        ResourceAttributes: resourceAttributes,
        ResourceSchemaUrl: rm.schemaUrl ?? '',
        ...scopeColumns(sm.scope),
        ScopeSchemaUrl: sm.schemaUrl ?? '',
        ServiceName: serviceName(rm.resource),
      };
      for (const metric of sm.metrics) addMetric(plan, metric, common);
    }
  }
  return plan;
}

function addMetric(plan: MetricsPlan, metric: Metric, common: Row): void {
  const head = { ...common, MetricName: metric.name ?? '', MetricDescription: metric.description ?? '', MetricUnit: metric.unit ?? '' };
  for (const dp of metric.gauge?.dataPoints ?? []) {
    const row = numberRow(head, dp, plan.rejections);
    if (row) plan.gauge.push(row);
  }
  for (const dp of metric.sum?.dataPoints ?? []) {
    const row = numberRow(head, dp, plan.rejections);
    if (row) plan.sum.push({ ...row, AggregationTemporality: metric.sum?.aggregationTemporality ?? 0, IsMonotonic: metric.sum?.isMonotonic ?? false });
  }
  for (const dp of metric.histogram?.dataPoints ?? []) {
    const row = histogramRow(head, dp, plan.rejections);
    if (row) plan.histogram.push({ ...row, AggregationTemporality: metric.histogram?.aggregationTemporality ?? 0 });
  }
  for (const dp of metric.exponentialHistogram?.dataPoints ?? []) {
    const row = exponentialHistogramRow(head, dp, plan.rejections);
    if (row) plan.exponentialHistogram.push({ ...row, AggregationTemporality: metric.exponentialHistogram?.aggregationTemporality ?? 0 });
  }
  for (const dp of metric.summary?.dataPoints ?? []) {
    const row = summaryRow(head, dp, plan.rejections);
    if (row) plan.summary.push(row);
  }
}

/** The number of rows a plan writes. */
const METRIC_TABLE_NAMES: ReadonlySet<string> = new Set(Object.values(METRIC_TABLES));
/** Whether `table` holds metric points (which have no id: a repeated write is told apart only by ClickHouse's block deduplication). */
export const isMetricTable = (table: string): boolean => METRIC_TABLE_NAMES.has(table);

export const plannedRows = (plan: MetricsPlan): number => (Object.keys(METRIC_TABLES) as MetricKind[]).reduce((n, kind) => n + plan[kind].length, 0);

interface PointTimes {
  attributes: NumberDataPoint['attributes'];
  startTimeUnixNano?: string;
  timeUnixNano?: string;
  exemplars?: readonly Exemplar[];
}

/**
 * The columns every data point has (its metric's head, attributes, times, and exemplars where the
 * type has them), or undefined with the reason recorded when a time cannot be stored.
 */
function pointColumns(head: Row, dp: PointTimes, rejections: Rejections): Row | undefined {
  const exemplars = dp.exemplars ?? [];
  const bad = badTimes([dp.startTimeUnixNano, dp.timeUnixNano, ...exemplars.map((e) => e.timeUnixNano)]) ?? otherTenant(head, dp.attributes);
  if (bad) {
    rejections.add(bad);
    return undefined;
  }
  return {
    ...head,
    Attributes: attributesToMap(dp.attributes),
    StartTimeUnix: time(dp.startTimeUnixNano),
    TimeUnix: time(dp.timeUnixNano),
    ...(dp.exemplars ? exemplarColumns(dp.exemplars) : {}),
  };
}

function numberRow(head: Row, dp: NumberDataPoint, rejections: Rejections): Row | undefined {
  const base = pointColumns(head, dp, rejections);
  const value = dp.asInt !== undefined ? Number(dp.asInt) : (dp.asDouble ?? 0);
  return base && { ...base, Value: float(value), Flags: dp.flags ?? 0 };
}

/** Count, sum, min, max and flags: the columns both histogram tables have. */
function distributionColumns(dp: Pick<HistogramDataPoint, 'count' | 'sum' | 'min' | 'max' | 'flags'>): Row {
  return { Count: dp.count ?? '0', Sum: float(dp.sum ?? 0), Flags: dp.flags ?? 0, Min: float(dp.min ?? 0), Max: float(dp.max ?? 0) };
}

function histogramRow(head: Row, dp: HistogramDataPoint, rejections: Rejections): Row | undefined {
  const base = pointColumns(head, dp, rejections);
  return (
    base && {
      ...base,
      ...distributionColumns(dp),
      BucketCounts: dp.bucketCounts,
      ExplicitBounds: dp.explicitBounds.map(float),
    }
  );
}

/** zero_threshold has no column in the exporter's table. */
function exponentialHistogramRow(head: Row, dp: ExponentialHistogramDataPoint, rejections: Rejections): Row | undefined {
  const base = pointColumns(head, dp, rejections);
  return (
    base && {
      ...base,
      ...distributionColumns(dp),
      Scale: dp.scale ?? 0,
      ZeroCount: dp.zeroCount ?? '0',
      PositiveOffset: dp.positive?.offset ?? 0,
      PositiveBucketCounts: dp.positive?.bucketCounts ?? [],
      NegativeOffset: dp.negative?.offset ?? 0,
      NegativeBucketCounts: dp.negative?.bucketCounts ?? [],
    }
  );
}

function summaryRow(head: Row, dp: SummaryDataPoint, rejections: Rejections): Row | undefined {
  const base = pointColumns(head, dp, rejections);
  return (
    base && {
      ...base,
      Count: dp.count ?? '0',
      Sum: float(dp.sum ?? 0),
      'ValueAtQuantiles.Quantile': dp.quantileValues.map((q) => float(q.quantile ?? 0)),
      // A Prometheus summary with no observations in its window reports NaN quantiles.
      'ValueAtQuantiles.Value': dp.quantileValues.map((q) => float(q.value ?? 0)),
      Flags: dp.flags ?? 0,
    }
  );
}

function scopeColumns(scope: InstrumentationScope | undefined): Row {
  return {
    ScopeName: scope?.name ?? '',
    ScopeVersion: scope?.version ?? '',
    ScopeAttributes: attributesToMap(scope?.attributes ?? []),
    ScopeDroppedAttrCount: scope?.droppedAttributesCount ?? 0,
  };
}

/** As the exporter: ids hex-encoded at full width (an absent id is all zeros, not ''). */
function exemplarColumns(exemplars: readonly Exemplar[]): Row {
  return {
    'Exemplars.FilteredAttributes': exemplars.map((e) => attributesToMap(e.filteredAttributes)),
    'Exemplars.TimeUnix': exemplars.map((e) => time(e.timeUnixNano)),
    'Exemplars.Value': exemplars.map((e) => float(exemplarValue(e))),
    'Exemplars.SpanId': exemplars.map((e) => fullHex(e.spanId, 8)),
    'Exemplars.TraceId': exemplars.map((e) => fullHex(e.traceId, 16)),
  };
}

const exemplarValue = (e: Exemplar): number => (e.asInt !== undefined ? Number(e.asInt) : (e.asDouble ?? 0));
const time = (nanos: string | undefined): string => formatUnixNanos(BigInt(nanos ?? '0'));

function fullHex(id: Uint8Array | undefined, size: number): string {
  return id && id.length === size ? Buffer.from(id).toString('hex') : '0'.repeat(size * 2);
}

/**
 * A point's own tenant.id must agree with its resource's, as a span's must: the row is filed
 * under the resource's tenant, and a query on the point's attribute would find it under another.
 */
function otherTenant(head: Row, attributes: NumberDataPoint['attributes']): string | undefined {
  const own = stringAttribute(attributes ?? [], ATTR.tenantId);
  if (!own.present) return undefined;
  const tenant = (head.ResourceAttributes as Record<string, string>)[ATTR.tenantId];
  return own.value === tenant ? undefined : `a data point's ${ATTR.tenantId} names a tenant other than its resource's`;
}

function badTimes(times: ReadonlyArray<string | undefined>): string | undefined {
  return times.some((t) => t !== undefined && BigInt(t) > MAX_NANOS) ? 'timestamp after 2262-04-11 (not storable)' : undefined;
}

/**
 * A Float64 column's value. JSON numbers cannot carry NaN or ±infinity, which OTLP allows (and
 * the collector's exporter stores); ClickHouse reads them from the strings 'nan', 'inf', '-inf'.
 */
function float(v: number): number | string {
  if (Number.isFinite(v)) return v;
  return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
}

function countPoints(rm: ResourceMetrics): number {
  let n = 0;
  for (const sm of rm.scopeMetrics) {
    for (const m of sm.metrics) {
      n += (m.gauge?.dataPoints.length ?? 0) + (m.sum?.dataPoints.length ?? 0) + (m.histogram?.dataPoints.length ?? 0);
      n += (m.exponentialHistogram?.dataPoints.length ?? 0) + (m.summary?.dataPoints.length ?? 0);
    }
  }
  return n;
}
