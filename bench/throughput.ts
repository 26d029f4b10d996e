// Throughput of bidding and matching (the paper's Table 2, PROTOCOL §5, §7) with the real actors over NATS on the
// in-process chain: one meter bidding one bid at a time, pre-generated bids fed as fast as the gateway takes them,
// and the same feed on the plaintext market; bids/s, kbit/s of submitted payload and the on-chain share of the time.
import { outcomeReason } from "../machines/bidSession.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { JsonRpcProvider, Wallet } from "ethers";
import { connectNats } from "../actors/nats/connect.ts";
import { startMeterRuntime, type MeterRuntime } from "../actors/meter/runtime.ts";
import { marketSubjects } from "../protocol/wire/subjects.ts";
import { latencyByStage, percentile, type StageLatency } from "../actors/telemetry/latency.ts";
import type { SpanRecord } from "../actors/telemetry/spanRecord.ts";
import { attachPlaintextMarket } from "../contracts/client/bench/plaintextMarket.ts";
import { attachMarket, getBidCount } from "../contracts/client/index.ts";
import { parseMachineConfig, type MachineConfig } from "../machines/config.ts";
import { feedBids, pregenerateEncrypted, pregeneratePlaintext, type BenchBid, type PreparedBid } from "./throughputFeed.ts";
import { benchLogger, benchMeters, startBenchInfra, startPhaseMarket, type BenchInfra, type PhaseMarket } from "./throughputMarket.ts";
import { ThroughputBenchError } from "./errors.ts";
import { mulberry32 } from "../actors/runtime/mulberry32.ts";
import type { BenchProgress } from "./progress.ts";

export const THROUGHPUT_MODES = ["singleMeter", "pregenerated", "plaintext"] as const;
export type ThroughputMode = (typeof THROUGHPUT_MODES)[number];

/** PROTOCOL §7: the paper's bids/s with one meter, and with pre-generated bids (2× at n = 10, 1.41× at n = 50). */
export const PAPER_BIDS_PER_S: Readonly<Record<number, { singleMeter: number; pregenerated: number }>> = {
  10: { singleMeter: 1, pregenerated: 2 },
  50: { singleMeter: 0.25, pregenerated: 0.25 * 1.41 },
};

/** The chain's block gas limit: every gateway transaction gets it explicitly (EDR's estimator re-runs pairings). */
export const BENCH_GAS_LIMIT = 30_000_000n;
/** Clear-level bids cost ~0.2 M gas each: a batch this size stays far below a block. */
export const PLAINTEXT_BATCH_SIZE = 64;
/** Transactions per gateway batch: the gateway signs each while the node executes the previous one. */
export const PIPELINE_DEPTH = 8;
/** Submissions published and not yet acked by JetStream while feeding. */
export const FEED_WINDOW = 64;

export type ThroughputBenchOptions = {
  levels: readonly number[];
  /** Bids per mode and level. */
  bids: number;
  /** Enrolled meters whose tickets the pre-generated bids carry (bid i from meter i mod M). */
  meters: number;
  /** Prices and sides are drawn from this seed. */
  seed?: number;
  /** Bids per gateway transaction for encrypted bids (default: `defaultBatchSize`). */
  batchSize?: number;
  /** Transactions per gateway batch (default PIPELINE_DEPTH). */
  pipelineDepth?: number;
  /** Chain-follower poll interval of the gateway (default: the gateway's own). */
  pollIntervalMs?: number;
  /**
   * Trace every gateway transaction to count its Compares (the gateway's default). Off by default here: the trace
   * re-executes each transaction on the node, which is the bottleneck (`gridveil gateway --no-count-compares`).
   */
  countCompares?: boolean;
  /** Bids that never cross (see `benchBids`): no matches, hence no trading stage competing with the bidding path. */
  resting?: boolean;
  /** Which setups to run (default all three). */
  modes?: readonly ThroughputMode[];
  natsUrl?: string | undefined;
  /** A development chain's JSON-RPC endpoint (default: an EDR node the bench starts). */
  rpcUrl?: string | undefined;
  /** Where that EDR node runs: a child process (default, as deployed) or this process (as the demo). */
  chain?: "process" | "in-process";
  /** Where span files, DSO databases and cursors go (default: a temporary directory, removed afterwards). */
  dataDir?: string;
  onProgress?: (progress: BenchProgress) => void;
};


