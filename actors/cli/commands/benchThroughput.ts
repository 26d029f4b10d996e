// `gridveil bench throughput`: parses flags, shows progress on stderr, prints version 1 and version 2 side by side per
// price-level count (bids/s, one meter's latencies) beside the paper's figures, a detail table per design, and
// version 2's targets judged on this run (or one JSON object).
import { InvalidArgumentError, type Command } from "commander";
import {
  defaultBatchSize,
  PIPELINE_DEPTH,
  PLAINTEXT_BATCH_SIZE,
  PLAINTEXT_MAX_LEVELS,
  runThroughputBench,
  SLOT_LEAD_SECONDS,
  THROUGHPUT_DESIGNS,
  THROUGHPUT_MODES,
  type ThroughputDesign,
  type ThroughputMode,
  type ThroughputRow,
} from "../../../bench/throughput.ts";
import { throughputTargets } from "../../../bench/throughputTargets.ts";
import { V1_MAX_LEVELS } from "../../../bench/gas.ts";
import { positiveInt } from "../../config/parsers.ts";
import { benchCommand, runBench } from "./benchCommand.ts";
import { renderTable, type Column } from "../table.ts";
import { benchDefaults } from "../../config/tools.ts";
import { dsoDefaults } from "../../config/dso.ts";
import { gatewayDefaults } from "../../config/gateway.ts";
import { blockParams, MAX_BLOCK_WIDTH } from "../../../protocol/encoding/blockTokens.ts";
import { encryptAtSchema, type EncryptAt } from "../../../protocol/domain.ts";

