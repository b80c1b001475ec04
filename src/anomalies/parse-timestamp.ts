/**
 * Timestamps accepted by `anomalies detect`: epoch seconds or milliseconds (all digits, told apart
 * by size), RFC 3339, or NAB's zone-less 'YYYY-MM-DD HH:MM:SS[.ffffff]'. Zone-less times are read
 * as UTC so hour-of-day and day-of-week do not depend on the machine's time zone. Returns
 * undefined when unparsable, or when a field is out of range (Feb 30, 25:00, :99): rolling it
 * over would silently move the row.
 */
const ZONELESS = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?$/;
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/**
 * Below this, an epoch number is seconds: 1e11 s is the year 5138, 1e11 ms is March 1973. Epoch
 * seconds read as milliseconds would land every row in January 1970 and scramble the hour-of-day
 * and day-of-week profiles without a word.
 */
export const EPOCH_SECONDS_BELOW = 1e11;

export function parseTimestamp(text: string): number | undefined {
  const s = text.trim();
  if (/^-?\d+$/.test(s)) {
    const n = Number(s);
    const ms = Math.abs(n) < EPOCH_SECONDS_BELOW ? n * 1000 : n;
    return Number.isSafeInteger(ms) ? ms : undefined;
  }
  const rfc = RFC3339.exec(s);
  if (rfc) {
    const [y, mo, d, h, mi, sec, frac, sign, oh, om] = rfc.slice(1);
    const utc = fieldsToMs(y!, mo!, d!, h!, mi!, sec!, frac);
    if (utc === undefined || (oh !== undefined && (+oh > 23 || +om! > 59))) return undefined;
    const offsetMs = sign === undefined ? 0 : (sign === '-' ? -1 : 1) * (+oh! * 60 + +om!) * 60_000;
    return utc - offsetMs;
  }
  const m = ZONELESS.exec(s);
  if (!m) return undefined;
  const [y, mo, d, h, mi, sec, frac] = m.slice(1);
  return fieldsToMs(y!, mo!, d!, h!, mi!, sec ?? '0', frac);
}

/** UTC milliseconds of the fields, or undefined when one is out of range. */
function fieldsToMs(y: string, mo: string, d: string, h: string, mi: string, sec: string, frac: string | undefined): number | undefined {
  if (+h > 23 || +mi > 59 || +sec > 59) return undefined;
  // The date alone first: Date.UTC reads years 0-99 as 19xx (so the year is set apart), and rolls
  // 2015-02-30 over into March, which is refused instead of silently shifting the row.
  const date = new Date(Date.UTC(2000, 0, 1));
  date.setUTCFullYear(+y, +mo - 1, +d);
  if (date.getUTCDate() !== +d || date.getUTCMonth() !== +mo - 1) return undefined;
  // Then the time of day, added as milliseconds: a fraction that rounds up to the next second
  // (23:59:59.9996) may carry into the next day, as it should.
  const ms = frac ? Math.round(Number(`0${frac}`) * 1000) : 0;
  return date.getTime() + ((+h * 60 + +mi) * 60 + +sec) * 1000 + ms;
}