export type ModeResult = {
  bids: number;
  /** From the first submission (plan or publish) to the last `market.placed` notice. */
  wallMs: number;
  bidsPerS: number;
  /** Bytes of bid submissions (message payloads on the bids subject) and their rate. */
  payloadBytes: number;
  kbitPerS: number;
  /** Gateway transactions in the window, and the time covered by their `chain.tx` spans (queued → receipt). */
  txs: number;
  onChainMs: number;
  onChainShare: number;
  /** Distinct bidders with a `market.placed` notice; notices in all; bids the contract counts; matches published. */
  placed: number;
  placedNotices: number;
  onChainBids: number;
  matches: number;
  batchSize: number;
  /** Per-stage span latencies (ms) in the window. */
  stagesMs: Record<string, StageLatency>;
  /** singleMeter only: per bid, from its plan to its placed notice. */
  bidLatencyMs: { p50: number; p90: number; max: number } | null;
};

export type ThroughputRow = {
  levels: number;
  bids: number;
  singleMeterBidsPerS: number | null;
  singleMeterKbitPerS: number | null;
  singleMeterOnChainShare: number | null;
  pregeneratedBidsPerS: number | null;
  pregeneratedKbitPerS: number | null;
  pregeneratedOnChainShare: number | null;
  plaintextBidsPerS: number | null;
  plaintextKbitPerS: number | null;
  plaintextOnChainShare: number | null;
  paperSingleMeterBidsPerS: number | null;
  paperPregeneratedBidsPerS: number | null;
  modes: Partial<Record<ThroughputMode, ModeResult>>;
};

const STAGES = ["meter.ticket", "meter.encrypt", "meter.submit", "gateway.bid", "gateway.batch", "chain.tx"];
const PLACEMENT_TIMEOUT_MS = 120_000;
const METER_STOP_TIMEOUT_MS = 1_000;
const QUANTITY_WH = 1_000;

/** Gas of a bid that matches in a book of ~100 bids, from docs/contract.md (`bench gas`): ≈ 0.87 M + 0.278 M·n. */
export function matchingGasEstimate(levels: number): number {
  return 870_000 + 278_000 * levels;
}

/**
 * Bids per transaction: half of what one block holds if every bid matches, at least one. Headroom, because a book
 * larger than `bench gas`'s makes a match dearer and a transaction out of gas is executed twice (measured at n = 50,
 * 300 bids: 2 per transaction 7.2 bids/s with 6 out-of-gas retries, 1 per transaction 8.5); and small transactions
 * keep the pipeline fine-grained (n = 10: 8 per transaction 30 bids/s, 4 per transaction 34, 1 per transaction 34).
 */
export function defaultBatchSize(levels: number): number {
  return Math.max(1, Math.floor(Number(BENCH_GAS_LIMIT) / matchingGasEstimate(levels) / 2));
}


/**
 * Random levels and sides, so that bids match and rest as in the paper. `resting`: buys below the middle level and
 * sells at or above it, so nothing ever matches (no trading stage: the bidding path alone, for profiling).
 */
export function benchBids(count: number, levels: number, seed: number, resting = false): BenchBid[] {
  const random = mulberry32(seed);
  const middle = Math.floor(levels / 2);
  return Array.from({ length: count }, () => {
    const side = random() < 0.5 ? 0 : 1;
    const draw = random();
    const priceLevel = !resting
      ? Math.floor(draw * levels)
      : side === 0
        ? Math.floor(draw * middle)
        : middle + Math.floor(draw * (levels - middle));
    return { side, priceLevel: Math.min(levels - 1, priceLevel), quantityWh: QUANTITY_WH };
  });
}

function benchConfig(bids: number, batchSize: number, pipelineDepth: number): MachineConfig {
  return parseMachineConfig({
    // Resting bids keep their session open: the single meter needs one per bid.
    meter: { maxConcurrentBids: bids + 1, bidLifetimeSeconds: 3_600, deliveryDurationMs: 50 },
    // No artificial wait: a batch leaves as soon as the previous one is mined; bids that arrive meanwhile batch up,
    // up to `pipelineDepth` transactions of `batchSize` bids.
    gateway: { batchMaxSize: batchSize * pipelineDepth, batchMaxDelayMs: 0 },
  });
}

