// `gridveil bench soak`: the fault test's market of processes (infra/market.ts) run for minutes, twice in one run:
// once undisturbed (the baseline) and once with fault cycles back to back (infra/faults.ts: the gateway mid-batch, the
// DSO mid-trade, a meter mid-trade, nats-server, each killed and started again). Each run ends with the quiet-market
// checks: nothing lost, nothing placed twice, every match ended, only killed meters' trades failed, a balanced ledger.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { checkQuietMarket, runFaultCycle, type MarketCheck } from "../infra/faults.ts";
import { marketDown, marketUp, stopMeters } from "../infra/market.ts";
import type { BenchProgress } from "./progress.ts";

export type SoakBenchOptions = {
  meters: number;
  minutes: number;
  rounds: number;
  onProgress?: (progress: BenchProgress) => void;
};

export type SoakRow = Pick<MarketCheck, "submitted" | "placed" | "rejected" | "lost" | "placedTwice" | "matches" | "matchesNotEnded" | "settled"> & {
  run: "baseline" | "faults";
  meters: number;
  minutes: number;
  /** Fault cycles completed (each kills four processes). */
  cycles: number;
  /** Voided or disputed trades with a killed meter on one side (expected: that meter lost its openings). */
  failedOfKilledMeters: number;
  /** Voided or disputed trades of two meters that were never killed: a defect whenever it is not 0. */
  failedOfLiveMeters: number;
  ledgerBalanced: boolean;
  /** Placements per minute over the whole run (the market's pace, with and without faults). */
  placedPerMin: number;
};

export async function runSoakBench(options: SoakBenchOptions): Promise<SoakRow[]> {
  const rows: SoakRow[] = [];
  const runs = ["baseline", "faults"] as const;
  for (const [index, run] of runs.entries()) {
    const report = (phase: string) => options.onProgress?.({ phase: `${run}: ${phase}`, completed: index, total: runs.length });
    rows.push(await soakOnce(run, options, report));
  }
  options.onProgress?.({ phase: "done", completed: runs.length, total: runs.length });
  return rows;
}

async function soakOnce(run: SoakRow["run"], options: SoakBenchOptions, report: (phase: string) => void): Promise<SoakRow> {
  const root = await mkdtemp(join(tmpdir(), `gridveil-soak-${run}-`));
  const dir = join(root, "market");
  try {
    report("starting the market");
    const file = await marketUp({ dir, meters: options.meters, rounds: options.rounds, onProgress: report });
    const started = Date.now();
    const deadline = started + options.minutes * 60_000;
    const killed = new Set<string>();
    let cycles = 0;
    if (run === "faults") {
      while (Date.now() < deadline) {
        const { killedMeter } = await runFaultCycle(file, { onProgress: (line) => report(`cycle ${cycles + 1}: ${line}`) });
        killed.add(killedMeter);
        cycles += 1;
      }
    } else {
      while (Date.now() < deadline) {
        report(`trading, ${Math.ceil((deadline - Date.now()) / 1000)} s left`);
        await sleep(Math.min(5_000, deadline - Date.now()));
      }
    }
    // The meters stop bidding (each withdraws what waits for a match and finishes its matched trades), so the market
    // can become quiet; the DSO, the gateway, NATS and the chain run on to finish every trade.
    report("stopping the meters");
    await stopMeters({ dir, graceMs: 60_000 });
    report("waiting for a quiet market, then checking");
    const check = await checkQuietMarket(file, { timeoutMs: 300_000 });
    const minutes = (Date.now() - started) / 60_000;
    const ofKilled = check.failed.filter((row) => killed.has(row.buyer_meter_id ?? "") || killed.has(row.seller_meter_id ?? ""));
    return {
      run,
      meters: options.meters,
      minutes: Math.round(minutes * 10) / 10,
      cycles,
      submitted: check.submitted,
      placed: check.placed,
      rejected: check.rejected,
      lost: check.lost,
      placedTwice: check.placedTwice,
      matches: check.matches,
      matchesNotEnded: check.matchesNotEnded,
      settled: check.settled,
      failedOfKilledMeters: ofKilled.length,
      failedOfLiveMeters: check.failed.length - ofKilled.length,
      ledgerBalanced: check.ledgerSum === 0,
      placedPerMin: Math.round((check.placed / minutes) * 10) / 10,
    };
  } finally {
    await marketDown({ dir, graceMs: 5_000 }).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
}
