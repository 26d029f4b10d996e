// Small summaries the benches share (percentiles are actors/telemetry/latency.ts's).

/** The arithmetic mean; 0 for no values. */
export function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length;
}

/** Rounded to three decimals, for a report. */
export function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
