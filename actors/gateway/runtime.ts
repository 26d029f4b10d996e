// The chain gateway runtime: the `gateway` machine wired to JetStream, the market contract and the local cursor
// (PROTOCOL §1 gateway, §5 bidding and matching, §6 messaging). The parts: bidIntake.ts (bids off the durable
// queue), cancels.ts (the cancel service), submitter.ts (transactions), chainFollower.ts and notices.ts (chain →
// NATS), dispositions.ts (the machine's acks, naks and rejection notices); this file wires them to the machine.
import { EventEmitter } from "node:events";
import { EIP7825_TX_GAS_CAP, readTxGasCap } from "../chain/txGasCap.ts";
import { systemClock, type Clock } from "../runtime/clock.ts";
import { mkdir } from "node:fs/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Tracer } from "@opentelemetry/api";
import { JsonRpcProvider, Wallet } from "ethers";
import { createActor, type Actor, type InspectionEvent } from "xstate";
import type { MachineConfig } from "../../machines/config.ts";
import { provideGateway, type GatewayMachine } from "../../machines/gateway.ts";
import { describeError } from "../../machines/kit/errors.ts";
import { ConflictingSettingsError, InvalidSettingError } from "../../protocol/base/errors.ts";
import { sameAddress } from "../../protocol/base/hex.ts";
import type { MarketDescription } from "../../protocol/domain.ts";
import { ChainMismatchError } from "../../contracts/client/errors.ts";
import { initCurve } from "../../protocol/fhipe/curve.ts";
import { DURABLES, GATEWAY_INBOX_PREFIX, marketSubjects } from "../../protocol/wire/subjects.ts";
import { gatewayDefaults } from "../config/gateway.ts";
import { connectNats, natsCredentials } from "../nats/connect.ts";
import { ensureDurableConsumer, requireStreams } from "../nats/jetstream.ts";
import { publishStateSnapshots } from "../runtime/stateSnapshots.ts";
import { trackedWork } from "../runtime/trackedWork.ts";
import type { Logger } from "../telemetry/logger.ts";
import { recordTransitions } from "../telemetry/transitions.ts";
import { startBidIntake, type BidIntake } from "./bidIntake.ts";
import { startCancelService, type CancelService } from "./cancels.ts";
import { chainFollower, createWakeUps } from "./chainFollower.ts";
import { designParts, type DesignParts, type SlotMarketCounters } from "./designParts.ts";
import { createCompareCounter } from "./compares.ts";
import { cursorStore } from "./cursorStore.ts";
import { gatewayDispositions, type SettledDeliveries } from "./dispositions.ts";
import { askMarketDescription, checkChainId } from "./marketLookup.ts";
import { findDeploymentBlock } from "../chain/deploymentBlock.ts";
import { createNoticePublisher, type PublishedNotice } from "./notices.ts";
import { createSubmitter, type BatchMinedEvent } from "./submitter.ts";

