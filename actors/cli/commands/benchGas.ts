// `gridveil bench gas`: parses flags, shows progress on stderr, prints the market's gas table (or one JSON object).
import type { Command } from "commander";
import { BLOCK_GAS_LIMIT, OSAKA_TX_GAS_CAP, PAPER_STORAGE_GROWTH_PER_10_LEVELS, runGasBench, type GasBenchRow } from "../../../bench/gas.ts";
import { positiveInt } from "../../config/parsers.ts";
import { benchCommand, runBench } from "./benchCommand.ts";
import { renderTable, type Column } from "../table.ts";
import { benchDefaults } from "../../config/tools.ts";

type GasFlags = { levels: number[]; book: number; samples: number; seed?: number; json?: boolean };

const MAX_BOOK = 2000;
const MAX_SAMPLES = 1000;
const RATIO_DECIMALS = 4;

export function registerBenchGas(bench: Command): Command {
  return benchCommand(bench, "gas", (command) =>
    command
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
      (onProgress) => runGasBench({ levels: flags.levels, bookSize: flags.book, samples: flags.samples, seed: flags.seed, onProgress }),
      {
        json: (rows) => rows.map(roundRatios),
        table: (rows) => renderGasTable(rows, flags),
      },
    ),
  );
}

export function renderGasTable(rows: readonly GasBenchRow[], flags: Pick<GasFlags, "book" | "samples">): string {
  const ratio = (value: number) => `${value.toFixed(3)}×`;
  const columns: Column<GasBenchRow>[] = [
    { header: "n", value: (row) => row.levels },
    { header: "d", value: (row) => row.dim },
    { header: "Compare", value: (row) => row.compareGas },
    { header: "34k·d+45k", value: (row) => row.precompileGas },
    { header: "ratio", value: (row) => ratio(row.compareVsPrecompile) },
    { header: "Compare+loads", value: (row) => row.compareStoredGas },
    { header: "paper 80k·n+100k", value: (row) => row.paperCompareGas },
    { header: "vs paper", value: (row) => ratio(row.compareVsPaper) },
    { header: "place (rests)", value: (row) => row.placeRestingGas },
    { header: "place (matches)", value: (row) => row.placeMatchingGas },
    { header: "storage/bid", value: (row) => row.storageGasPerBid },
    { header: "Δstorage/+10 n", value: (row) => (row.storageGrowthPer10Levels === null ? "—" : row.storageGrowthPer10Levels) },
    { header: "paper Δ/+10 n", value: (row) => row.paperStorageGrowthPer10Levels },
    { header: "max batch (rest/match)", value: (row) => `${row.maxBatchResting} / ${row.maxBatchMatching}` },
  ];
  const notes = [
    `book of ${flags.book} random resting bids; place figures are the mean gasUsed of ${flags.samples} placeBid transactions each,`,
    `  resting and matching placements alternating so that the book stays at ${flags.book}–${flags.book + 1} bids`,
    "Compare = the pairing check with its d pairs in memory (gasleft() around the library call); +loads = both",
    "  ciphertexts read from their code blobs (cold) and interleaved first",
    `storage/bid = code blob (192·d + 85 bytes) + one packed record slot + single-use mark + BidPlaced; paper Δ = ${PAPER_STORAGE_GROWTH_PER_10_LEVELS.toLocaleString("en-US")}`,
    `max batch = most bids one placeBids transaction fits in a ${BLOCK_GAS_LIMIT.toLocaleString("en-US")} gas block (measured by sending them)`,
    ...rows
      .filter((row) => !row.fitsOsakaTxCap)
      .map(
        (row) =>
          `n=${row.levels}: a placement exceeds Osaka's ${OSAKA_TX_GAS_CAP.toLocaleString("en-US")} gas per-transaction cap (our chain runs Prague)`,
      ),
  ];
  return [renderTable(rows, columns), "", ...notes].join("\n");
}

function roundRatios(row: GasBenchRow): GasBenchRow {
  const scale = 10 ** RATIO_DECIMALS;
  return {
    ...row,
    compareVsPrecompile: Math.round(row.compareVsPrecompile * scale) / scale,
    compareVsPaper: Math.round(row.compareVsPaper * scale) / scale,
  };
}
