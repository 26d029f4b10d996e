// Throughput of bidding and matching (the paper's Table 2, PROTOCOL §5, §7) with the real actors over NATS on the
// local chain, version 1 and version 2 side by side: one meter bidding one bid at a time, pre-generated bids fed as
// fast as the gateway takes them (version 2: certified by the DSO in advance), and the same feed on the plaintext
// market; bids/s, kbit/s of submitted payload, the on-chain share of the time, and (one meter) plan → placed and
// Matched → both sessions hold their terms.
import { outcomeReason } from "../machines/bidSession.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { JsonRpcProvider, Wallet } from "ethers";
import { connectNats } from "../actors/nats/connect.ts";
import { startMeterRuntime, type MeterRuntime } from "../actors/meter/runtime.ts";
import type { GatewayCounters } from "../actors/gateway/runtime.ts";
import { marketSubjects } from "../protocol/wire/subjects.ts";
import { latencyByStage, percentile, type StageLatency } from "../actors/telemetry/latency.ts";
import type { SpanRecord } from "../actors/telemetry/spanRecord.ts";
import { attachPlaintextMarket } from "../contracts/client/bench/plaintextMarket.ts";
import { parseMachineConfig, type MachineConfig } from "../machines/config.ts";
import { feedBids, pregenerateCertified, pregenerateEncrypted, pregeneratePlaintext, type BenchBid, type PreparedBid } from "./throughputFeed.ts";
import { termsLatency, type TermsLatency } from "./throughputTerms.ts";
import { v1Unfit } from "./gas.ts";
import { dsoDefaults } from "../actors/config/dso.ts";
import { gatewayDefaults } from "../actors/config/gateway.ts";
import { blockParams } from "../protocol/encoding/blockTokens.ts";
import type { EncryptAt } from "../protocol/domain.ts";
import type { SlotCalendar } from "../protocol/book/slotBooks.ts";
import { benchLogger, benchMeters, startBenchInfra, startPhaseMarket, type BenchInfra, type PhaseMarket } from "./throughputMarket.ts";
import { ThroughputBenchError } from "./errors.ts";
import { mulberry32 } from "../actors/runtime/mulberry32.ts";
import type { BenchProgress } from "./progress.ts";

export const THROUGHPUT_MODES = ["singleMeter", "pregenerated", "plaintext"] as const;
export type ThroughputMode = (typeof THROUGHPUT_MODES)[number];
export const THROUGHPUT_DESIGNS = ["v1", "v2"] as const;
export type ThroughputDesign = (typeof THROUGHPUT_DESIGNS)[number];

/** PROTOCOL §7: the paper's bids/s with one meter, and with pre-generated bids (2× at n = 10, 1.41× at n = 50). */
export const PAPER_BIDS_PER_S: Readonly<Record<number, { singleMeter: number; pregenerated: number }>> = {
  10: { singleMeter: 1, pregenerated: 2 },
  50: { singleMeter: 0.25, pregenerated: 0.25 * 1.41 },
};

/** The chain's block gas limit: every gateway transaction gets it explicitly (EDR's estimator re-runs pairings). */
export const BENCH_GAS_LIMIT = 30_000_000n;
/** Clear-level bids cost ~0.2 M gas each: a batch this size stays far below a block. */
export const PLAINTEXT_BATCH_SIZE = 64;
/** The plaintext market keeps a clear level as a uint8 (contracts/src/bench/PlaintextMarket.sol `MAX_LEVELS`). */
export const PLAINTEXT_MAX_LEVELS = 256;
/** Transactions per gateway batch: the gateway signs each while the node executes the previous one. */
export const PIPELINE_DEPTH = 8;
/** Submissions published and not yet acked by JetStream while feeding. */
export const FEED_WINDOW = 64;
/**
 * Version 2: every bid is for one delivery slot this far ahead of the system clock (market seconds): open for the
 * whole run (its gate closure hours away, its epoch's key prepared), and one book per side as in version 1.
 */
export const SLOT_LEAD_SECONDS = 3 * 3600;