export type GatewayRuntimeOptions = {
  marketId: string;
  natsUrl: string;
  /** NATS credentials of this party's user (infra/nats/nats.conf: one user per role, one per meter). */
  natsUser?: string | undefined;
  natsPassword?: string | undefined;
  rpcUrl: string;
  /** The gateway's own funded account: it pays the gas of every batch and cancel. */
  gatewayPrivateKey: string;
  /** Holds the chain cursor (`gateway-cursor.json`). */
  dataDir: string;
  /**
   * The market contract (a version 1 market, unless `market` describes it); when both are absent, the DSO is asked
   * (`dso.market`) until it answers.
   */
  contractAddress?: string | undefined;
  /**
   * The DSO's market description, when the caller has it (the DSO is not asked then). Its `slots` make the market
   * version 2 (the slot market at its `contractAddress`).
   */
  market?: MarketDescription | undefined;
  /** The market's clock (default: the system clock): version 2 judges gate closures and expiries by it. */
  clock?: Clock | undefined;
  tracer: Tracer;
  logger: Logger;
  /** `parseMachineConfig` output; `config.gateway` sizes batches, delays and retries. */
  config: MachineConfig;
  /** Block to follow from when no cursor is saved (default: the contract's deployment block). */
  startBlock?: number | undefined;
  /** Ack wait of the bids consumer: how long a delivery held by a dead gateway stays invisible (default 30 s). */
  ackWaitMs?: number | undefined;
  /** Poll interval of the chain follower (default 100 ms). */
  pollIntervalMs?: number | undefined;
  /** Largest `eth_getLogs` range (default 1 000 blocks). */
  maxBlockRange?: number | undefined;
  /**
   * Bids per transaction at most (version 1 default: the whole batch; version 2: `gatewayDefaults.slotTxMaxBids`). A
   * batch larger than that goes out as several transactions, each signed while the node executes the previous one.
   */
  txMaxBids?: number | undefined;
  /** Gas limit of every transaction (default: the latest block's gas limit). */
  gasLimit?: bigint | undefined;
  /** How long `stop()` waits for the machine to submit, publish and save what it holds (default 60 s). */
  stopTimeoutMs?: number | undefined;
  /**
   * Count the `Compare`s of each transaction from the node's call trace (default true). The trace re-executes the
   * transaction on the node, which competes with the next batch: a throughput run may turn it off.
   */
  countCompares?: boolean | undefined;
  /** Check the points of word-form ciphertexts before placing them; false only for the bench's plaintext market. */
  checkCiphertextPoints?: boolean | undefined;
  /** Aborts the start (e.g. SIGTERM while waiting for the DSO). */
  signal?: AbortSignal | undefined;
  /** Machine inspection (the opt-in Stately inspector, actors/runtime/inspect.ts). */
  inspect?: ((event: InspectionEvent) => void) | undefined;
  /** State snapshots on `gateway.state` for `gridveil watch` (heartbeat ms; default 5 s). */
  snapshotIntervalMs?: number | undefined;
};

export type GatewayCounters = {
  /** Batches the machine formed (`stats.batches`). */
  batches: number;
  /** Transactions mined (batches, split batches and cancels). */
  txs: number;
  bidsPlaced: number;
  duplicates: number;
  rejected: number;
  /** Deliveries refused before the machine (bad JSON/schema, undecodable ciphertext). */
  refused: number;
  naked: number;
  cancelsRelayed: number;
  noticesPublished: number;
  gasUsed: bigint;
  /** Pairing checks (`Compare`) run by mined batches, when the contract reports them. */
  compares: number;
  /** Version 2 only: the slot placer's transactions, hints by source, and the sweeper's purges. */
  slots?: SlotMarketCounters;
};

export type GatewayRuntimeEvents = {
  batch: [BatchMinedEvent];
  notice: [PublishedNotice];
  settled: [SettledDeliveries];
  cursor: [{ lastProcessedBlock: number }];
  /** The machine failed: nothing more is decided here; the process should stop (its deliveries go back to the queue). */
  failed: [unknown];
};

export type GatewayRuntime = {
  actor: Actor<GatewayMachine>;
  marketId: string;
  contractAddress: string;
  chainId: number;
  /** The market's design: 1 (unary, one book) or 2 (slot market, certified bids). */
  version: 1 | 2;
  gatewayAddress: string;
  counters(): GatewayCounters;
  events: EventEmitter<GatewayRuntimeEvents>;
  /** Graceful: no new deliveries, pending bids submitted, received blocks published, the rest nak'ed; idempotent. */
  stop(): Promise<void>;
};


