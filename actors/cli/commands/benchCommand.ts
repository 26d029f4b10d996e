// What every `gridveil bench …` command shares: a --levels list, a --json flag, progress on stderr, and one report on
// stdout (a table for people, or one JSON object `{ <bench>: rows }` for machines).
import type { Command } from "commander";
import { intList } from "../../config/parsers.ts";
import { benchDefaults } from "../../config/tools.ts";
import { withProgress, type Progress } from "../progress.ts";
import { MAX_PRICE_LEVELS } from "../../../protocol/marketConfig.ts";

const LEVELS_AND_DIM = "price level counts n, comma-separated (d = n + 1)";
/** d = n + 1 ≤ 127 so that one ciphertext fits one contract's code (EIP-170). */
const MAX_CHAIN_LEVELS = 126;
/** Version 2 at w = 1 and 2^16 levels: 17 tokens per half. */
const MAX_GAS_LEVELS = 65_536;

/** Each benchmark: what --help says of it, and the price level counts n its --levels accepts. */
const BENCHES = {
  fhipe: {
    description: "FHIPE times per price-level count (the paper's Table 1) next to raw G1/G2 scalar multiplications",
    levels: { min: 1, max: 1000, help: LEVELS_AND_DIM },
  },
  gas: {
    description:
      "gas of version 1 and version 2 side by side: one order test, resting and matching bids, storage, calldata and the largest batches under Osaka's cap, beside the paper",
    levels: { min: 2, max: MAX_GAS_LEVELS, help: "price level counts n, comma-separated (v1: d = n + 1, up to 126; v2: up to 65,536)" },
  },
  throughput: {
    description:
      "bids/s and kbit/s of bidding + matching with the real actors over NATS on the local chain, version 1 and version 2 side by side (the paper's Table 2)",
    levels: {
      min: 2,
      max: MAX_PRICE_LEVELS,
      help: `price level counts n, comma-separated (v1 up to ${MAX_CHAIN_LEVELS}, beyond it "does not fit"; v2 up to the market's ${MAX_PRICE_LEVELS.toLocaleString("en-US")})`,
    },
  },
} as const;

export type BenchName = keyof typeof BENCHES;

/** A bench subcommand with --levels first (defaults: actors/config/tools.ts), the bench's own `options`, then --json. */
export function benchCommand(bench: Command, name: BenchName, options: (command: Command) => Command): Command {
  const { description, levels } = BENCHES[name];
  const command = bench
    .command(name)
    .description(description)
    .option("--levels <list>", levels.help, intList("--levels", levels.min, levels.max), [...benchDefaults[name].levels]);
  return options(command).option("--json", "print one JSON object instead of the table");
}

/** Runs a bench with progress on stderr, then prints `{ [name]: json(rows) }` with --json, else the table. */
export async function runBench<R>(
  name: BenchName | "load" | "soak" | "leakage" | "hints",
  flags: { json?: boolean },
  run: (onProgress: Progress["update"]) => Promise<R[]>,
  render: { json: (rows: R[]) => unknown; table: (rows: R[]) => string },
): Promise<void> {
  const rows = await withProgress(`bench ${name}`, run);
  process.stdout.write(flags.json ? `${JSON.stringify({ [name]: render.json(rows) })}\n` : `${render.table(rows)}\n`);
}
