// `gridveil bench throughput`: parses flags, shows progress on stderr, prints bids/s, kbit/s and the on-chain share
// per price-level count beside the paper's figures (or one JSON object).
import { InvalidArgumentError, type Command } from "commander";
import {
  defaultBatchSize,
  PIPELINE_DEPTH,
  PLAINTEXT_BATCH_SIZE,
  runThroughputBench,
  THROUGHPUT_MODES,
  type ThroughputMode,
  type ThroughputRow,
} from "../../../bench/throughput.ts";
import { intList, positiveInt } from "../../config/parsers.ts";
import { benchCommand, runBench } from "./benchCommand.ts";
import { renderTable, type Column } from "../table.ts";
import { benchDefaults } from "../../config/tools.ts";

type ThroughputFlags = {
  levels: number[];
  bids: number;
  meters: number;
  seed: number;
  batch?: number;
  pollInterval?: number;
  modes: ThroughputMode[];
  countCompares?: boolean;
  rpc?: string;
  resting?: boolean;
  json?: boolean;
};

const MAX_BIDS = 100_000;
const MAX_METERS = 1_000;
const MAX_BATCH = 1_000;
const MAX_POLL_INTERVAL_MS = 10_000;

function modeList(raw: string): ThroughputMode[] {
  const modes = raw
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  const unknown = modes.filter((mode) => !(THROUGHPUT_MODES as readonly string[]).includes(mode));
  if (modes.length === 0 || unknown.length > 0) {
    throw new InvalidArgumentError(`--modes takes a comma-separated subset of ${THROUGHPUT_MODES.join(",")}, got "${raw}"`);
  }
  return THROUGHPUT_MODES.filter((mode) => modes.includes(mode));
}

export function registerBenchThroughput(bench: Command): Command {
  return benchCommand(bench, "throughput", (command) =>
    command
      .option("--bids <count>", "bids per setup and level", positiveInt("--bids", 1, MAX_BIDS), benchDefaults.throughput.bids)
      .option(
        "--meters <count>",
        "enrolled meters whose tickets the pre-generated bids carry",
        positiveInt("--meters", 1, MAX_METERS),
        benchDefaults.throughput.meters,
      )
      .option("--seed <n>", "seed of the random prices and sides", positiveInt("--seed", 0), 1)
      .option(
        "--batch <size>",
        "bids per gateway transaction for encrypted bids (default: half of what fits a block if all match)",
        positiveInt("--batch", 1, MAX_BATCH),
      )
      .option("--poll-interval <ms>", "the gateway's chain-follower poll interval", positiveInt("--poll-interval", 1, MAX_POLL_INTERVAL_MS))
      .option("--count-compares", "let the gateway trace each transaction to count its Compares (its default; re-executes every transaction)")
      .option("--rpc <url>", "a development chain of one's own (Hardhat's funded accounts; default: an EDR node in a child process)")
      .option("--resting", "profiling: buys below the middle level, sells above, so nothing matches and no trade runs")
      .option("--modes <list>", `setups to run: ${THROUGHPUT_MODES.join(",")}`, modeList, [...THROUGHPUT_MODES]),
  ).action((flags: ThroughputFlags) =>
    runBench(
      "throughput",
      flags,
      (onProgress) =>
        runThroughputBench({
          levels: flags.levels,
          bids: flags.bids,
          meters: flags.meters,
          seed: flags.seed,
          modes: flags.modes,
          countCompares: flags.countCompares === true,
          rpcUrl: flags.rpc,
          resting: flags.resting === true,
          ...(flags.batch === undefined ? {} : { batchSize: flags.batch }),
          ...(flags.pollInterval === undefined ? {} : { pollIntervalMs: flags.pollInterval }),
          onProgress,
        }),
      { json: (rows) => rows, table: (rows) => renderThroughputTable(rows, flags) },
    ),
  );
}

export function renderThroughputTable(
  rows: readonly ThroughputRow[],
  flags: Pick<ThroughputFlags, "bids" | "meters" | "batch" | "countCompares" | "resting">,
): string {
  const rate = (value: number | null) => (value === null ? "—" : value);
  const share = (value: number | null) => (value === null ? "—" : `${Math.round(value * 100)} %`);
  const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? "—" : `${(a / b).toFixed(2)}×`);
  const columns: Column<ThroughputRow>[] = [
    { header: "n", value: (row) => row.levels },
    { header: "1 meter bids/s", value: (row) => rate(row.singleMeterBidsPerS) },
    { header: "kbit/s", value: (row) => rate(row.singleMeterKbitPerS) },
    { header: "on chain", value: (row) => share(row.singleMeterOnChainShare) },
    { header: "pre-gen bids/s", value: (row) => rate(row.pregeneratedBidsPerS) },
    { header: "kbit/s", value: (row) => rate(row.pregeneratedKbitPerS) },
    { header: "on chain", value: (row) => share(row.pregeneratedOnChainShare) },
    { header: "plaintext bids/s", value: (row) => rate(row.plaintextBidsPerS) },
    { header: "kbit/s", value: (row) => rate(row.plaintextKbitPerS) },
    { header: "on chain", value: (row) => share(row.plaintextOnChainShare) },
    { header: "pre-gen/1 meter", value: (row) => ratio(row.pregeneratedBidsPerS, row.singleMeterBidsPerS) },
    { header: "plaintext/pre-gen", value: (row) => ratio(row.plaintextBidsPerS, row.pregeneratedBidsPerS) },
    { header: "paper 1 meter", value: (row) => rate(row.paperSingleMeterBidsPerS) },
    { header: "paper pre-gen", value: (row) => rate(row.paperPregeneratedBidsPerS) },
  ];
  const batches = rows.map((row) => `n=${row.levels}: ${flags.batch ?? defaultBatchSize(row.levels)}`).join(", ");
  const notes = [
    `${flags.bids} bids per setup, random sides, ${flags.resting === true ? "buys below the middle level and sells above (--resting: nothing matches)" : "random levels"};`,
    "  1 meter = each bid waits for its market.placed notice before the next;",
    `  pre-gen = bids from ${flags.meters} enrolled meters ticketed, encrypted and signed in advance, then published at once;`,
    "  plaintext = the same feed on the bench-only PlaintextMarket (clear levels, same heaps, tickets and signatures)",
    "bids/s = bids ÷ (first submission → last market.placed); kbit/s = bid submission payload bytes on the bids subject",
    "on chain = time covered by the gateway's chain.tx spans (signed and queued → receipt; pipelined ones overlap) ÷ wall time",
    `gateway: bids per transaction ${batches} (plaintext ${PLAINTEXT_BATCH_SIZE}), ${PIPELINE_DEPTH} pipelined transactions per batch, batchMaxDelayMs 0,`,
    `  Compare counting by trace ${flags.countCompares === true ? "on" : "off"}`,
    "paper = PROTOCOL §7 (n = 10 and 50 only)",
  ];
  return [renderTable(rows, columns), "", ...notes].join("\n");
}
