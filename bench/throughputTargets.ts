// Version 2's throughput targets, judged on the rows of one run (ratios within a run, since this shared machine's speed
// varies from day to day). Reported, never asserted: a benchmark is not a test.
import type { ThroughputRow } from "./throughput.ts";

export type ThroughputTarget = {
  target: string;
  /** The measured figure (a ratio, or ms), null when this run did not measure it (a level or setup left out). */
  measured: number | null;
  unit: "×" | "ms";
  bound: number;
  /** `atLeast`: measured ≥ bound meets it; `atMost`: measured ≤ bound. */
  kind: "atLeast" | "atMost";
  met: boolean | null;
};

const TARGET_LEVELS = 1024;

function rowOf(rows: readonly ThroughputRow[], design: "v1" | "v2", levels: number): ThroughputRow | undefined {
  return rows.find((row) => row.design === design && row.levels === levels);
}

function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return a === null || a === undefined || b === null || b === undefined || b === 0 ? null : Math.round((a / b) * 100) / 100;
}

function judged(target: string, measured: number | null, unit: ThroughputTarget["unit"], kind: ThroughputTarget["kind"], bound: number): ThroughputTarget {
  return { target, measured, unit, bound, kind, met: measured === null ? null : kind === "atLeast" ? measured >= bound : measured <= bound };
}

/** The five targets of version 2 (w = 1 is the design point; other widths are judged the same way). */
export function throughputTargets(rows: readonly ThroughputRow[]): ThroughputTarget[] {
  const pregen = (design: "v1" | "v2", levels: number) => rowOf(rows, design, levels)?.pregeneratedBidsPerS;
  const v2Top = rowOf(rows, "v2", TARGET_LEVELS);
  return [
    judged("v2 pre-gen at n = 1,024 ÷ v1 pre-gen at n = 10", ratio(pregen("v2", TARGET_LEVELS), pregen("v1", 10)), "×", "atLeast", 3),
    judged("v2 ÷ v1 pre-gen at n = 10", ratio(pregen("v2", 10), pregen("v1", 10)), "×", "atLeast", 2),
    judged("v2 ÷ v1 pre-gen at n = 50", ratio(pregen("v2", 50), pregen("v1", 50)), "×", "atLeast", 6),
    judged("v2 one meter, plan → placed p50 at n = 1,024", v2Top?.singleMeterLatencyP50Ms ?? null, "ms", "atMost", 40),
    judged("v2 Matched → both meters hold their terms p50 at n = 1,024", v2Top?.termsLatencyP50Ms ?? null, "ms", "atMost", 50),
  ];
}