export type ThroughputBenchOptions = {
  levels: readonly number[];
  /** Which designs to run (default both). Version 1 beyond its level bound reports why it does not fit. */
  designs?: readonly ThroughputDesign[];
  /** Version 2's block width w (default `dsoDefaults.width`). */
  width?: number;
  /** Version 2: who encrypts a certified bid (default `dsoDefaults.encryptAt`). */
  encryptAt?: EncryptAt;
  /** Version 2's bids per gateway transaction (default the gateway's `slotTxMaxBids`). */
  slotBatchSize?: number;
  /** Bids per mode and level. */
  bids: number;
  /** Enrolled meters whose tickets the pre-generated bids carry (bid i from meter i mod M). */
  meters: number;
  /** Prices and sides are drawn from this seed. */
  seed?: number;
  /** Version 1's bids per gateway transaction for encrypted bids (default: `defaultBatchSize`). */
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
  /** Which setups to run (default all three; the plaintext baseline runs once per level, in version 1's row). */
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
  /** singleMeter only: per bid, from its plan to its placement notice (version 2: `market.placed` or its match). */
  bidLatencyMs: { p50: number; p90: number; max: number } | null;
  /** singleMeter only: Matched → both sessions hold their terms (bench/throughputTerms.ts); null without a match. */
  termsLatencyMs: TermsLatency | null;
  /** The gateway's counters at the end of the phase (version 2: its slot placer's, hint sources' and sweeper's too). */
  gateway: Omit<GatewayCounters, "gasUsed"> & { gasUsed: string };
};

export type ThroughputRow = {
  design: ThroughputDesign;
  levels: number;
  /** Version 2's block width; null for version 1 (unary). */
  width: number | null;
  /** Version 2: who encrypts certified bids; null for version 1 (its meters encrypt, the paper's mode). */
  encryptAt: EncryptAt | null;
  /** False for version 1 beyond its bound: its encrypted setups did not run (`reason`); the plaintext baseline did. */
  fits: boolean;
  reason: string | null;
  bids: number;
  singleMeterBidsPerS: number | null;
  singleMeterKbitPerS: number | null;
  singleMeterOnChainShare: number | null;
  /** One meter: plan → placed, p50 (ms). */
  singleMeterLatencyP50Ms: number | null;
  /** One meter: Matched → both sessions hold their terms, p50 (ms). */
  termsLatencyP50Ms: number | null;
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

const STAGES: Record<ThroughputDesign, readonly string[]> = {
  v1: ["meter.ticket", "meter.encrypt", "meter.submit", "gateway.bid", "gateway.batch", "chain.tx", "meter.match", "dso.terms"],
  v2: ["meter.certify", "dso.certify", "meter.submit", "gateway.bid", "gateway.batch", "chain.tx", "meter.match", "dso.terms"],
};
const PLACEMENT_TIMEOUT_MS = 120_000;
const METER_STOP_TIMEOUT_MS = 1_000;
/** After one meter's last placement: how long its last trades may take to reach their terms (not timed). */
const TERMS_WAIT_MS = 30_000;
const TERMS_POLL_MS = 20;
/** And then a little longer for the sealed terms the DSO just sent to arrive. */
const TERMS_GRACE_MS = 300;
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

/** Version 2: the delivery slot of every bench bid, `SLOT_LEAD_SECONDS` after `now` (Unix seconds). */
export function benchSlot(calendar: SlotCalendar, now: number): number {
  return Math.floor(now / calendar.slotSeconds) + Math.ceil(SLOT_LEAD_SECONDS / calendar.slotSeconds);
}

/**
 * The setups each design runs at `levels`: version 1 beyond its bound only the plaintext baseline (up to the plaintext
 * market's own bound), version 2 never it.
 */
export function designModes(design: ThroughputDesign, levels: number, modes: readonly ThroughputMode[]): ThroughputMode[] {
  if (design === "v2") return modes.filter((mode) => mode !== "plaintext");
  const withBaseline = levels <= PLAINTEXT_MAX_LEVELS ? modes : modes.filter((mode) => mode !== "plaintext");
  return v1Unfit(levels) === null ? [...withBaseline] : withBaseline.filter((mode) => mode === "plaintext");
}

export async function runThroughputBench(options: ThroughputBenchOptions): Promise<ThroughputRow[]> {
  const modes = options.modes ?? THROUGHPUT_MODES;
  const designs = THROUGHPUT_DESIGNS.filter((design) => (options.designs ?? THROUGHPUT_DESIGNS).includes(design));
  const width = options.width ?? dsoDefaults.width;
  const encryptAt = options.encryptAt ?? dsoDefaults.encryptAt;
  // A width the levels cannot take fails here, before anything starts (BlockWidthError names both).
  if (designs.includes("v2")) for (const levels of options.levels) blockParams(levels, width);
  const seed = options.seed ?? 1;
  const ownDir = options.dataDir === undefined;
  const root = options.dataDir ?? mkdtempSync(join(tmpdir(), "gridveil-bench-throughput-"));
  const run = randomBytes(3).toString("hex");
  const unitsOf = (levels: number) =>
    designs.flatMap((design) => designModes(design, levels, modes)).reduce((sum, mode) => sum + (mode === "singleMeter" ? 1 : 2), 0) * options.bids;
  const total = options.levels.reduce((sum, levels) => sum + unitsOf(levels), 0);
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
      for (const design of designs) {
        const batchSize = design === "v1" ? (options.batchSize ?? defaultBatchSize(levels)) : (options.slotBatchSize ?? gatewayDefaults.slotTxMaxBids);
        const results: Partial<Record<ThroughputMode, ModeResult>> = {};
        for (const mode of designModes(design, levels, modes)) {
          const phase = `n=${levels} ${design}: ${mode}`;
          const context: PhaseContext = {
            infra,
            design,
            width,
            encryptAt,
            levels,
            bids,
            meters: options.meters,
            batchSize: mode === "plaintext" ? PLAINTEXT_BATCH_SIZE : batchSize,
            pollIntervalMs: options.pollIntervalMs,
            pipelineDepth: options.pipelineDepth ?? PIPELINE_DEPTH,
            countCompares: options.countCompares ?? false,
            marketId: `bench-${run}-n${levels}-${mode === "plaintext" ? "" : design}${mode.toLowerCase()}`,
            dataDir: join(root, `n${levels}-${mode === "plaintext" ? "" : `${design}-`}${mode}`),
            report: (units) => report(phase, units),
          };
          report(phase);
          results[mode] = await runPhase(mode, context);
        }
        rows.push(rowOf({ design, levels, width, encryptAt, bids: options.bids, modes: results }));
      }
    }
    return rows;
  } finally {
    await infra.stop();
    if (ownDir) rmSync(root, { recursive: true, force: true });
  }
}