export async function runThroughputBench(options: ThroughputBenchOptions): Promise<ThroughputRow[]> {
  const modes = options.modes ?? THROUGHPUT_MODES;
  const seed = options.seed ?? 1;
  const ownDir = options.dataDir === undefined;
  const root = options.dataDir ?? mkdtempSync(join(tmpdir(), "gridveil-bench-throughput-"));
  const run = randomBytes(3).toString("hex");
  const unitsPerLevel = modes.reduce((sum, mode) => sum + (mode === "singleMeter" ? 1 : 2), 0) * options.bids;
  const total = unitsPerLevel * options.levels.length;
  let completed = 0;
  const report = (phase: string, units = 0) => {
    completed += units;
    options.onProgress?.({ phase, completed: Math.min(completed, total), total });
  };

  const infra = await startBenchInfra({ natsUrl: options.natsUrl, rpcUrl: options.rpcUrl, chain: options.chain ?? "process" });
  const rows: ThroughputRow[] = [];
  try {
    for (const [levelIndex, levels] of options.levels.entries()) {
      const bids = benchBids(options.bids, levels, seed + levelIndex, options.resting ?? false);
      const batchSize = options.batchSize ?? defaultBatchSize(levels);
      const results: Partial<Record<ThroughputMode, ModeResult>> = {};
      for (const mode of modes) {
        const context: PhaseContext = {
          infra,
          levels,
          bids,
          meters: options.meters,
          batchSize: mode === "plaintext" ? PLAINTEXT_BATCH_SIZE : batchSize,
          pollIntervalMs: options.pollIntervalMs,
          pipelineDepth: options.pipelineDepth ?? PIPELINE_DEPTH,
          countCompares: options.countCompares ?? false,
          marketId: `bench-${run}-n${levels}-${mode.toLowerCase()}`,
          dataDir: join(root, `n${levels}-${mode}`),
          report: (units) => report(`n=${levels}: ${mode}`, units),
        };
        report(`n=${levels}: ${mode}`);
        results[mode] = await runPhase(mode, context);
      }
      rows.push(rowOf(levels, options.bids, results));
    }
    return rows;
  } finally {
    await infra.stop();
    if (ownDir) rmSync(root, { recursive: true, force: true });
  }
}

type PhaseContext = {
  infra: BenchInfra;
  levels: number;
  bids: readonly BenchBid[];
  meters: number;
  batchSize: number;
  pollIntervalMs: number | undefined;
  pipelineDepth: number;
  countCompares: boolean;
  marketId: string;
  dataDir: string;
  report(units: number): void;
};

/** What a phase measured before its market stopped (spans are read afterwards). */
type Window = { startedAt: number; endedAt: number; payloadBytes: number; bidLatencies: number[] | null };

async function runPhase(mode: ThroughputMode, context: PhaseContext): Promise<ModeResult> {
  const singleMeter = benchMeters("single-meter", 1);
  const feeders = benchMeters("feeder", context.meters);
  const market = await startPhaseMarket({
    infra: context.infra,
    marketId: context.marketId,
    levels: context.levels,
    dataDir: context.dataDir,
    config: benchConfig(context.bids.length, context.batchSize, context.pipelineDepth),
    kind: mode === "plaintext" ? { encrypted: false } : { encrypted: true, registry: [...singleMeter, ...feeders] },
    pollIntervalMs: context.pollIntervalMs ?? 100,
    gasLimit: BENCH_GAS_LIMIT,
    txMaxBids: context.batchSize,
    countCompares: context.countCompares,
  });
  let window: Window;
  let spans: SpanRecord[];
  try {
    const payload = await countSubmittedBytes(context.infra.natsUrl, context.marketId);
    try {
      window =
        mode === "singleMeter"
          ? await runSingleMeter(market, context, singleMeter[0]!, payload)
          : await runFed(mode, market, context, feeders, payload);
    } finally {
      await payload.stop();
    }
  } finally {
    spans = await market.stop();
  }
  return resultOf(market, context, window, spans);
}

type ByteCounter = { bytes(): number; reset(): void; stop(): Promise<void> };

/** Sums the payloads published on the market's bids subject (a plain subscriber sees every JetStream publish). */
async function countSubmittedBytes(natsUrl: string, marketId: string): Promise<ByteCounter> {
  const { nc } = await connectNats({ url: natsUrl, name: "gridveil-bench-bytes" });
  let bytes = 0;
  const subscription = nc.subscribe(marketSubjects(marketId).gateway.submit, {
    callback: (_error, msg) => {
      bytes += msg.data.length;
    },
  });
  await nc.flush();
  return {
    bytes: () => bytes,
    reset: () => {
      bytes = 0;
    },
    stop: async () => {
      subscription.unsubscribe();
      await nc.drain().catch(() => undefined);
    },
  };
}