type ThroughputFlags = {
  levels: number[];
  bids: number;
  meters: number;
  seed: number;
  designs: ThroughputDesign[];
  width: number;
  encryptAt: EncryptAt;
  batch?: number;
  slotBatch?: number;
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

/** A comma-separated subset of `all` (in `all`'s order), or commander's InvalidArgumentError naming the flag. */
function subsetOf<T extends string>(flag: string, all: readonly T[]) {
  return (raw: string): T[] => {
    const parts = raw
      .split(",")
      .map((part) => part.trim())
      .filter((part) => part.length > 0);
    const unknown = parts.filter((part) => !(all as readonly string[]).includes(part));
    if (parts.length === 0 || unknown.length > 0) throw new InvalidArgumentError(`${flag} takes a comma-separated subset of ${all.join(",")}, got "${raw}"`);
    return all.filter((entry) => parts.includes(entry));
  };
}

function encryptAt(raw: string): EncryptAt {
  const parsed = encryptAtSchema.safeParse(raw);
  if (!parsed.success) throw new InvalidArgumentError(`--encrypt-at must be dso or meter, got "${raw}"`);
  return parsed.data;
}

/** The width must fit every n version 2 runs at (w ≤ ⌈log2 n⌉): a flag error, before anything starts. */
function widthProblem(flags: Pick<ThroughputFlags, "levels" | "width" | "designs">): string | null {
  if (!flags.designs.includes("v2")) return null;
  for (const levels of flags.levels) {
    try {
      blockParams(levels, flags.width);
    } catch {
      return `--width ${flags.width} does not fit n = ${levels}: a block is at most ⌈log2 n⌉ = ${Math.max(1, Math.ceil(Math.log2(levels)))} bits there`;
    }
  }
  return null;
}

export function registerBenchThroughput(bench: Command): Command {
  return benchCommand(bench, "throughput", (command) =>
    command
      .option("--bids <count>", "bids per setup, design and level", positiveInt("--bids", 1, MAX_BIDS), benchDefaults.throughput.bids)
      .option(
        "--meters <count>",
        "enrolled meters whose tickets (v2: certified bids) the pre-generated bids carry",
        positiveInt("--meters", 1, MAX_METERS),
        benchDefaults.throughput.meters,
      )
      .option("--seed <n>", "seed of the random prices and sides", positiveInt("--seed", 0), 1)
      .option("--designs <list>", `designs to run: ${THROUGHPUT_DESIGNS.join(",")}`, subsetOf("--designs", THROUGHPUT_DESIGNS), [...THROUGHPUT_DESIGNS])
      .option("--width <bits>", "version 2's block width w (at most ⌈log2 n⌉ for every n)", positiveInt("--width", 1, MAX_BLOCK_WIDTH), dsoDefaults.width)
      .option("--encrypt-at <who>", "version 2: who encrypts a certified bid, dso or meter (the paper's mode)", encryptAt, dsoDefaults.encryptAt)
      .option(
        "--batch <size>",
        "version 1's bids per gateway transaction for encrypted bids (default: half of what fits a block if all match)",
        positiveInt("--batch", 1, MAX_BATCH),
      )
      .option(
        "--slot-batch <size>",
        `version 2's bids per gateway transaction (default: the gateway's ${gatewayDefaults.slotTxMaxBids}, measured to fit 2^24 gas)`,
        positiveInt("--slot-batch", 1, MAX_BATCH),
      )
      .option("--poll-interval <ms>", "the gateway's chain-follower poll interval", positiveInt("--poll-interval", 1, MAX_POLL_INTERVAL_MS))
      .option("--count-compares", "let the gateway trace each transaction to count its Compares (its default; re-executes every transaction)")
      .option("--rpc <url>", "a development chain of one's own (Hardhat's funded accounts; default: an EDR node in a child process)")
      .option("--resting", "profiling: buys below the middle level, sells above, so nothing matches and no trade runs")
      .option(
        "--modes <list>",
        `setups to run: ${THROUGHPUT_MODES.join(",")} (plaintext: once per n up to ${PLAINTEXT_MAX_LEVELS}, with version 1)`,
        subsetOf("--modes", THROUGHPUT_MODES),
        [...THROUGHPUT_MODES],
      ),
  ).action((flags: ThroughputFlags, command: Command) => {
    const problem = widthProblem(flags);
    if (problem !== null) command.error(`error: ${problem}`, { code: "commander.invalidArgument", exitCode: 1 });
    return runBench(
      "throughput",
      flags,
      (onProgress) =>
        runThroughputBench({
          levels: flags.levels,
          designs: flags.designs,
          width: flags.width,
          encryptAt: flags.encryptAt,
          bids: flags.bids,
          meters: flags.meters,
          seed: flags.seed,
          modes: flags.modes,
          countCompares: flags.countCompares === true,
          rpcUrl: flags.rpc,
          resting: flags.resting === true,
          ...(flags.batch === undefined ? {} : { batchSize: flags.batch }),
          ...(flags.slotBatch === undefined ? {} : { slotBatchSize: flags.slotBatch }),
          ...(flags.pollInterval === undefined ? {} : { pollIntervalMs: flags.pollInterval }),
          onProgress,
        }),
      { json: (rows) => rows, table: (rows) => renderThroughputTable(rows, flags) },
    );
  });
}

/** One line per n: both designs side by side. */
type LevelLine = { levels: number; v1: ThroughputRow | undefined; v2: ThroughputRow | undefined };

export function renderThroughputTable(
  rows: readonly ThroughputRow[],
  flags: Pick<ThroughputFlags, "bids" | "meters" | "batch" | "slotBatch" | "countCompares" | "resting">,
): string {
  const unfit = "does not fit";
  const rate = (value: number | null | undefined) => (value === null || value === undefined ? "—" : value);
  const share = (value: number | null) => (value === null ? "—" : `${Math.round(value * 100)} %`);
  const ratio = (a: number | null | undefined, b: number | null | undefined) =>
    a === null || a === undefined || b === null || b === undefined || b === 0 ? "—" : `${(a / b).toFixed(2)}×`;
  const v1Rate = (value: (row: ThroughputRow) => number | null) => (line: LevelLine) => (line.v1 !== undefined && !line.v1.fits ? unfit : rate(line.v1 && value(line.v1)));
  const lines: LevelLine[] = [...new Set(rows.map((row) => row.levels))].map((levels) => ({
    levels,
    v1: rows.find((row) => row.levels === levels && row.design === "v1"),
    v2: rows.find((row) => row.levels === levels && row.design === "v2"),
  }));
  const sideBySide: Column<LevelLine>[] = [
    { header: "n", value: (line) => line.levels },
    { header: "v1 1 meter", value: v1Rate((row) => row.singleMeterBidsPerS) },
    { header: "v1 pre-gen", value: v1Rate((row) => row.pregeneratedBidsPerS) },
    { header: "v2 1 meter", value: (line) => rate(line.v2?.singleMeterBidsPerS) },
    { header: "v2 pre-gen", value: (line) => rate(line.v2?.pregeneratedBidsPerS) },
    { header: "plaintext", value: (line) => rate(line.v1?.plaintextBidsPerS) },
    { header: "v2/v1 pre-gen", value: (line) => ratio(line.v2?.pregeneratedBidsPerS, line.v1?.pregeneratedBidsPerS) },
    { header: "v2 plan→placed p50 ms", value: (line) => rate(line.v2?.singleMeterLatencyP50Ms) },
    { header: "v2 Matched→terms p50 ms", value: (line) => rate(line.v2?.termsLatencyP50Ms) },
    { header: "paper 1 meter", value: (line) => rate((line.v1 ?? line.v2)?.paperSingleMeterBidsPerS) },
    { header: "paper pre-gen", value: (line) => rate((line.v1 ?? line.v2)?.paperPregeneratedBidsPerS) },
  ];
  const latency = (value: { p50: number; p90: number } | null | undefined) => (value === null || value === undefined ? "—" : `${value.p50} / ${value.p90}`);
  const detail: Column<ThroughputRow>[] = [
    { header: "design", value: (row) => row.design, align: "left" },
    { header: "n", value: (row) => row.levels },
    { header: "w", value: (row) => row.width ?? "—" },
    { header: "encrypt at", value: (row) => row.encryptAt ?? "meter (v1)", align: "left" },
    { header: "1 meter kbit/s", value: (row) => (row.fits ? rate(row.singleMeterKbitPerS) : unfit) },
    { header: "on chain", value: (row) => share(row.singleMeterOnChainShare) },
    { header: "plan→placed p50/p90 ms", value: (row) => latency(row.modes.singleMeter?.bidLatencyMs) },
    { header: "Matched→terms p50/p90 ms", value: (row) => latency(row.modes.singleMeter?.termsLatencyMs) },
    { header: "pre-gen kbit/s", value: (row) => (row.fits ? rate(row.pregeneratedKbitPerS) : unfit) },
    { header: "on chain", value: (row) => share(row.pregeneratedOnChainShare) },
    { header: "plaintext kbit/s", value: (row) => rate(row.plaintextKbitPerS) },
    { header: "on chain", value: (row) => share(row.plaintextOnChainShare) },
  ];
  const targets = throughputTargets(rows).filter((target) => target.measured !== null);
  const targetLines = targets.map(
    (target) =>
      `  ${target.met ? "met    " : "not met"}  ${target.target}: ${target.measured}${target.unit === "×" ? "×" : " ms"} (${target.kind === "atLeast" ? "≥" : "≤"} ${target.bound}${target.unit === "×" ? "×" : " ms"})`,
  );
  const batches = lines.map((line) => `n=${line.levels}: ${flags.batch ?? defaultBatchSize(line.levels)}`).join(", ");
  const notes = [
    `${flags.bids} bids per setup and design, random sides, ${flags.resting === true ? "buys below the middle level and sells above (--resting: nothing matches)" : "random levels"};`,
    "  1 meter = each bid waits for its placement notice before the next is planned;",
    `  pre-gen = bids from ${flags.meters} enrolled meters prepared in advance (v1: DSO ticket, meter's encryption and signature; v2: certified by`,
    "  the DSO on dso.certify), then published on the bids stream at once;",
    `  plaintext = the v1 feed on the bench-only PlaintextMarket (clear levels, same heaps, tickets and signatures), once per n up to ${PLAINTEXT_MAX_LEVELS} (a uint8 level)`,
    `v2: every bid for one delivery slot ${SLOT_LEAD_SECONDS / 3600} h ahead of the system clock (open all run), one book per side as in v1`,
    "bids/s = bids ÷ (first submission → last placement notice: market.placed, or in v2 the market.matched of a bid that crossed at once)",
    "kbit/s = bid submission payload bytes on the bids subject; on chain = time covered by the gateway's chain.tx spans ÷ wall time",
    "plan→placed = one meter's plan to its placement notice; Matched→terms = the gateway's receipt of the Matched transaction (end of",
    "  chain.tx) to the later terms.received of the trade's two bid sessions (in the 1-meter setup both are the one meter's)",
    `gateway: v1 bids per transaction ${batches} (plaintext ${PLAINTEXT_BATCH_SIZE}), v2 ${flags.slotBatch ?? gatewayDefaults.slotTxMaxBids};`,
    `  ${PIPELINE_DEPTH} pipelined transactions per batch, batchMaxDelayMs 0, Compare counting by trace ${flags.countCompares === true ? "on" : "off"}`,
    `v1 does not fit beyond n = ${V1_MAX_LEVELS} (a ciphertext of d = n + 1 exceeds one contract's code, EIP-170); paper = PROTOCOL §7 (n = 10 and 50 only)`,
  ];
  return [
    "bids/s, version 1 and version 2 side by side",
    renderTable(lines, sideBySide),
    "",
    "per design",
    renderTable(rows, detail),
    ...(targets.length === 0 ? [] : ["", "version 2 targets (this run):", ...targetLines]),
    "",
    ...notes,
  ].join("\n");
}
