// `gridveil bench load`: the whole market at growing meter counts (bench/load.ts); a table, or one JSON object.
import type { Command } from "commander";
import { runLoadBench, saturationOf, type LoadRow } from "../../../bench/load.ts";
import { intList, positiveInt } from "../../config/parsers.ts";
import { benchDefaults } from "../../config/tools.ts";
import { renderTable, type Column } from "../table.ts";
import { runBench } from "./benchCommand.ts";

type LoadFlags = { meters: number[]; rounds: number; levels: number; seed: number; json?: boolean };

export function registerBenchLoad(bench: Command): Command {
  return bench
    .command("load")
    .description(
      "a whole market (real NATS, chain, DSO, gateway, N meters in this process) at growing meter counts: bids/s, trade latency, memory, losses",
    )
    .option("--meters <list>", "meter counts, comma-separated", intList("--meters", 2, 200), [...benchDefaults.load.meters])
    .option("--rounds <r>", "trading rounds of every meter's plan", positiveInt("--rounds", 1, 96), benchDefaults.load.rounds)
    .option("--levels <n>", "price levels n (d = n + 1)", positiveInt("--levels", 2, 100), benchDefaults.load.levels[0])
    .option("--seed <s>", "seed of the prosumer profiles", positiveInt("--seed", 0), benchDefaults.load.seed)
    .option("--json", "print one JSON object instead of the table")
    .action((flags: LoadFlags) =>
      runBench(
        "load",
        flags,
        (onProgress) => runLoadBench({ meters: flags.meters, rounds: flags.rounds, levels: flags.levels, seed: flags.seed, onProgress }),
        {
          json: (rows) => rows,
          table: renderLoadTable,
        },
      ),
    );
}

export function renderLoadTable(rows: readonly LoadRow[]): string {
  const ms = (value: number | null) => (value === null ? "—" : value);
  const columns: Column<LoadRow>[] = [
    { header: "meters", value: (row) => row.meters },
    { header: "bids/s", value: (row) => row.bidsPerS },
    { header: "trade p50 ms", value: (row) => ms(row.tradeP50Ms) },
    { header: "trade p95 ms", value: (row) => ms(row.tradeP95Ms) },
    { header: "MB/meter", value: (row) => row.memoryMbPerMeter },
    { header: "submitted", value: (row) => row.submitted },
    { header: "placed", value: (row) => row.placed },
    { header: "lost", value: (row) => row.lost },
    { header: "placed twice", value: (row) => row.placedTwice },
    { header: "settled/trades", value: (row) => `${row.settled}/${row.trades}` },
  ];
  const saturation = saturationOf(rows);
  return [
    renderTable(rows, columns),
    saturation === null
      ? "bids/s grew by 10 % or more at every step: not saturated at these counts"
      : `saturates at ${saturation} meters (bids/s grew less than 10 %)`,
    "All parties share this process and its two cores: MB/meter is the peak growth of its RSS over the run, divided by the meters.",
  ].join("\n");
}