/** The paper's first setup: one meter, each bid waits for its result (its placed notice) before the next is planned. */
async function runSingleMeter(market: PhaseMarket, context: PhaseContext, meter: ReturnType<typeof benchMeters>[number], payload: ByteCounter): Promise<Window> {
  const runtime: MeterRuntime = await startMeterRuntime({
    marketId: context.marketId,
    natsUrl: context.infra.natsUrl,
    rpcUrl: context.infra.rpcUrl,
    meterId: meter.meterId,
    meterPrivateKey: meter.key,
    name: meter.name,
    tracer: market.telemetry("gridveil-meter", {}).tracer,
    logger: benchLogger({ actor: `meter:${meter.meterId}`, market: context.marketId }),
    config: benchConfig(context.bids.length, context.batchSize, context.pipelineDepth),
    stopTimeoutMs: METER_STOP_TIMEOUT_MS,
  });
  try {
    await runtime.enrolled;
    const submissions = new Map<string, string>();
    const failures = new Map<string, string>();
    const wakers = new Set<() => void>();
    runtime.events.on("submitted", ({ planId, bidder }) => {
      submissions.set(planId, bidder);
      for (const wake of [...wakers]) wake();
    });
    runtime.events.on("session", ({ planId, outcome }) => {
      if (outcome !== null && (outcome.kind === "failed" || outcome.kind === "rejected")) {
        failures.set(planId, outcomeReason(outcome) ?? outcome.kind);
        for (const wake of [...wakers]) wake();
      }
    });
    const submitted = (planId: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const check = (): boolean => {
          const failure = failures.get(planId);
          if (failure !== undefined) {
            reject(new ThroughputBenchError({ kind: "singleMeterFailed", planId, failure }));
            return true;
          }
          const bidder = submissions.get(planId);
          if (bidder !== undefined) {
            resolve(bidder);
            return true;
          }
          return false;
        };
        if (check()) return;
        const wake = () => {
          if (check()) wakers.delete(wake);
        };
        wakers.add(wake);
      });

    payload.reset();
    const startedAt = performance.now();
    const latencies: number[] = [];
    for (const [index, bid] of context.bids.entries()) {
      const planId = `bench-${index}`;
      const plannedAt = performance.now();
      runtime.plan([{ planId, side: bid.side === 0 ? "buy" : "sell", priceLevel: bid.priceLevel, quantityWh: bid.quantityWh }]);
      const bidder = await submitted(planId);
      const placedAt = await market.placements.whenPlaced(bidder, PLACEMENT_TIMEOUT_MS);
      latencies.push(placedAt - plannedAt);
      context.report(1);
    }
    return { startedAt, endedAt: Math.max(...market.placements.placed.values()), payloadBytes: payload.bytes(), bidLatencies: latencies };
  } finally {
    // The gateway first: a stopping meter withdraws its resting bids, and relaying hundreds of cancels would only
    // slow the bench down (the chain is thrown away).
    await market.gateway.stop();
    await runtime.stop();
  }
}

