// The throughput bench's wiring (as the demo's): one nats-server and one in-process chain per run; per phase a
// fresh market with its DSO and gateway runtimes (version 1 or version 2, or the plaintext market and a gateway),
// traced into the phase's span file, and a tracker of the market's `market.placed` / `market.matched` notices.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { JsonRpcProvider, keccak256, toUtf8Bytes, Wallet } from "ethers";
import { devAccountKeys, startLocalChain } from "../actors/chain/localChain.ts";
import { startDsoRuntime, type DsoRuntime } from "../actors/dso/runtime.ts";
import { ThroughputBenchError } from "./errors.ts";
import { startGatewayRuntime, type GatewayRuntime } from "../actors/gateway/runtime.ts";
import { connectNats } from "../actors/nats/connect.ts";
import { tryDecode } from "../actors/nats/codec.ts";
import { ensureStreams } from "../actors/nats/jetstream.ts";
import { resolveNats } from "../actors/nats/server.ts";
import { parseMarketConfig } from "../protocol/marketConfig.ts";
import { createLogger, type Logger } from "../actors/telemetry/logger.ts";
import { readSpanFile } from "../actors/telemetry/readSpans.ts";
import type { SpanRecord } from "../actors/telemetry/spanRecord.ts";
import { spanFilePath, startInProcessTelemetry, type ActorService, type Telemetry } from "../actors/telemetry/telemetry.ts";
import { deployPlaintextMarket } from "../contracts/client/bench/plaintextMarket.ts";
import type { MachineConfig } from "../machines/config.ts";
import { startChildChain } from "./throughputChain.ts";
import { toAddress } from "../protocol/base/hex.ts";
import { attachMarket, getBidCount } from "../contracts/client/index.ts";
import { attachSlotMarket, decodeSlotMarketEvents } from "../contracts/client/v2/slotMarket.ts";
import { blockParams } from "../protocol/encoding/blockTokens.ts";
import { findDeploymentBlock } from "../actors/chain/deploymentBlock.ts";
import { marketSubjects } from "../protocol/wire/subjects.ts";
import { matchEventSchema, placedEventSchema } from "../protocol/wire/schemas.ts";
import { tradeIdOf, type EncryptAt, type SlotMarketDescription } from "../protocol/domain.ts";

/** NATS and the chain, shared by every phase of a run. */
export type BenchInfra = {
  natsUrl: string;
  rpcUrl: string;
  /** Funded development keys: [0] DSO (ticket signer), [1] gateway, [2] plaintext-market deployer. */
  accountKeys: readonly string[];
  stop(): Promise<void>;
};

export type BenchInfraOptions = {
  natsUrl?: string | undefined;
  /** A development node of one's own (its funded accounts come from Hardhat's mnemonic). */
  rpcUrl?: string | undefined;
  /**
   * Where the EDR node runs when no `rpcUrl` is given: `process` (default) is a child process, as the compose file
   * runs the chain; `in-process` shares the actors' event loop with the node's JSON-RPC server (as the demo does).
   */
  chain?: "process" | "in-process";
};

export async function startBenchInfra(options: BenchInfraOptions = {}): Promise<BenchInfra> {
  const nats = await resolveNats({ url: options.natsUrl ?? process.env.NATS_URL });
  try {
    if (options.rpcUrl !== undefined || options.chain !== "in-process") {
      const child = options.rpcUrl === undefined ? await startChildChain() : undefined;
      return {
        natsUrl: nats.url,
        rpcUrl: options.rpcUrl ?? child!.rpcUrl,
        accountKeys: devAccountKeys(3),
        stop: async () => {
          await child?.stop();
          await nats.stop();
        },
      };
    }
    const chain = await startLocalChain();
    return {
      natsUrl: nats.url,
      rpcUrl: chain.rpcUrl,
      accountKeys: chain.accountKeys,
      stop: async () => {
        await chain.stop().catch(() => undefined);
        await nats.stop();
      },
    };
  } catch (error) {
    await nats.stop();
    throw error;
  }
}

/**
 * The actors' logger, quieter than the demo's: stopping a phase cuts off sessions and trades on purpose, and their
 * warnings would bury the progress (GRIDVEIL_LOG_LEVEL still wins).
 */
