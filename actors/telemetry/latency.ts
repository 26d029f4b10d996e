// Latency percentiles per protocol stage, computed from finished spans (the demo's summary).
import type { SpanRecord } from "./spanRecord.ts";

export type StageLatency = { count: number; p50: number; p90: number; p99: number; max: number };

export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  // Nearest-rank: the smallest value with at least q of the samples at or below it.
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

/** Groups spans by name (only the names in `stages`, in that order) and summarises their durations in ms. */
export function latencyByStage(spans: readonly SpanRecord[], stages: readonly string[]): Record<string, StageLatency> {
  const out: Record<string, StageLatency> = {};
  for (const stage of stages) {
    const durations = spans.filter((span) => span.name === stage).map((span) => span.durationMs).sort((a, b) => a - b);
    if (durations.length === 0) continue;
    const round = (value: number) => Math.round(value * 100) / 100;
    out[stage] = {
      count: durations.length,
      p50: round(percentile(durations, 0.5)),
      p90: round(percentile(durations, 0.9)),
      p99: round(percentile(durations, 0.99)),
      max: round(durations[durations.length - 1]!),
    };
  }
  return out;
}
