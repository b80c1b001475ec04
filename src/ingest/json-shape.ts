/**
 * What a parsed JSON body must not hold before its schema is even tried:
 * - a string (or key) with a lone UTF-16 surrogate (`"\ud800"` is valid JSON). It cannot be
 *   stored: ClickHouse refuses the whole insert, and when such rows share a batch with other
 *   tenants' (group commit), theirs are held up with them.
 * - nesting deeper than `maxDepth`: a recursive schema (OTLP's AnyValue) would overflow the stack
 *   validating it, which is a 500 instead of a 400.
 * Iterative, so the check itself cannot overflow. Returns the first problem, with its path.
 */
export function jsonShapeProblem(value: unknown, maxDepth = MAX_JSON_DEPTH): string | undefined {
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value, path: 'body', depth: 0 }];
  while (stack.length > 0) {
    const { value: v, path, depth } = stack.pop()!;
    if (typeof v === 'string') {
      if (!isWellFormedText(v)) return `${path}: a string that is not valid Unicode (a lone UTF-16 surrogate)`;
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= maxDepth) return `${path}: nested more than ${maxDepth} levels deep`;
    if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push({ value: item, path: `${path}.${i}`, depth: depth + 1 }));
      continue;
    }
    for (const [key, item] of Object.entries(v)) {
      if (!isWellFormedText(key)) return `${path}: a key that is not valid Unicode (a lone UTF-16 surrogate)`;
      stack.push({ value: item, path: `${path}.${key}`, depth: depth + 1 });
    }
  }
  return undefined;
}

/** The OTLP protobuf decoder's limit too (protobufjs's default recursion limit is 100). */
export const MAX_JSON_DEPTH = 100;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** No lone UTF-16 surrogate (String.prototype.isWellFormed, which ES2022 typings lack). */
export const isWellFormedText = (s: string): boolean => !LONE_SURROGATE.test(s);