export function benchLogger(bindings: { actor: string; market: string }): Logger {
  const logger = createLogger(bindings, "warn");
  if (process.env.GRIDVEIL_LOG_LEVEL === undefined && logger.level !== "silent") logger.level = "error";
  return logger;
}

/** A meter of the bench: its registry entry and its long-term key (derived, so runs are reproducible). */
export type BenchMeter = { meterId: string; name: string; key: string; address: `0x${string}` };

export function benchMeters(prefix: string, count: number): BenchMeter[] {
  return Array.from({ length: count }, (_, index) => {
    const key = keccak256(toUtf8Bytes(`gridveil bench ${prefix} ${index}`));
    return { meterId: `${prefix}-${index}`, name: `${prefix} ${index}`, key, address: new Wallet(key).address as `0x${string}` };
  });
}

/**
 * When each bid was placed, as the market announced it on NATS: its `market.placed`, or (version 2, where a bid that
 * crosses at once never rests and so has no `BidPlaced`) the `market.matched` that names it as the arriving bid.
 * Rejections come from the gateway's own notices.
 */
export type PlacementTracker = {
  placed: ReadonlyMap<string, number>;
  rejected: ReadonlyMap<string, string>;
  /** Placement notices per bidder, duplicates included (each must be 1): placed notices, and arriving matches. */
  noticesPerBidder: ReadonlyMap<string, number>;
  /** Distinct matches announced. */
  matches(): number;
  /** Resolves with the time (performance.now()) the bidder's placement notice arrived. */
  whenPlaced(bidder: string, timeoutMs: number): Promise<number>;
  /** Resolves with the time of the `count`-th placement. */
  whenCount(count: number, timeoutMs: number): Promise<number>;
  stop(): Promise<void>;
};

/**
 * Follows the market's notices on a plain NATS subscription (it sees every JetStream publish as the meters' consumers
 * do, in the order the gateway published them, so a resting bid's `market.placed` comes before the match that takes
 * it). `arrivingPlaces`: version 2's rule above.
 */
async function trackPlacements(gateway: GatewayRuntime, natsUrl: string, marketId: string, arrivingPlaces: boolean): Promise<PlacementTracker> {
  const placed = new Map<string, number>();
  const rejected = new Map<string, string>();
  const noticesPerBidder = new Map<string, number>();
  const tradeIds = new Set<string>();
  const waiters = new Set<() => void>();
  const wakeAll = () => {
    for (const wake of [...waiters]) wake();
  };
  const countPlacement = (bidder: string, at: number) => {
    noticesPerBidder.set(bidder, (noticesPerBidder.get(bidder) ?? 0) + 1);
    if (!placed.has(bidder)) placed.set(bidder, at);
  };
  const subjects = marketSubjects(marketId).market;
  const { nc } = await connectNats({ url: natsUrl, name: "gridveil-bench-notices" });
  nc.subscribe(subjects.placed, {
    callback: (_error, msg) => {
      const at = performance.now();
      const decoded = tryDecode(placedEventSchema, msg);
      if (!decoded.ok) return;
      countPlacement(toAddress(decoded.value.bidder), at);
      wakeAll();
    },
  });
  nc.subscribe(subjects.matched, {
    callback: (_error, msg) => {
      const at = performance.now();
      const decoded = tryDecode(matchEventSchema, msg);
      if (!decoded.ok) return;
      const match = decoded.value;
      const tradeId = tradeIdOf(match);
      // A republished notice (the gateway resumed a range) names the same trade again.
      if (tradeIds.has(tradeId)) return;
      tradeIds.add(tradeId);
      if (arrivingPlaces) {
        for (const bidder of [toAddress(match.buyId), toAddress(match.sellId)]) if (!placed.has(bidder)) countPlacement(bidder, at);
      }
      wakeAll();
    },
  });
  await nc.flush();
  gateway.events.on("notice", (notice) => {
    if (notice.kind !== "rejected" || notice.bidder === undefined) return;
    rejected.set(toAddress(notice.bidder), notice.noticeId);
    wakeAll();
  });
  const until = <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const done = check();
      if (done !== undefined) return resolve(done);
      const timer = setTimeout(() => {
        waiters.delete(wake);
        reject(new ThroughputBenchError({ kind: "timedOut", what, timeoutMs, placed: placed.size, rejected: rejected.size }));
      }, timeoutMs);
      const wake = () => {
        let value: T | undefined;
        try {
          value = check();
        } catch (error) {
          clearTimeout(timer);
          waiters.delete(wake);
          reject(error);
          return;
        }
        if (value === undefined) return;
        clearTimeout(timer);
        waiters.delete(wake);
        resolve(value);
      };
      waiters.add(wake);
    });
  const failIfRejected = (bidder: string): void => {
    const reason = rejected.get(bidder);
    if (reason !== undefined) throw new ThroughputBenchError({ kind: "bidRejected", bidder, reason });
  };
  return {
    placed,
    rejected,
    noticesPerBidder,
    matches: () => tradeIds.size,
    whenPlaced: (bidder, timeoutMs) => {
      const key = toAddress(bidder);
      return until(
        () => {
          failIfRejected(key);
          return placed.get(key);
        },
        timeoutMs,
        `the placement of ${bidder}`,
      );
    },
    whenCount: (count, timeoutMs) =>
      until(
        () => {
          if (rejected.size > 0) throw new ThroughputBenchError({ kind: "bidsRejected", examples: [...rejected.entries()].slice(0, 3) });
          return placed.size >= count ? Math.max(...placed.values()) : undefined;
        },
        timeoutMs,
        `${count} placements`,
      ),
    stop: async () => {
      await nc.drain().catch(() => undefined);
    },
  };
}

