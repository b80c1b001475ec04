import type { AnyValue, KeyValue } from './model.ts';

/**
 * OTLP attribute values -> the strings the collector's ClickHouse exporter stores in its
 * Map(String, String) columns: pdata's `Value.AsString()`. Strings as they are, booleans and
 * integers in decimal, doubles as ES6 number-to-string (which Go's encoding/json copies), bytes as
 * base64, arrays and maps as JSON (Go's encoding/json: map keys sorted, `<>&` escaped), an empty
 * value as ''.
 */
export function anyValueAsString(value: AnyValue | undefined): string {
  if (!value) return '';
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return String(value.boolValue);
  if (value.intValue !== undefined) return value.intValue;
  if (value.doubleValue !== undefined) return formatDouble(value.doubleValue);
  if (value.bytesValue !== undefined) return Buffer.from(value.bytesValue).toString('base64');
  if (value.arrayValue !== undefined || value.kvlistValue !== undefined) return toGoJson(value) ?? '';
  return '';
}

/** Attributes -> map; a repeated key keeps its last value. */
export function attributesToMap(attrs: readonly KeyValue[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of attrs) out[kv.key] = anyValueAsString(kv.value);
  return out;
}

/** The string value of `key`, when present and a string. */
export function stringAttribute(attrs: readonly KeyValue[], key: string): { present: boolean; value?: string } {
  let found: KeyValue | undefined;
  for (const kv of attrs) if (kv.key === key) found = kv;
  if (!found) return { present: false };
  return { present: true, value: found.value?.stringValue };
}

function formatDouble(d: number): string {
  if (Number.isNaN(d)) return 'json: unsupported value: NaN';
  if (!Number.isFinite(d)) return `json: unsupported value: ${d > 0 ? '+Inf' : '-Inf'}`;
  return String(d);
}

/** Go's json.Marshal of the value's raw form; undefined where Go fails (NaN, Inf), which AsString turns into ''. */
function toGoJson(value: AnyValue | undefined): string | undefined {
  if (!value) return 'null';
  if (value.stringValue !== undefined) return goQuote(value.stringValue);
  if (value.boolValue !== undefined) return String(value.boolValue);
  if (value.intValue !== undefined) return value.intValue;
  if (value.doubleValue !== undefined) return Number.isFinite(value.doubleValue) ? String(value.doubleValue) : undefined;
  if (value.bytesValue !== undefined) return goQuote(Buffer.from(value.bytesValue).toString('base64'));
  if (value.arrayValue !== undefined) {
    const items = value.arrayValue.values.map(toGoJson);
    return items.some((i) => i === undefined) ? undefined : `[${items.join(',')}]`;
  }
  if (value.kvlistValue !== undefined) {
    const byKey = new Map<string, AnyValue | undefined>();
    for (const kv of value.kvlistValue.values) byKey.set(kv.key, kv.value);
    const parts: string[] = [];
    for (const key of [...byKey.keys()].sort(compareUtf8)) {
      const v = toGoJson(byKey.get(key));
      if (v === undefined) return undefined;
      parts.push(`${goQuote(key)}:${v}`);
    }
    return `{${parts.join(',')}}`;
  }
  return 'null';
}

/** Go sorts map keys bytewise (UTF-8), not by UTF-16 code unit. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** JSON string with Go's HTML-safe escaping. */
function goQuote(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
