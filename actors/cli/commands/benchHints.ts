// `gridveil bench hints`: the DSO's hints (clear levels) beside hints from public data (zero tests), bench/hints.ts.
import type { Command } from "commander";
import { runHintsBench, type HintsRow } from "../../../bench/hints.ts";
import { intList, positiveInt } from "../../config/parsers.ts";
import { benchDefaults } from "../../config/tools.ts";
import { MAX_BLOCK_WIDTH } from "../../../protocol/encoding/blockTokens.ts";
import { renderTable, type Column } from "../table.ts";
import { runBench } from "./benchCommand.ts";

type HintsFlags = { levels: number; width: number[]; book: number; hints: number; seed?: number; json?: boolean };

export function registerBenchHints(bench: Command): Command {
  return bench
    .command("hints")
    .description("hints for version 2 placements: the DSO's way (clear levels) beside anyone's (zero tests on public ciphertexts), same book, same bids")
    .option("--levels <n>", "price levels n", positiveInt("--levels", 2, 65_536), benchDefaults.hints.levels)
    .option("--width <list>", "block widths w in bits, comma-separated", intList("--width", 1, MAX_BLOCK_WIDTH), [...benchDefaults.hints.widths])
    .option("--book <count>", "random bids placed in one slot before the hints are made", positiveInt("--book", 1, 5_000), benchDefaults.hints.book)
    .option("--hints <count>", "new random bids hinted both ways", positiveInt("--hints", 1, 5_000), benchDefaults.hints.hints)
    .option("--seed <n>", "seed every random choice", positiveInt("--seed", 0))
    .option("--json", "print one JSON object instead of the table")
    .action((flags: HintsFlags) =>
      runBench(
        "hints",
        flags,
        (onProgress) => runHintsBench({ levels: flags.levels, widths: flags.width, book: flags.book, hints: flags.hints, seed: flags.seed, onProgress }),
        { json: (rows) => rows, table: renderHintsTable },
      ),
    );
}

export function renderHintsTable(rows: readonly HintsRow[]): string {
  const columns: Column<HintsRow>[] = [
    { header: "n", value: (row) => row.levels },
    { header: "w", value: (row) => row.width },
    { header: "resting", value: (row) => row.resting },
    { header: "hints", value: (row) => row.hints },
    { header: "DSO p50 ms", value: (row) => row.dsoP50Ms },
    { header: "DSO p95 ms", value: (row) => row.dsoP95Ms },
    { header: "public p50 ms", value: (row) => row.publicP50Ms },
    { header: "public p95 ms", value: (row) => row.publicP95Ms },
    { header: "zero tests/hint", value: (row) => row.zeroTestsPerHint },
    { header: "same hints", value: (row) => (row.equal ? "yes" : "NO") },
  ];
  return [
    renderTable(rows, columns),
    "DSO: from clear levels and a mirror of the books (it knows every level). Public: from the chain's ciphertexts only,",
    "each relation found with zero tests (the equality token, then block by block), the position by binary search.",
  ].join("\n");
}
