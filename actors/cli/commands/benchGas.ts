// `gridveil bench gas`: parses flags, shows progress on stderr, prints both designs' gas tables (or one JSON object).
import type { Command } from "commander";
import { OSAKA_TX_GAS_CAP, PAPER_STORAGE_GROWTH_PER_10_LEVELS, runGasBench, type GasBenchRow, type GasRow } from "../../../bench/gas.ts";
import { intList, positiveInt } from "../../config/parsers.ts";
import { MAX_BLOCK_WIDTH } from "../../../protocol/encoding/blockTokens.ts";
import { benchCommand, runBench } from "./benchCommand.ts";
import { renderTable, type Column } from "../table.ts";
import { benchDefaults } from "../../config/tools.ts";

type GasFlags = { levels: number[]; width: number[]; book: number; samples: number; seed?: number; json?: boolean };

const MAX_BOOK = 2000;
const MAX_SAMPLES = 1000;
const RATIO_DECIMALS = 4;

export function registerBenchGas(bench: Command): Command {
  return benchCommand(bench, "gas", (command) =>
    command
      .option(
        "--width <list>",
        "version 2's block widths w in bits, comma-separated (a width above ⌈log2 n⌉ is skipped for that n)",
        intList("--width", 1, MAX_BLOCK_WIDTH),
        [...benchDefaults.gas.widths],
      )
      .option(
        "--book <count>",
        "resting random bids in the book each placement is measured against",
        positiveInt("--book", 2, MAX_BOOK),
        benchDefaults.gas.bookSize,
      )
      .option("--samples <count>", "placements averaged per figure", positiveInt("--samples", 1, MAX_SAMPLES), benchDefaults.gas.samples)
      .option(
        "--seed <n>",
        "seed every random choice, so that two runs send the same transactions and report the same gas",
        positiveInt("--seed", 0),
      ),
  ).action((flags: GasFlags) =>
    runBench(
      "gas",
      flags,
      (onProgress) =>
        runGasBench({ levels: flags.levels, widths: flags.width, bookSize: flags.book, samples: flags.samples, seed: flags.seed, onProgress }),
      {
        json: (rows) => rows.map(roundRatios),
        table: (rows) => renderGasTable(rows, flags),
      },
    ),
  );
}

const measured = (row: GasRow): row is Exclude<GasRow, { fits: false; reason: string }> => !("reason" in row);
const isV1 = (row: GasRow): row is GasBenchRow => row.design === "v1" && "compareGas" in row;

export function renderGasTable(rows: readonly GasRow[], flags: Pick<GasFlags, "book" | "samples">): string {
  const ratio = (value: number) => `${value.toFixed(3)}×`;
  const unfit = "does not fit";
  const figure = (value: (row: Exclude<GasRow, { reason: string }>) => number | string) => (row: GasRow) => (measured(row) ? value(row) : unfit);
  const both: Column<GasRow>[] = [
    { header: "design", value: (row) => row.design, align: "left" },
    { header: "n", value: (row) => row.levels },
    { header: "w", value: (row) => row.width ?? "unary" },
    { header: "d", value: (row) => row.dim },
    { header: "relation", value: figure((row) => row.relationGas) },
    { header: "place (rests)", value: figure((row) => row.placeRestingGas) },
    { header: "place (matches)", value: figure((row) => row.placeMatchingGas) },
    { header: "storage/bid", value: figure((row) => row.storageGasPerBid) },
    { header: "calldata B", value: figure((row) => row.calldataBytes) },
    { header: "max batch (rest/match)", value: figure((row) => `${row.maxBatchResting} / ${row.maxBatchMatching}`) },
  ];
  const v1Rows = rows.filter(isV1);
  const v1Columns: Column<GasBenchRow>[] = [
    { header: "n", value: (row) => row.levels },
    { header: "d", value: (row) => row.dim },
    { header: "Compare", value: (row) => row.compareGas },
    { header: "34k·d+45k", value: (row) => row.precompileGas },
    { header: "ratio", value: (row) => ratio(row.compareVsPrecompile) },
    { header: "Compare+loads", value: (row) => row.compareStoredGas },
    { header: "paper 80k·n+100k", value: (row) => row.paperCompareGas },
    { header: "vs paper", value: (row) => ratio(row.compareVsPaper) },
    { header: "Δstorage/+10 n", value: (row) => (row.storageGrowthPer10Levels === null ? "—" : row.storageGrowthPer10Levels) },
    { header: "paper Δ/+10 n", value: (row) => row.paperStorageGrowthPer10Levels },
  ];
  const comparisons = v1Rows.flatMap((v1) =>
    rows
      .filter((row): row is Extract<GasRow, { design: "v2" }> => row.design === "v2" && row.levels === v1.levels)
      .map(
        (v2) =>
          `n=${v1.levels}: version 2 (w=${v2.width}) rests ${(v1.placeRestingGas / v2.placeRestingGas).toFixed(1)}× and matches ` +
          `${(v1.placeMatchingGas / v2.placeMatchingGas).toFixed(1)}× cheaper than version 1`,
      ),
  );
  const notes = [
    `both designs in one run; a book of ${flags.book} random resting bids; place figures are the mean gasUsed of ${flags.samples} placeBid`,
    `  transactions each, resting and matching placements alternating so that the book stays at ${flags.book}–${flags.book + 1} bids`,
    "relation = one order test: v1's Compare (d = n + 1 pairs), v2's zero test on a block token (d = 2^w + 1 pairs)",
    "storage/bid = v1: code blob + record + single-use mark + event; v2: one packed record (also its single-use mark) + root",
    `max batch = most bids one placeBids transaction places under Osaka's ${OSAKA_TX_GAS_CAP.toLocaleString("en-US")} gas cap (measured by sending them)`,
    "v1 runs on the Prague chain (30 M gas per transaction), v2 on the Osaka chain (the cap on)",
    ...rows.filter((row) => !row.fits).map((row) => `${row.design} n=${row.levels}${row.width === null ? "" : ` w=${row.width}`}: ${"reason" in row ? row.reason : "a placement exceeds the cap"}`),
  ];
  const sections = [renderTable(rows, both), "", ...comparisons, ...(comparisons.length > 0 ? [""] : []), ...notes];
  if (v1Rows.length > 0) {
    sections.push(
      "",
      "version 1 in detail (beside the paper):",
      renderTable(v1Rows, v1Columns),
      "Compare = the pairing check with its d pairs in memory (gasleft() around the library call); +loads = both",
      "  ciphertexts read from their code blobs (cold) and interleaved first",
      `paper Δ = ${PAPER_STORAGE_GROWTH_PER_10_LEVELS.toLocaleString("en-US")} gas of heap-node storage per +10 levels`,
    );
  }
  return sections.join("\n");
}

function roundRatios(row: GasRow): GasRow {
  if (!isV1(row)) return row;
  const scale = 10 ** RATIO_DECIMALS;
  return {
    ...row,
    compareVsPrecompile: Math.round(row.compareVsPrecompile * scale) / scale,
    compareVsPaper: Math.round(row.compareVsPaper * scale) / scale,
  };
}