/** One phase's market: a gateway (and, for encrypted bids, the DSO that deployed the contract). */
export type PhaseMarket = {
  marketId: string;
  levels: number;
  contractAddress: string;
  /** Version 2: the market's slots (from the DSO's description); null for version 1 and the plaintext market. */
  slots: SlotMarketDescription | null;
  dso: DsoRuntime | null;
  gateway: GatewayRuntime;
  placements: PlacementTracker;
  /**
   * Bids the contract holds or matched, each counted once: version 1's bid count; version 2's distinct bidders of
   * `BidPlaced` and of arriving `Matched` (a bid that crossed at once never rested).
   */
  onChainBids(): Promise<number>;
  /** A tracer of the meter service for meters started in this phase. */
  telemetry(service: ActorService, attributes?: Record<string, string>): Telemetry;
  /** Stops the runtimes, flushes the spans and returns them. */
  stop(): Promise<SpanRecord[]>;
};

export type PhaseKind =
  | { encrypted: true; design: "v1"; registry: readonly BenchMeter[] }
  | { encrypted: true; design: "v2"; registry: readonly BenchMeter[]; width: number; encryptAt: EncryptAt }
  | { encrypted: false };

export type PhaseMarketOptions = {
  infra: BenchInfra;
  marketId: string;
  levels: number;
  /** Span file, DSO database, gateway cursor. */
  dataDir: string;
  config: MachineConfig;
  /**
   * Encrypted market: its design and the DSO's registry (version 2 also its width and who encrypts; the slot calendar
   * is the DSO's default). Plaintext: no DSO (the bench signs tickets with the DSO key itself).
   */
  kind: PhaseKind;
  /** The gateway's chain-follower poll interval. */
  pollIntervalMs: number;
  /** The gateway's transaction gas limit (version 2: the gateway caps it at EIP-7825's 2^24 itself). */
  gasLimit: bigint;
  /** Bids per gateway transaction at most (a batch holds several such transactions, pipelined). */
  txMaxBids: number;
  /** Whether the gateway traces each transaction to count its Compares (the trace re-executes it on the node). */
  countCompares: boolean;
};

