/** Integer microseconds -> seconds as a JSON number, exact to the microsecond for realistic totals. */
export function microsToSeconds(micros: bigint): number {
  return Number(micros / 1_000_000n) + Number(micros % 1_000_000n) / 1_000_000;
}
