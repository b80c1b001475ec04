/**
 * Timestamps accepted by `anomalies detect`: epoch milliseconds (all digits), RFC 3339, or NAB's
 * zone-less 'YYYY-MM-DD HH:MM:SS[.ffffff]'. Zone-less times are read as UTC so hour-of-day and
 * day-of-week do not depend on the machine's time zone. Returns undefined when unparsable.
 */
const ZONELESS = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export function parseTimestamp(text: string): number | undefined {
  const s = text.trim();
  if (/^-?\d+$/.test(s)) {
    const ms = Number(s);
    return Number.isSafeInteger(ms) ? ms : undefined;
  }
  if (RFC3339.test(s)) {
    const ms = Date.parse(s.replace(' ', 'T'));
    return Number.isFinite(ms) ? ms : undefined;
  }
  const m = ZONELESS.exec(s);
  if (!m) return undefined;
  const [y, mo, d, h, mi, sec, frac] = m.slice(1).map((x) => x ?? '');
  const ms = Date.UTC(+y!, +mo! - 1, +d!, +h!, +mi!, sec ? +sec : 0, frac ? Math.round(Number(`0${frac}`) * 1000) : 0);
  // Date.UTC rolls 2015-02-30 over into March; reject instead of silently shifting the row.
  const back = new Date(ms);
  return back.getUTCDate() === +d! && back.getUTCMonth() === +mo! - 1 && +h! < 24 && +mi! < 60 ? ms : undefined;
}