type PhaseContext = {
  infra: BenchInfra;
  design: ThroughputDesign;
  width: number;
  encryptAt: EncryptAt;
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
  const registry = [...singleMeter, ...feeders];
  const market = await startPhaseMarket({
    infra: context.infra,
    marketId: context.marketId,
    levels: context.levels,
    dataDir: context.dataDir,
    config: benchConfig(context.bids.length, context.batchSize, context.pipelineDepth),
    kind:
      mode === "plaintext"
        ? { encrypted: false }
        : context.design === "v1"
          ? { encrypted: true, design: "v1", registry }
          : { encrypted: true, design: "v2", registry, width: context.width, encryptAt: context.encryptAt },
    pollIntervalMs: context.pollIntervalMs ?? 100,
    gasLimit: BENCH_GAS_LIMIT,
    txMaxBids: context.batchSize,
    countCompares: context.countCompares,
  });
  let window: Window;
  let spans: SpanRecord[];
  let onChainBids: number;
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
    onChainBids = await market.onChainBids();
  } finally {
    spans = await market.stop();
  }
  return resultOf(market, context, window, spans, onChainBids);
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

/** Version 2's slot of this phase's bids (null in version 1 and the plaintext market). */
function phaseSlot(market: PhaseMarket): number | null {
  return market.slots === null ? null : benchSlot(market.slots.calendar, Date.now() / 1000);
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
    const slot = phaseSlot(market);
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
      runtime.plan([{ planId, side: bid.side === 0 ? "buy" : "sell", priceLevel: bid.priceLevel, quantityWh: bid.quantityWh, ...(slot === null ? {} : { slot }) }]);
      const bidder = await submitted(planId);
      const placedAt = await market.placements.whenPlaced(bidder, PLACEMENT_TIMEOUT_MS);
      latencies.push(placedAt - plannedAt);
      context.report(1);
    }
    const endedAt = Math.max(...market.placements.placed.values());
    await termsSettled(market);
    return { startedAt, endedAt, payloadBytes: payload.bytes(), bidLatencies: latencies };
  } finally {
    // The gateway first: a stopping meter withdraws its resting bids, and relaying hundreds of cancels would only
    // slow the bench down (the chain is thrown away).
    await market.gateway.stop();
    await runtime.stop();
  }
}

