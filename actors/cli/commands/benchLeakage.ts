// `gridveil bench leakage`: what an observer of the chain learns per block width (bench/leakage.ts); a table, or JSON.
import type { Command } from "commander";
import { runLeakageBench, type LeakageRow } from "../../../bench/leakage.ts";
import { intList, positiveInt } from "../../config/parsers.ts";
import { benchDefaults } from "../../config/tools.ts";
import { MAX_BLOCK_WIDTH } from "../../../protocol/encoding/blockTokens.ts";
import { renderTable, type Column } from "../table.ts";
import { runBench } from "./benchCommand.ts";

type LeakageFlags = { levels: number; width: number[]; bids: number; seed?: number; json?: boolean };

export function registerBenchLeakage(bench: Command): Command {
  return bench
    .command("leakage")
    .description("what an observer of the chain learns per block width: random bids, the public hint finder's zero tests, the levels it pins")
    .option("--levels <n>", "price levels n", positiveInt("--levels", 2, 65_536), benchDefaults.leakage.levels)
    .option("--width <list>", "block widths w in bits, comma-separated", intList("--width", 1, MAX_BLOCK_WIDTH), [...benchDefaults.leakage.widths])
    .option("--bids <count>", "random bids encrypted and observed", positiveInt("--bids", 2, 2_000), benchDefaults.leakage.bids)
    .option("--seed <n>", "seed every random choice (levels, keys, randomizers)", positiveInt("--seed", 0))
    .option("--json", "print one JSON object instead of the table")
    .action((flags: LeakageFlags) =>
      runBench(
        "leakage",
        flags,
        (onProgress) => runLeakageBench({ levels: flags.levels, widths: flags.width, bids: flags.bids, seed: flags.seed, onProgress }),
        { json: (rows) => rows, table: renderLeakageTable },
      ),
    );
}

export function renderLeakageTable(rows: readonly LeakageRow[]): string {
  const columns: Column<LeakageRow>[] = [
    { header: "n", value: (row) => row.levels },
    { header: "w", value: (row) => row.width },
    { header: "m", value: (row) => row.blocks },
    { header: "d", value: (row) => row.dim },
    { header: "bids", value: (row) => row.bids },
    { header: "zero tests", value: (row) => row.zeroTests },
    { header: "order + first block recovered", value: (row) => (row.recoversReference ? "all pairs" : "NO (see --json)") },
    { header: "bits/level known (mean)", value: (row) => `${row.meanRevealedBits.toFixed(2)} of ${row.levelBits}` },
    { header: "max", value: (row) => row.maxRevealedBits.toFixed(2) },
    { header: "levels pinned", value: (row) => `${row.pinnedBids}/${row.bids}` },
    { header: "neighbour prefix bits", value: (row) => row.meanNeighbourPrefixBits.toFixed(2) },
    { header: "order only (computed)", value: (row) => row.orderOnlyMeanRevealedBits.toFixed(2) },
  ];
  return [
    renderTable(rows, columns),
    "An observer holding only the chain's ciphertexts sorts the bids with the public hint finder (zero tests) and learns,",
    "for every pair, which is lower and the first block in which the levels differ; 'recovered' compares that with what",
    "the clear levels imply. bits/level known: bits of each level fixed by that observation (a split of k children at a",
    "block pins w − log2(2^w − k + 1) bits of each child's digit); 'order only' is the same for one block (as unary, v1).",
  ].join("\n");
}
