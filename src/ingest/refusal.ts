import { ClickHouseError } from '@clickhouse/client';

/**
 * ClickHouse error codes that mean "these rows cannot be stored as they are": the values do not
 * parse or do not fit their columns. Sending the same batch again fails the same way forever,
 * unlike a server that is down, a timeout, a table or column a migration has not created yet
 * (UNKNOWN_TABLE, NO_SUCH_COLUMN_IN_TABLE) or a full disk, which all heal by themselves.
 */
export const DATA_ERROR_CODES: ReadonlyMap<number, string> = new Map([
  [6, 'CANNOT_PARSE_TEXT'],
  [25, 'CANNOT_PARSE_ESCAPE_SEQUENCE'],
  [26, 'CANNOT_PARSE_QUOTED_STRING'],
  [27, 'CANNOT_PARSE_INPUT_ASSERTION_FAILED'],
  [38, 'CANNOT_PARSE_DATE'],
  [41, 'CANNOT_PARSE_DATETIME'],
  [53, 'TYPE_MISMATCH'],
  [69, 'ARGUMENT_OUT_OF_BOUND'],
  [70, 'CANNOT_CONVERT_TYPE'],
  [72, 'CANNOT_PARSE_NUMBER'],
  [117, 'INCORRECT_DATA'],
  [131, 'TOO_LARGE_STRING_SIZE'],
  [321, 'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE'],
  [407, 'DECIMAL_OVERFLOW'],
]);

/**
 * True when `err` (or an error it wraps) is ClickHouse refusing the rows themselves. The code comes
 * from the server's error object, or from the `Code: N.` that both the server and the embedded
 * engine put in the message.
 */
export function isDataRefusal(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = e instanceof ClickHouseError ? Number(e.code) : Number(/\bCode: (\d+)\./.exec(e.message)?.[1]);
    if (DATA_ERROR_CODES.has(code)) return true;
  }
  return false;
}