/**
 * Waits (untimed) until the DSO has fixed the terms of every announced match, and a little more for them to reach the
 * meter, so that the last trades count in Matched → terms. Gives up quietly: a trade still out then is left out.
 */
async function termsSettled(market: PhaseMarket): Promise<void> {
  const dso = market.dso;
  if (dso === null) return;
  const deadline = performance.now() + TERMS_WAIT_MS;
  while (performance.now() < deadline) {
    const trades = dso.db.listTrades();
    if (trades.length >= market.placements.matches() && trades.every((trade) => trade.stage !== "awaitingOpenings")) break;
    await new Promise((resolve) => setTimeout(resolve, TERMS_POLL_MS));
  }
  await new Promise((resolve) => setTimeout(resolve, TERMS_GRACE_MS));
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
  const slot = phaseSlot(market);
  if (mode === "pregenerated" && slot !== null) {
    prepared = await pregenerateCertified({
      natsUrl: context.infra.natsUrl,
      marketId: context.marketId,
      meters: feeders,
      bids: context.bids,
      slot,
      onBid: () => context.report(1),
    });
  } else if (mode === "pregenerated") {
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

function resultOf(market: PhaseMarket, context: PhaseContext, window: Window, spans: readonly SpanRecord[], onChainBids: number): ModeResult {
  const gateway = market.gateway.counters();
  const wallMs = window.endedAt - window.startedAt;
  // Span times are epoch milliseconds; the window was measured with performance.now().
  const fromMs = performance.timeOrigin + window.startedAt;
  const toMs = performance.timeOrigin + window.endedAt;
  const inWindow = spans.filter((span) => span.startMs >= fromMs && span.startMs <= toMs);
  const txSpans = inWindow.filter((span) => span.name === "chain.tx");
  const onChainMs = coveredMs(txSpans.map((span) => [span.startMs, Math.min(span.startMs + span.durationMs, toMs)] as const));
  const placed = market.placements;
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
    stagesMs: latencyByStage(inWindow, STAGES[context.design]),
    bidLatencyMs:
      latencies === null || latencies.length === 0
        ? null
        : { p50: round(percentile(latencies, 0.5)), p90: round(percentile(latencies, 0.9)), max: round(latencies.at(-1)!) },
    // Every trade of the phase, also those whose terms came after the window closed.
    termsLatencyMs: latencies === null ? null : termsLatency(spans),
    gateway: { ...gateway, gasUsed: gateway.gasUsed.toString() },
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

function rowOf(args: {
  design: ThroughputDesign;
  levels: number;
  width: number;
  encryptAt: EncryptAt;
  bids: number;
  modes: Partial<Record<ThroughputMode, ModeResult>>;
}): ThroughputRow {
  const { design, levels, modes } = args;
  const paper = PAPER_BIDS_PER_S[levels];
  const unfit = design === "v1" ? v1Unfit(levels) : null;
  return {
    design,
    levels,
    width: design === "v2" ? args.width : null,
    encryptAt: design === "v2" ? args.encryptAt : null,
    fits: unfit === null,
    reason: unfit?.reason ?? null,
    bids: args.bids,
    singleMeterBidsPerS: modes.singleMeter?.bidsPerS ?? null,
    singleMeterKbitPerS: modes.singleMeter?.kbitPerS ?? null,
    singleMeterOnChainShare: modes.singleMeter?.onChainShare ?? null,
    singleMeterLatencyP50Ms: modes.singleMeter?.bidLatencyMs?.p50 ?? null,
    termsLatencyP50Ms: modes.singleMeter?.termsLatencyMs?.p50 ?? null,
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