export async function startPhaseMarket(options: PhaseMarketOptions): Promise<PhaseMarket> {
  const { infra, marketId, config } = options;
  mkdirSync(options.dataDir, { recursive: true });
  const telemetries: Telemetry[] = [];
  const attributes = { "gridveil.market.id": marketId };
  const telemetry = (service: ActorService, extra: Record<string, string> = {}): Telemetry => {
    const started = startInProcessTelemetry({ service, attributes: { ...attributes, ...extra }, dataDir: options.dataDir });
    telemetries.push(started);
    return started;
  };
  const shutdownTelemetry = async () => {
    for (const t of telemetries.splice(0)) await t.shutdown().catch(() => undefined);
  };

  let dso: DsoRuntime | null = null;
  let gateway: GatewayRuntime | undefined;
  let placements: PlacementTracker | undefined;
  try {
    /** What every party of the phase is started with: its market, the infrastructure, its own folder and telemetry. */
    const partyOptions = (actor: "dso" | "gateway") => ({
      marketId,
      natsUrl: infra.natsUrl,
      rpcUrl: infra.rpcUrl,
      dataDir: join(options.dataDir, actor),
      tracer: telemetry(`gridveil-${actor}`).tracer,
      logger: benchLogger({ actor, market: marketId }),
      config,
    });
    let contractAddress: string;
    const kind = options.kind;
    if (kind.encrypted) {
      dso = await startDsoRuntime({
        ...partyOptions("dso"),
        dsoPrivateKey: infra.accountKeys[0]!,
        market: parseMarketConfig({ priceLevels: { count: options.levels } }),
        registry: kind.registry.map(({ meterId, name, address }) => ({ meterId, name, address })),
        ...(kind.design === "v2" ? { design: "v2" as const, width: kind.width, encryptAt: kind.encryptAt } : { design: "v1" as const }),
      });
      contractAddress = dso.market.contractAddress;
    } else {
      // The DSO creates a market's streams; the plaintext market has none, so the bench does.
      const { nc, jsm } = await connectNats({ url: infra.natsUrl, name: "gridveil-bench-streams" });
      try {
        await ensureStreams(jsm, marketId);
      } finally {
        await nc.close();
      }
      const provider = new JsonRpcProvider(infra.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
      try {
        const deployer = new Wallet(infra.accountKeys[2]!, provider);
        const market = await deployPlaintextMarket(deployer, { levels: options.levels, ticketSigner: new Wallet(infra.accountKeys[0]!).address });
        contractAddress = market.address;
      } finally {
        provider.destroy();
      }
    }
    const slots = dso?.market.slots ?? null;
    gateway = await startGatewayRuntime({
      ...partyOptions("gateway"),
      gatewayPrivateKey: infra.accountKeys[1]!,
      // Version 2 is run from the DSO's description (its slot market); version 1 from the contract.
      ...(slots === null ? { contractAddress } : { market: dso!.market }),
      pollIntervalMs: options.pollIntervalMs,
      gasLimit: options.gasLimit,
      txMaxBids: options.txMaxBids,
      countCompares: options.countCompares,
      // The plaintext market's "ciphertexts" are clear levels, not curve points.
      checkCiphertextPoints: kind.encrypted,
    });
    const running = gateway;
    placements = await trackPlacements(running, infra.natsUrl, marketId, slots !== null);
    const tracker = placements;
    let stopped: Promise<SpanRecord[]> | undefined;
    return {
      marketId,
      levels: options.levels,
      contractAddress,
      slots,
      dso,
      gateway: running,
      placements: tracker,
      onChainBids: () => countOnChainBids(infra.rpcUrl, contractAddress, slots, options.levels),
      telemetry,
      stop: () => {
        stopped ??= (async () => {
          await running.stop();
          await tracker.stop();
          await dso?.stop();
          await shutdownTelemetry();
          return readSpanFile(spanFilePath(options.dataDir));
        })();
        return stopped;
      },
    };
  } catch (error) {
    await gateway?.stop().catch(() => undefined);
    await placements?.stop();
    await dso?.stop().catch(() => undefined);
    await shutdownTelemetry();
    throw error;
  }
}

async function countOnChainBids(rpcUrl: string, contractAddress: string, slots: SlotMarketDescription | null, levels: number): Promise<number> {
  const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
  try {
    if (slots === null) return Number(await getBidCount(await attachMarket(contractAddress, provider)));
    const market = await attachSlotMarket(contractAddress, provider, blockParams(levels, slots.width), slots.calendar);
    const logs = await provider.getLogs({ address: contractAddress, fromBlock: await findDeploymentBlock(provider, contractAddress), toBlock: "latest" });
    const bidders = new Set<string>();
    for (const event of decodeSlotMarketEvents(market, logs)) {
      if (event.type === "placed") bidders.add(toAddress(event.bidder));
      if (event.type === "matched") bidders.add(toAddress(event.arriving === "buy" ? event.buyBidder : event.sellBidder));
    }
    return bidders.size;
  } finally {
    provider.destroy();
  }
}
