// `gridveil bench fhipe`: parses flags, shows progress on stderr, prints the FHIPE table (or one JSON object) on stdout.
import type { Command } from "commander";
import { runFhipeBench, type FhipeBenchRow } from "../../../bench/fhipe.ts";
import { positiveInt } from "../../config/parsers.ts";
import { benchCommand, runBench } from "./benchCommand.ts";
import { renderTable, type Column } from "../table.ts";
import { benchDefaults } from "../../config/tools.ts";

type FhipeFlags = { levels: number[]; iterations: number; threads: number; json?: boolean };

const MAX_THREADS = 64;
const JSON_DECIMALS = 4;

export function registerBenchFhipe(bench: Command): Command {
  return benchCommand(bench, "fhipe", (command) =>
    command
      .option("--iterations <count>", "timed runs per cell (the figure is their mean)", positiveInt("--iterations"), benchDefaults.fhipe.iterations)
      .option(
        "--threads <count>",
        "threads computing each DSO-side ciphertext: the caller plus count − 1 workers (1 = no pool)",
        positiveInt("--threads", 1, MAX_THREADS),
        1,
      ),
  ).action((flags: FhipeFlags) =>
    runBench("fhipe", flags, (onProgress) => runFhipeBench({ ...flags, onProgress }), {
      json: (rows) => rows.map(roundRow),
      table: (rows) => renderFhipeTable(rows, flags),
    }),
  );
}

export function renderFhipeTable(rows: readonly FhipeBenchRow[], flags: Pick<FhipeFlags, "iterations" | "threads">): string {
  const pooled = flags.threads > 1;
  const columns: Column<FhipeBenchRow>[] = [
    { header: "n", value: (row) => row.levels },
    { header: "d", value: (row) => row.dim },
    { header: "setup ms", value: (row) => row.setupMs },
    { header: pooled ? `left ms (${flags.threads}T)` : "left ms", value: (row) => row.leftMs },
    { header: pooled ? `right ms (${flags.threads}T)` : "right ms", value: (row) => row.rightMs },
    { header: "compare ms", value: (row) => row.compareMs },
    { header: "G1 mul ms", value: (row) => row.g1MulMs },
    { header: "G2 mul ms", value: (row) => row.g2MulMs },
    { header: "left/(d·G1)", value: (row) => row.leftRatio.toFixed(3) },
    { header: "right/(d·G2)", value: (row) => row.rightRatio.toFixed(3) },
  ];
  if (pooled) {
    columns.push(
      { header: "left 1T ms", value: (row) => row.singleThreadLeftMs },
      { header: "right 1T ms", value: (row) => row.singleThreadRightMs },
      { header: "left speed-up", value: (row) => `${row.leftSpeedup.toFixed(2)}×` },
      { header: "right speed-up", value: (row) => `${row.rightSpeedup.toFixed(2)}×` },
    );
  }
  columns.push({ header: "tables ms (once)", value: (row) => row.tablesMs });
  const notes = [
    `mean over ${flags.iterations} runs per cell; left/right = K2/C2 only (d points, EVM words, randomizer included)`,
    "ratios use single-thread encryption; G1/G2 mul = one raw mcl scalar multiplication, measured interleaved in the same run",
  ];
  if (pooled) {
    notes.push(
      `${flags.threads}T = the calling thread and ${flags.threads - 1} worker(s) sharing each ciphertext's points; speed-up = 1T / ${flags.threads}T`,
    );
  }
  return [renderTable(rows, columns), "", ...notes].join("\n");
}

function roundRow(row: FhipeBenchRow): FhipeBenchRow {
  const scale = 10 ** JSON_DECIMALS;
  const rounded = Object.fromEntries(
    Object.entries(row).map(([key, value]) => [key, typeof value === "number" ? Math.round(value * scale) / scale : value]),
  );
  return rounded as FhipeBenchRow;
}
