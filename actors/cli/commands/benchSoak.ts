// `gridveil bench soak`: the market of processes for minutes, undisturbed and under fault cycles (bench/soak.ts).
import type { Command } from "commander";
import { runSoakBench, type SoakRow } from "../../../bench/soak.ts";
import { positiveInt } from "../../config/parsers.ts";
import { benchDefaults } from "../../config/tools.ts";
import { renderTable, type Column } from "../table.ts";
import { runBench } from "./benchCommand.ts";

type SoakFlags = { meters: number; minutes: number; rounds: number; json?: boolean };

export function registerBenchSoak(bench: Command): Command {
  return bench
    .command("soak")
    .description(
      "a market of processes for --minutes, undisturbed (baseline) and under back-to-back fault cycles (gateway, DSO, meter, nats-server killed): losses, duplicates, stuck or wrongly failed trades, ledger",
    )
    .option("--meters <n>", "prosumer meters, each a process", positiveInt("--meters", 2, 64), benchDefaults.soak.meters)
    .option("--minutes <m>", "how long each run trades (the faults run cycles until then)", positiveInt("--minutes", 1, 24 * 60), benchDefaults.soak.minutes)
    .option("--rounds <r>", "trading rounds of every meter's plan (enough for the minutes)", positiveInt("--rounds", 1, 96), benchDefaults.soak.rounds)
    .option("--json", "print one JSON object instead of the table")
    .action((flags: SoakFlags) =>
      runBench("soak", flags, (onProgress) => runSoakBench({ meters: flags.meters, minutes: flags.minutes, rounds: flags.rounds, onProgress }), {
        json: (rows) => rows,
        table: renderSoakTable,
      }),
    );
}

export function renderSoakTable(rows: readonly SoakRow[]): string {
  const columns: Column<SoakRow>[] = [
    { header: "run", value: (row) => row.run },
    { header: "meters", value: (row) => row.meters },
    { header: "minutes", value: (row) => row.minutes.toFixed(1) },
    { header: "fault cycles", value: (row) => row.cycles },
    { header: "submitted", value: (row) => row.submitted },
    { header: "placed", value: (row) => row.placed },
    { header: "rejected", value: (row) => row.rejected },
    { header: "lost", value: (row) => row.lost },
    { header: "placed twice", value: (row) => row.placedTwice },
    { header: "placed/min", value: (row) => row.placedPerMin.toFixed(1) },
    { header: "matches", value: (row) => row.matches },
    { header: "not ended", value: (row) => row.matchesNotEnded },
    { header: "settled", value: (row) => row.settled },
    { header: "failed (killed meter)", value: (row) => row.failedOfKilledMeters },
    { header: "failed (live meters)", value: (row) => row.failedOfLiveMeters },
    { header: "ledger", value: (row) => (row.ledgerBalanced ? "balanced" : "UNBALANCED") },
  ];
  const defects = rows.filter((row) => row.lost > 0 || row.placedTwice > 0 || row.matchesNotEnded > 0 || row.failedOfLiveMeters > 0 || !row.ledgerBalanced);
  return [
    renderTable(rows, columns),
    defects.length === 0
      ? "Nothing lost, nothing placed twice, every match ended, no trade of two live meters failed, the ledger balances."
      : `DEFECTS in: ${defects.map((row) => row.run).join(", ")} (lost, placed twice, matches not ended, live meters' trades failed or ledger)`,
  ].join("\n");
}