export async function startGatewayRuntime(options: GatewayRuntimeOptions): Promise<GatewayRuntime> {
  const { marketId, tracer, logger, config } = options;
  const s = marketSubjects(marketId);
  const runtime = {
    pollIntervalMs: options.pollIntervalMs ?? gatewayDefaults.pollIntervalMs,
    maxBlockRange: options.maxBlockRange ?? gatewayDefaults.maxBlockRange,
    ackWaitMs: options.ackWaitMs ?? gatewayDefaults.ackWaitMs,
    stopTimeoutMs: options.stopTimeoutMs ?? gatewayDefaults.stopTimeoutMs,
    fetchExpiresMs: gatewayDefaults.fetchExpiresMs,
  };
  let wallet: Wallet;
  try {
    wallet = new Wallet(options.gatewayPrivateKey);
  } catch (cause) {
    throw new InvalidSettingError({ setting: "the gateway key", expected: "a private key", hint: "--key 0x<64 hex> or GRIDVEIL_GATEWAY_KEY", cause });
  }
  await mkdir(options.dataDir, { recursive: true });
  // Compact ciphertexts are decoded (and their points checked) before they cost gas.
  await initCurve();

  // No response cache: the follower reads block numbers and logs right after mining. No batching: ethers would
  // hold every call 10 ms (batchStallTime) to batch it, and the gateway's calls are sequential (send, receipt, logs).
  const provider = new JsonRpcProvider(options.rpcUrl, undefined, {
    pollingInterval: runtime.pollIntervalMs,
    cacheTimeout: -1,
    staticNetwork: true,
    batchMaxCount: 1,
  });
  let nc: NatsConnection | undefined;
  let closeParts = async (): Promise<void> => undefined;
  const cleanupOnFailure = async (): Promise<void> => {
    await closeParts();
    provider.destroy();
    await nc?.close().catch(() => undefined);
  };

  try {
    const chainId = Number((await provider.getNetwork()).chainId);
    // Its own reply prefix: the gateway's NATS user may not read `_INBOX.>`, where the meters' replies travel.
    const clients = await connectNats({
      url: options.natsUrl,
      name: `gridveil-gateway-${marketId}`,
      inboxPrefix: GATEWAY_INBOX_PREFIX,
      ...natsCredentials(options),
    });
    nc = clients.nc;
    const { js, jsm } = clients;

    // --- which contract, which design ---------------------------------------------------------------------------
    let description = options.market;
    if (description === undefined && options.contractAddress === undefined) {
      description = await askMarketDescription(clients.nc, marketId, { logger, signal: options.signal });
      logger.info({ contract: description.contractAddress, chainId, version: description.slots === undefined ? 1 : 2 }, "market description received from the DSO");
    }
    if (description !== undefined) {
      await checkChainId(provider, description.chainId, options.rpcUrl);
      if (options.contractAddress !== undefined && !sameAddress(options.contractAddress, description.contractAddress)) {
        throw new ConflictingSettingsError({ settings: ["the contract", "the market description's contract"], what: "the market contract" });
      }
    }
    const contractAddress = options.contractAddress ?? description!.contractAddress;
    if ((await provider.getCode(contractAddress)) === "0x") {
      throw new ChainMismatchError({ party: "gateway", reason: "noContract", address: contractAddress, chainId, rpcUrl: options.rpcUrl });
    }
    const connected = wallet.connect(provider);
    // Never more gas than the node lets one transaction have (EIP-7825), whatever the block could hold.
    const blockGasLimit = (await provider.getBlock("latest"))?.gasLimit ?? gatewayDefaults.fallbackBlockGasLimit;
    const txGasCap = await readTxGasCap(provider, blockGasLimit);
    if (options.gasLimit !== undefined && options.gasLimit > txGasCap) {
      throw new InvalidSettingError({
        setting: "--gas-limit",
        expected: `at most the node's per-transaction cap of ${txGasCap} gas`,
        value: options.gasLimit.toString(),
        hint: "leave it out: the gateway takes the block gas limit or the node's cap, whichever is lower",
      });
    }
    const nodeGasLimit = options.gasLimit ?? (blockGasLimit < txGasCap ? blockGasLimit : txGasCap);
    // Version 2's transactions fit EIP-7825's cap on any node (its batch size is measured for it: gatewayDefaults).
    const gasLimit = description?.slots !== undefined && nodeGasLimit > EIP7825_TX_GAS_CAP ? EIP7825_TX_GAS_CAP : nodeGasLimit;
    logger.info({ blockGasLimit: blockGasLimit.toString(), txGasCap: txGasCap.toString(), gasLimit: gasLimit.toString() }, "gas per transaction");
    const compareCounter = createCompareCounter(provider, logger, options.countCompares ?? gatewayDefaults.countCompares);
    const startBlock = options.startBlock ?? (await findDeploymentBlock(provider, contractAddress));
    // The follower reads right after each mined transaction instead of at its next poll.
    const followerWakeUps = createWakeUps();
    const parts: DesignParts = await designParts({
      provider,
      wallet: connected,
      contractAddress,
      description,
      gasLimit,
      startBlock,
      logger,
      clock: options.clock ?? systemClock,
      nc: clients.nc,
      subjects: s,
      txMaxBids: options.txMaxBids,
      checkCiphertextPoints: options.checkCiphertextPoints ?? gatewayDefaults.checkCiphertextPoints,
      maxBlockRange: runtime.maxBlockRange,
      onMined: () => followerWakeUps.wake(),
    });
    closeParts = async () => {
      await parts.stop();
      parts.close();
    };

    // --- queues ---------------------------------------------------------------------------------------------
    // The DSO owns the streams (it starts first); the gateway's NATS user may not create or update them.
    const streams = await requireStreams(jsm, marketId, ["bids", "matches"]);
    await ensureDurableConsumer(jsm, streams.bids, DURABLES.gatewayBids, {
      filterSubject: s.gateway.submit,
      ackWaitMs: runtime.ackWaitMs,
    });

    // --- parts ----------------------------------------------------------------------------------------------
    const events = new EventEmitter<GatewayRuntimeEvents>();
    const work = trackedWork(logger);
    const refused = { count: 0 };
    let stopping = false;
    let actor!: Actor<GatewayMachine>;
    let intake!: BidIntake;
    let cancels!: CancelService;

    const store = cursorStore(options.dataDir, { marketId, chainId, contractAddress });
    const notices = createNoticePublisher({
      js,
      marketId,
      chain: parts.chainReads,
      tracer,
      logger,
      spanContextOf: (bidder) => intake?.spanContextOf(bidder),
      onPublished: (notice) => events.emit("notice", notice),
    });
    const submitter = createSubmitter({
      marketId,
      tracer,
      logger,
      placement: parts.placement,
      cancel: parts.cancel,
      compareCounter,
      work,
      spanContextOf: (bidder) => intake.spanContextOf(bidder),
      cancelSpanOf: (bidder) => cancels?.spanOf(bidder),
      submissionsInFlight: async () => {
        const info = await jsm.consumers.info(streams.bids, DURABLES.gatewayBids);
        return info.num_pending + info.num_ack_pending > 0;
      },
      recordTransitions: (span) => recordTransitions(actor, span, "gateway"),
      onMined: () => followerWakeUps.wake(),
      onBatch: (batch) => events.emit("batch", batch),
    });
    const actions = gatewayDispositions({
      logger,
      work,
      intake: () => intake,
      cancels: () => cancels,
      notices,
      takeRejectionDetail: submitter.takeRejectionDetail,
      onSettled: (settled) => events.emit("settled", settled),
    });

    // --- the machine ----------------------------------------------------------------------------------------
    const machine = provideGateway(
      {
        submitBids: submitter.submitBids,
        submitCancel: submitter.submitCancel,
        loadCursor: async () => {
          const loaded = await store.load().catch((error: unknown) => {
            // The machine retries with backoff; the operator must see why the notices stopped.
            logger.error({ err: describeError(error), file: store.path }, "cannot load the chain cursor");
            throw error;
          });
          if (loaded.foreign !== null) {
            logger.warn({ file: store.path, savedFor: loaded.foreign }, "ignoring a cursor saved for another market; following from the start block");
          }
          return { lastProcessedBlock: loaded.lastProcessedBlock };
        },
        followChain: chainFollower({
          provider,
          contractAddress,
          readRange: parts.readRange,
          pollIntervalMs: runtime.pollIntervalMs,
          maxBlockRange: runtime.maxBlockRange,
          wakeUps: followerWakeUps,
        }),
        publishNotices: async ({ notices: published }) => notices.publish(published),
        saveCursor: async ({ lastProcessedBlock }) => {
          await store.save(lastProcessedBlock);
          events.emit("cursor", { lastProcessedBlock });
        },
      },
      actions,
    );
    // Before the follower runs (version 2: the book view from the deployment on, then the sweeper), so that the
    // follower's ranges only add blocks the view has not read.
    await parts.start();
    actor = createActor(machine, { input: { config, dimension: parts.dimension, design: parts.design, startBlock }, ...(options.inspect ? { inspect: options.inspect } : {}) });
    actor.subscribe({
      error: (error) => {
        logger.error({ err: error }, "gateway machine failed");
        events.emit("failed", error);
      },
    });
    actor.start();
    // Live view (`gridveil watch`): state value, tags and the machine's counters only.
    const snapshots = publishStateSnapshots(actor, {
      nc: clients.nc,
      subject: s.gateway.state,
      party: "gateway",
      id: marketId,
      intervalMs: options.snapshotIntervalMs ?? gatewayDefaults.snapshotIntervalMs,
      counts: () => {
        const context = actor.getSnapshot().context;
        return { ...context.stats, pending: context.pending.length, inFlight: context.inFlight.length, ...parts.watchCounts() };
      },
    });

    // --- inputs ---------------------------------------------------------------------------------------------
    intake = await startBidIntake({
      readBid: parts.readBid,
      js,
      stream: streams.bids,
      durable: DURABLES.gatewayBids,
      tracer,
      logger,
      marketId,
      // One batch in flight, the next one collecting, and room for redeliveries.
      maxOutstanding: Math.max(4, config.gateway.batchMaxSize * 3),
      fetchExpiresMs: runtime.fetchExpiresMs,
      deliver: ({ messageId, bid }) => {
        if (actor.getSnapshot().status === "active") actor.send({ type: "BID.RECEIVED", messageId, bid });
      },
      holds: (messageId) => {
        const snapshot = actor.getSnapshot();
        if (snapshot.status !== "active") return false;
        const { pending, inFlight } = snapshot.context;
        return pending.some((entry) => entry.messageIds.includes(messageId)) || inFlight.some((entry) => entry.messageIds.includes(messageId));
      },
      refused: async ({ bidder, error, detail }) => {
        refused.count += 1;
        if (bidder !== null) await notices.announceRejection(bidder, { error, detail });
      },
    });
    cancels = startCancelService({
      nc: clients.nc,
      subjects: s,
      marketId,
      tracer,
      logger,
      accepting: () => !stopping && actor.getSnapshot().status === "active",
      deliver: (messageId, cancel) => actor.send({ type: "CANCEL.RECEIVED", messageId, cancel }),
      takeOutcome: submitter.takeCancelOutcome,
    });
    await cancels.ready;

    logger.info(
      { contract: contractAddress, chainId, gateway: wallet.address, startBlock, batchMaxSize: config.gateway.batchMaxSize, version: parts.design.version },
      "gateway running",
    );

    // --- stop -----------------------------------------------------------------------------------------------
    let stopped: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopped ??= (async () => {
        stopping = true;
        logger.info({ outstanding: intake.outstanding() }, "gateway stopping");
        await intake.stopPulling();
        await parts.stop();
        if (actor.getSnapshot().status === "active") actor.send({ type: "SHUTDOWN.REQUESTED" });
        const finished = await waitForMachine(actor, runtime.stopTimeoutMs);
        if (!finished) {
          logger.error("the gateway machine did not finish in time; handing everything back to the queue");
          actor.stop();
        }
        await cancels.stop();
        await work.settled();
        intake.releaseAll();
        snapshots.stop();
        await clients.nc.drain().catch((error: unknown) => logger.warn({ err: error }, "NATS drain failed"));
        parts.close();
        provider.destroy();
        const counters = countersOf();
        logger.info({ counters: { ...counters, gasUsed: counters.gasUsed.toString() } }, "gateway stopped");
      })();
      return stopped;
    };

    const countersOf = (): GatewayCounters => {
      const stats = actor.getSnapshot().context.stats;
      const own = submitter.counters();
      const slots = parts.slotCounters();
      return {
        batches: stats.batches,
        txs: own.txs,
        bidsPlaced: stats.placed,
        duplicates: stats.duplicates,
        rejected: stats.rejected,
        refused: refused.count,
        naked: stats.naked,
        cancelsRelayed: stats.cancelsRelayed,
        noticesPublished: stats.noticesPublished,
        gasUsed: own.gasUsed,
        compares: own.compares,
        ...(slots === undefined ? {} : { slots }),
      };
    };

    return {
      actor,
      marketId,
      contractAddress,
      chainId,
      version: parts.design.version,
      gatewayAddress: wallet.address,
      counters: countersOf,
      events,
      stop,
    };
  } catch (error) {
    await cleanupOnFailure();
    throw error;
  }
}

function waitForMachine(actor: Actor<GatewayMachine>, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (actor.getSnapshot().status !== "active") return resolve(true);
    const timer = setTimeout(() => {
      subscription.unsubscribe();
      resolve(false);
    }, timeoutMs);
    const subscription = actor.subscribe({
      next: (snapshot) => {
        if (snapshot.status !== "active") {
          clearTimeout(timer);
          subscription.unsubscribe();
          resolve(true);
        }
      },
      complete: () => {
        clearTimeout(timer);
        resolve(true);
      },
      error: () => {
        clearTimeout(timer);
        resolve(true);
      },
    });
  });
}
