// `gridveil bench load`: a whole market (the demo's: real NATS, chain, DSO, gateway, N meters, all in this process)
// at growing meter counts, reporting sustained bids/s, trade latency (match → settled, as the DSO times it), memory
// per meter, and whether anything was lost or placed twice; where the bids/s stop growing is where it saturates.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runDemo } from "../actors/demo/runDemo.ts";
import { percentile } from "../actors/telemetry/latency.ts";
import type { BenchProgress } from "./progress.ts";

export type LoadBenchOptions = {
  meters: readonly number[];
  rounds: number;
  levels: number;
  seed: number;
  onProgress?: (progress: BenchProgress) => void;
};

export type LoadRow = {
  meters: number;
  bidsPerS: number;
  tradeP50Ms: number | null;
  tradeP95Ms: number | null;
  memoryMbPerMeter: number;
  submitted: number;
  placed: number;
  lost: number;
  placedTwice: number;
  trades: number;
  settled: number;
};

/** A row whose bids/s grew less than this over the previous one marks saturation. */
export const SATURATION_GROWTH = 1.1;

export async function runLoadBench(options: LoadBenchOptions): Promise<LoadRow[]> {
  const rows: LoadRow[] = [];
  for (const [index, meters] of options.meters.entries()) {
    rows.push(
      await runOne(meters, options, (phase) =>
        options.onProgress?.({ phase: `${meters} meters: ${phase}`, completed: index, total: options.meters.length }),
      ),
    );
  }
  options.onProgress?.({ phase: "done", completed: options.meters.length, total: options.meters.length });
  return rows;
}

/** The first meter count whose bids/s grew less than 10 % over the previous count's, or null. */
export function saturationOf(rows: readonly LoadRow[]): number | null {
  for (let i = 1; i < rows.length; i++) {
    if ((rows[i]?.bidsPerS ?? 0) < (rows[i - 1]?.bidsPerS ?? 0) * SATURATION_GROWTH) return rows[i]?.meters ?? null;
  }
  return null;
}

async function runOne(meters: number, options: LoadBenchOptions, report: (phase: string) => void): Promise<LoadRow> {
  const dataDir = await mkdtemp(join(tmpdir(), "gridveil-load-"));
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 250);
  const durations: number[] = [];
  let tradingFrom: number | undefined;
  let tradingTo: number | undefined;
  let last = { submitted: 0, placed: 0 };
  try {
    const summary = await runDemo({
      meters,
      rounds: options.rounds,
      levels: options.levels,
      seed: options.seed,
      dataDir,
      onTradeEnded: (trade) => {
        if (trade.outcome === "settled") durations.push(trade.endedAt - trade.startedAt);
      },
      onProgress: (progress) => {
        if (progress.phase === "trading") tradingFrom ??= performance.now();
        if ((progress.phase === "finishing" || progress.phase === "stopping") && tradingFrom !== undefined) tradingTo ??= performance.now();
        last = { submitted: progress.submitted, placed: progress.placed };
        report(`${progress.phase}, round ${progress.round}/${progress.rounds}, ${progress.placed} placed, ${progress.settled} settled`);
      },
    });
    const seconds = Math.max(0.001, ((tradingTo ?? performance.now()) - (tradingFrom ?? 0)) / 1000);
    const sorted = [...durations].sort((a, b) => a - b);
    return {
      meters,
      bidsPerS: Math.round((summary.bids / seconds) * 100) / 100,
      tradeP50Ms: sorted.length === 0 ? null : percentile(sorted, 0.5),
      tradeP95Ms: sorted.length === 0 ? null : percentile(sorted, 0.95),
      memoryMbPerMeter: Math.round(((peak - baseline) / meters / 2 ** 20) * 100) / 100,
      submitted: last.submitted,
      placed: last.placed,
      lost: Math.max(0, last.submitted - last.placed),
      placedTwice: Math.max(0, summary.bids - last.placed),
      trades: summary.matches,
      settled: summary.tradesSettled,
    };
  } finally {
    clearInterval(sampler);
    await rm(dataDir, { recursive: true, force: true });
  }
}