/** The paper's second setup (and the plaintext baseline): bids prepared in advance, then published at once. */
async function runFed(
  mode: Exclude<ThroughputMode, "singleMeter">,
  market: PhaseMarket,
  context: PhaseContext,
  feeders: ReturnType<typeof benchMeters>,
  payload: ByteCounter,
): Promise<Window> {
  let prepared: PreparedBid[];
  if (mode === "pregenerated") {
    prepared = await pregenerateEncrypted({
      natsUrl: context.infra.natsUrl,
      marketId: context.marketId,
      levels: context.levels,
      meters: feeders,
      bids: context.bids,
      onBid: () => context.report(1),
    });
  } else {
    const provider = new JsonRpcProvider(context.infra.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
    try {
      const plaintext = await attachPlaintextMarket(market.contractAddress, provider);
      prepared = await pregeneratePlaintext({
        dsoKey: new Wallet(context.infra.accountKeys[0]!),
        domain: plaintext.domain,
        bids: context.bids,
        onBid: () => context.report(1),
      });
    } finally {
      provider.destroy();
    }
  }
  const { js, nc } = await connectNats({ url: context.infra.natsUrl, name: "gridveil-bench-feed" });
  try {
    payload.reset();
    let reported = 0;
    const progress = setInterval(() => {
      const now = market.placements.placed.size;
      context.report(now - reported);
      reported = now;
    }, 250);
    try {
      const feed = await feedBids(js, context.marketId, prepared, FEED_WINDOW);
      const endedAt = await market.placements.whenCount(prepared.length, PLACEMENT_TIMEOUT_MS + prepared.length * 5_000);
      return { startedAt: feed.startedAt, endedAt, payloadBytes: payload.bytes(), bidLatencies: null };
    } finally {
      clearInterval(progress);
      context.report(market.placements.placed.size - reported);
    }
  } finally {
    await nc.drain().catch(() => undefined);
  }
}

async function resultOf(market: PhaseMarket, context: PhaseContext, window: Window, spans: readonly SpanRecord[]): Promise<ModeResult> {
  const wallMs = window.endedAt - window.startedAt;
  // Span times are epoch milliseconds; the window was measured with performance.now().
  const fromMs = performance.timeOrigin + window.startedAt;
  const toMs = performance.timeOrigin + window.endedAt;
  const inWindow = spans.filter((span) => span.startMs >= fromMs && span.startMs <= toMs);
  const txSpans = inWindow.filter((span) => span.name === "chain.tx");
  const onChainMs = coveredMs(txSpans.map((span) => [span.startMs, Math.min(span.startMs + span.durationMs, toMs)] as const));
  const placed = market.placements;
  const provider = new JsonRpcProvider(context.infra.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
  let onChainBids: number;
  try {
    onChainBids = Number(await getBidCount(await attachMarket(market.contractAddress, provider)));
  } finally {
    provider.destroy();
  }
  const seconds = wallMs / 1000;
  const latencies = window.bidLatencies?.slice().sort((a, b) => a - b) ?? null;
  const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;
  return {
    bids: context.bids.length,
    wallMs: Math.round(wallMs),
    bidsPerS: round(context.bids.length / seconds),
    payloadBytes: window.payloadBytes,
    kbitPerS: round((window.payloadBytes * 8) / 1000 / seconds, 1),
    txs: txSpans.length,
    onChainMs: Math.round(onChainMs),
    onChainShare: round(onChainMs / wallMs, 3),
    placed: placed.placed.size,
    placedNotices: [...placed.noticesPerBidder.values()].reduce((sum, count) => sum + count, 0),
    onChainBids,
    matches: placed.matches(),
    batchSize: context.batchSize,
    stagesMs: latencyByStage(inWindow, STAGES),
    bidLatencyMs:
      latencies === null || latencies.length === 0
        ? null
        : { p50: round(percentile(latencies, 0.5)), p90: round(percentile(latencies, 0.9)), max: round(latencies.at(-1)!) },
  };
}

/**
 * Time covered by at least one interval. Pipelined transactions overlap (the next is signed and queued while the
 * node executes the previous one), so their sum would exceed the wall time.
 */
function coveredMs(intervals: readonly (readonly [number, number])[]): number {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  let covered = 0;
  let reach = Number.NEGATIVE_INFINITY;
  for (const [start, end] of sorted) {
    if (end <= reach) continue;
    covered += end - Math.max(start, reach);
    reach = end;
  }
  return covered;
}

function rowOf(levels: number, bids: number, modes: Partial<Record<ThroughputMode, ModeResult>>): ThroughputRow {
  const paper = PAPER_BIDS_PER_S[levels];
  return {
    levels,
    bids,
    singleMeterBidsPerS: modes.singleMeter?.bidsPerS ?? null,
    singleMeterKbitPerS: modes.singleMeter?.kbitPerS ?? null,
    singleMeterOnChainShare: modes.singleMeter?.onChainShare ?? null,
    pregeneratedBidsPerS: modes.pregenerated?.bidsPerS ?? null,
    pregeneratedKbitPerS: modes.pregenerated?.kbitPerS ?? null,
    pregeneratedOnChainShare: modes.pregenerated?.onChainShare ?? null,
    plaintextBidsPerS: modes.plaintext?.bidsPerS ?? null,
    plaintextKbitPerS: modes.plaintext?.kbitPerS ?? null,
    plaintextOnChainShare: modes.plaintext?.onChainShare ?? null,
    paperSingleMeterBidsPerS: paper?.singleMeter ?? null,
    paperPregeneratedBidsPerS: paper === undefined ? null : Math.round(paper.pregenerated * 100) / 100,
    modes,
  };
}
