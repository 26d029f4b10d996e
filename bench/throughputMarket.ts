// The throughput bench's wiring (as the demo's): one nats-server and one in-process chain per run; per phase a
// fresh market with its DSO and gateway runtimes (or the plaintext market and a gateway), traced into the phase's
// span file, and a tracker of the gateway's `market.placed` / `market.rejected` notices.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { JsonRpcProvider, keccak256, toUtf8Bytes, Wallet } from "ethers";
import { devAccountKeys, startLocalChain } from "../actors/chain/localChain.ts";
import { startDsoRuntime, type DsoRuntime } from "../actors/dso/runtime.ts";
import { ThroughputBenchError } from "./errors.ts";
import { startGatewayRuntime, type GatewayRuntime } from "../actors/gateway/runtime.ts";
import { connectNats } from "../actors/nats/connect.ts";
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

/** Every `market.placed` and `market.rejected` the gateway published, with its time. */
export type PlacementTracker = {
  placed: ReadonlyMap<string, number>;
  rejected: ReadonlyMap<string, string>;
  /** Placed notices per bidder, duplicates included (each must be 1). */
  noticesPerBidder: ReadonlyMap<string, number>;
  /** `market.matched` notices published (first publications only). */
  matches(): number;
  /** Resolves with the time (performance.now()) the bidder's placed notice was published. */
  whenPlaced(bidder: string, timeoutMs: number): Promise<number>;
  /** Resolves with the time of the `count`-th placement. */
  whenCount(count: number, timeoutMs: number): Promise<number>;
};

function trackPlacements(gateway: GatewayRuntime): PlacementTracker {
  const placed = new Map<string, number>();
  const rejected = new Map<string, string>();
  const noticesPerBidder = new Map<string, number>();
  const waiters = new Set<() => void>();
  let matches = 0;
  gateway.events.on("notice", (notice) => {
    if (notice.kind === "match" && !notice.duplicate) matches += 1;
    if (notice.bidder === undefined) return;
    const bidder = toAddress(notice.bidder);
    if (notice.kind === "placed") {
      noticesPerBidder.set(bidder, (noticesPerBidder.get(bidder) ?? 0) + 1);
      if (!placed.has(bidder)) placed.set(bidder, performance.now());
    } else if (notice.kind === "rejected") {
      rejected.set(bidder, notice.noticeId);
    } else {
      return;
    }
    for (const wake of [...waiters]) wake();
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
    matches: () => matches,
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
  };
}

/** One phase's market: a gateway (and, for encrypted bids, the DSO that deployed the contract). */
export type PhaseMarket = {
  marketId: string;
  levels: number;
  contractAddress: string;
  dso: DsoRuntime | null;
  gateway: GatewayRuntime;
  placements: PlacementTracker;
  /** A tracer of the meter service for meters started in this phase. */
  telemetry(service: ActorService, attributes?: Record<string, string>): Telemetry;
  /** Stops the runtimes, flushes the spans and returns them. */
  stop(): Promise<SpanRecord[]>;
};

export type PhaseMarketOptions = {
  infra: BenchInfra;
  marketId: string;
  levels: number;
  /** Span file, DSO database, gateway cursor. */
  dataDir: string;
  config: MachineConfig;
  /** Encrypted market: the DSO's registry. Plaintext: no DSO (the bench signs tickets with the DSO key itself). */
  kind: { encrypted: true; registry: readonly BenchMeter[] } | { encrypted: false };
  /** The gateway's chain-follower poll interval. */
  pollIntervalMs: number;
  /** The gateway's transaction gas limit. */
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
    if (options.kind.encrypted) {
      dso = await startDsoRuntime({
        ...partyOptions("dso"),
        dsoPrivateKey: infra.accountKeys[0]!,
        market: parseMarketConfig({ priceLevels: { count: options.levels } }),
        registry: options.kind.registry.map(({ meterId, name, address }) => ({ meterId, name, address })),
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
    gateway = await startGatewayRuntime({
      ...partyOptions("gateway"),
      gatewayPrivateKey: infra.accountKeys[1]!,
      contractAddress,
      pollIntervalMs: options.pollIntervalMs,
      gasLimit: options.gasLimit,
      txMaxBids: options.txMaxBids,
      countCompares: options.countCompares,
      // The plaintext market's "ciphertexts" are clear levels, not curve points.
      checkCiphertextPoints: options.kind.encrypted,
    });
    const running = gateway;
    const placements = trackPlacements(running);
    let stopped: Promise<SpanRecord[]> | undefined;
    return {
      marketId,
      levels: options.levels,
      contractAddress,
      dso,
      gateway: running,
      placements,
      telemetry,
      stop: () => {
        stopped ??= (async () => {
          await running.stop();
          await dso?.stop();
          await shutdownTelemetry();
          return readSpanFile(spanFilePath(options.dataDir));
        })();
        return stopped;
      },
    };
  } catch (error) {
    await gateway?.stop().catch(() => undefined);
    await dso?.stop().catch(() => undefined);
    await shutdownTelemetry();
    throw error;
  }
}
