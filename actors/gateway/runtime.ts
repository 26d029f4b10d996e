// The chain gateway runtime: the `gateway` machine wired to JetStream, the market contract and the local cursor
// (PROTOCOL §1 gateway, §5 bidding and matching, §6 messaging; docs/machines.md §8).
import { EventEmitter } from "node:events";
import { mkdir } from "node:fs/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import { INVALID_SPAN_CONTEXT, SpanStatusCode, context, trace, type Link, type Span, type Tracer } from "@opentelemetry/api";
import { JsonRpcProvider, Wallet } from "ethers";
import { createActor, type Actor, type InspectionEvent } from "xstate";
import { MarketRevertError, attachMarket, getBidIdOf, type MarketHandle } from "../../contracts/client/index.ts";
import type { MachineConfig } from "../../machines/config.ts";
import {
  isReusedBidder,
  provideGateway,
  type GatewayAckParams,
  type GatewayMachine,
  type GatewayNakParams,
  type NotifyBidRejectedParams,
  type SubmitBidsInput,
  type SubmitBidsOutput,
  type SubmitCancelInput,
  type SubmitCancelOutput,
} from "../../machines/gateway.ts";
import { initCurve } from "../../protocol/fhipe/curve.ts";
import { ConfigError, GridveilError } from "../../protocol/base/errors.ts";
import { RequestRejectedError } from "../nats/codec.ts";
import { connectNats, natsCredentials } from "../nats/connect.ts";
import { DURABLES, ensureDurableConsumer, requireStreams } from "../nats/jetstream.ts";
import { serve, type Service } from "../nats/rpc.ts";
import { cancelReplySchema, cancelRequestSchema, type CancelReply } from "../../protocol/wire/schemas.ts";
import { GATEWAY_INBOX_PREFIX, GATEWAY_QUEUE_GROUP, marketSubjects } from "../../protocol/wire/subjects.ts";
import { publishStateSnapshots } from "../runtime/stateSnapshots.ts";
import type { Logger } from "../telemetry/logger.ts";
import { recordTransitions } from "../telemetry/transitions.ts";
import { startBidIntake, type BidIntake } from "./bidIntake.ts";
import { contractBidOf } from "./bidWire.ts";
import { chainFollower, createWakeUps } from "./chainFollower.ts";
import { createChainWriter, type ChainWriter, type MinedTx } from "./chainWriter.ts";
import { cursorStore } from "./cursorStore.ts";
import { askMarketDescription, checkChainId, findDeploymentBlock } from "./marketLookup.ts";
import { createNoticePublisher, type PublishedNotice } from "./notices.ts";
import { GATEWAY_ATTRIBUTES, GATEWAY_SPANS } from "./spans.ts";
import { createCompareCounter } from "./compares.ts";
import { type SignedBid as MachineBid } from "../../protocol/domain.ts";
import { describeError } from "../../machines/kit/errors.ts";

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
  /** The market contract; when absent, the DSO is asked (`dso.market`) until it answers. */
  contractAddress?: string | undefined;
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
   * Bids per transaction at most (default: the whole batch). A batch larger than that goes out as several
   * transactions, each signed while the node executes the previous one.
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
};

export type BatchMinedEvent = {
  txHash: string;
  blockNumber: number;
  gasUsed: bigint;
  bids: number;
  placed: number;
  rejected: number;
  compares: number | undefined;
};

export type GatewayRuntimeEvents = {
  batch: [BatchMinedEvent];
  notice: [PublishedNotice];
  settled: [{ messageIds: string[]; disposition: GatewayAckParams["disposition"] | "naked" }];
  cursor: [{ lastProcessedBlock: number }];
};

export type GatewayRuntime = {
  actor: Actor<GatewayMachine>;
  marketId: string;
  contractAddress: string;
  chainId: number;
  gatewayAddress: string;
  counters(): GatewayCounters;
  events: EventEmitter<GatewayRuntimeEvents>;
  /** Graceful: no new deliveries, pending bids submitted, received blocks published, the rest nak'ed; idempotent. */
  stop(): Promise<void>;
};

export class GatewayStartError extends GridveilError {
  override name = "GatewayStartError";
}

const DEFAULT_ACK_WAIT_MS = 30_000;
const DEFAULT_POLL_INTERVAL_MS = 100;
const DEFAULT_MAX_BLOCK_RANGE = 1_000;
const DEFAULT_STOP_TIMEOUT_MS = 60_000;
const FETCH_EXPIRES_MS = 1_000;

type PendingCancel = {
  bidder: string;
  span: Span;
  resolve(reply: CancelReply): void;
  reject(error: unknown): void;
};

export async function startGatewayRuntime(options: GatewayRuntimeOptions): Promise<GatewayRuntime> {
  const { marketId, tracer, logger, config } = options;
  const s = marketSubjects(marketId);
  let wallet: Wallet;
  try {
    wallet = new Wallet(options.gatewayPrivateKey);
  } catch (cause) {
    throw new ConfigError("the gateway key is not a private key", { hint: "--key 0x<64 hex> or GRIDVEIL_GATEWAY_KEY", cause });
  }
  await mkdir(options.dataDir, { recursive: true });
  // Compact ciphertexts are decoded (and their points checked) before they cost gas.
  await initCurve();

  // No response cache: the follower reads block numbers and logs right after mining. No batching: ethers would
  // hold every call 10 ms (batchStallTime) to batch it, and the gateway's calls are sequential (send, receipt, logs).
  const provider = new JsonRpcProvider(options.rpcUrl, undefined, {
    pollingInterval: options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
    cacheTimeout: -1,
    staticNetwork: true,
    batchMaxCount: 1,
  });
  let nc: NatsConnection | undefined;
  let closeWriter = (): void => undefined;
  const cleanupOnFailure = async (): Promise<void> => {
    closeWriter();
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

    // --- which contract -------------------------------------------------------------------------------------
    let contractAddress = options.contractAddress;
    let expectedDimension: number | undefined;
    if (contractAddress === undefined) {
      const description = await askMarketDescription(clients.nc, marketId, { logger, signal: options.signal });
      await checkChainId(provider, description.chainId, options.rpcUrl);
      contractAddress = description.contractAddress;
      expectedDimension = description.fhipe.dimension;
      logger.info({ contract: contractAddress, chainId }, "market description received from the DSO");
    }
    if ((await provider.getCode(contractAddress)) === "0x") {
      throw new GatewayStartError("no contract at the market address on this chain", {
        value: { contractAddress, rpcUrl: options.rpcUrl, chainId },
        hint: "check --contract and --rpc",
      });
    }
    const connected = wallet.connect(provider);
    const market: MarketHandle = await attachMarket(contractAddress, connected);
    if (expectedDimension !== undefined && market.dim !== expectedDimension) {
      throw new GatewayStartError("the contract's dimension differs from the market description", {
        value: { contract: market.dim, description: expectedDimension },
      });
    }
    const gasLimit = options.gasLimit ?? (await provider.getBlock("latest"))?.gasLimit ?? 30_000_000n;
    const writer: ChainWriter = createChainWriter({ market, wallet: connected, provider, gasLimit });
    closeWriter = writer.close;
    const compareCounter = createCompareCounter(provider, logger, options.countCompares ?? true);
    const startBlock = options.startBlock ?? (await findDeploymentBlock(provider, contractAddress));

    // --- queues ---------------------------------------------------------------------------------------------
    // The DSO owns the streams (it starts first); the gateway's NATS user may not create or update them.
    const streams = await requireStreams(jsm, marketId, ["bids", "matches"]);
    await ensureDurableConsumer(jsm, streams.bids, DURABLES.gatewayBids, {
      filterSubject: s.gateway.submit,
      ackWaitMs: options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS,
    });

    // --- state ----------------------------------------------------------------------------------------------
    const events = new EventEmitter<GatewayRuntimeEvents>();
    const own = { txs: 0, refused: 0, gasUsed: 0n, compares: 0 };
    const pendingCancels = new Map<string, PendingCancel>();
    const cancelOutcomes = new Map<string, { kind: "mined"; tx: MinedTx } | { kind: "reverted"; reason: string }>();
    const rejectionDetails = new Map<string, string>();
    const rejectionAnnouncements = new Map<string, Promise<void>>();
    const inFlightSettles = new Set<Promise<unknown>>();
    // The follower reads right after each mined transaction instead of at its next poll.
    const followerWakeUps = createWakeUps();
    let nextCancelId = 0;
    let stopping = false;
    let actor!: Actor<GatewayMachine>;
    let intake!: BidIntake;

    const track = <T>(promise: Promise<T>): void => {
      const tracked = promise.catch((error: unknown) => logger.error({ err: error }, "background settle failed"));
      inFlightSettles.add(tracked);
      void tracked.finally(() => inFlightSettles.delete(tracked));
    };

    const store = cursorStore(options.dataDir, { marketId, chainId, contractAddress });
    const publisher = createNoticePublisher({
      js,
      marketId,
      market,
      tracer,
      spanContextOf: (bidder) => intake?.spanContextOf(bidder),
      onPublished: (notice) => events.emit("notice", notice),
    });

    /** `market.rejected`, unless the bidder is on chain: then the refused copy was a replay or a forgery. */
    const announceRejection = async (bidder: string, reason: string, detail: string): Promise<void> => {
      if ((await getBidIdOf(market, bidder)) !== undefined) {
        logger.info({ bidder, reason }, "not announcing a rejection: the bidder is already on chain");
        return;
      }
      await publisher.publishRejection(bidder, reason, detail);
    };

    // --- effects --------------------------------------------------------------------------------------------
    const sendTransaction = async (
      parent: Span,
      bids: number,
      send: () => Promise<{ tx: MinedTx; placed: number; rejected: number }>,
    ): Promise<{ tx: MinedTx; placed: number; rejected: number }> => {
      const span = tracer.startSpan(
        GATEWAY_SPANS.tx,
        { attributes: { [GATEWAY_ATTRIBUTES.marketId]: marketId, [GATEWAY_ATTRIBUTES.txBids]: bids } },
        trace.setSpan(context.active(), parent),
      );
      let mined: { tx: MinedTx; placed: number; rejected: number };
      try {
        mined = await send();
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: errorNameOf(error) });
        span.setAttribute(GATEWAY_ATTRIBUTES.error, errorNameOf(error));
        span.end();
        throw error;
      }
      const minedAt = Date.now();
      followerWakeUps.wake();
      span.setAttributes({
        [GATEWAY_ATTRIBUTES.txHash]: mined.tx.txHash,
        [GATEWAY_ATTRIBUTES.blockNumber]: mined.tx.blockNumber,
        [GATEWAY_ATTRIBUTES.gasUsed]: Number(mined.tx.gasUsed),
        [GATEWAY_ATTRIBUTES.placed]: mined.placed,
        [GATEWAY_ATTRIBUTES.rejected]: mined.rejected,
      });
      own.txs += 1;
      own.gasUsed += mined.tx.gasUsed;
      // The Compare count comes from a trace of the mined transaction: off the ack path, the span keeps its end time.
      track(
        compareCounter
          .count(mined.tx.txHash)
          .then((compares) => {
            if (compares !== undefined) {
              span.setAttribute(GATEWAY_ATTRIBUTES.compares, compares);
              own.compares += compares;
            }
            if (bids > 0) {
              events.emit("batch", {
                txHash: mined.tx.txHash,
                blockNumber: mined.tx.blockNumber,
                gasUsed: mined.tx.gasUsed,
                bids,
                placed: mined.placed,
                rejected: mined.rejected,
                compares,
              });
            }
          })
          .finally(() => span.end(minedAt)),
      );
      return mined;
    };

    // Bids per transaction: at most `txMaxBids`, and at most the largest chunk that fitted the gas limit lately (after
    // a `BatchEntryOutOfGas` split, later batches start at that size instead of paying for another reverted
    // transaction).
    const txMaxBids = options.txMaxBids ?? Number.MAX_SAFE_INTEGER;
    let chunkCap = txMaxBids;
    const submitBids = async ({ bids }: SubmitBidsInput): Promise<SubmitBidsOutput> => {
      const links: Link[] = bids.flatMap((bid) => {
        const spanContext = intake.spanContextOf(bid.bidder);
        return spanContext === undefined ? [] : [{ context: spanContext }];
      });
      const batchSpan = tracer.startSpan(GATEWAY_SPANS.batch, {
        root: true,
        links,
        attributes: { [GATEWAY_ATTRIBUTES.marketId]: marketId, [GATEWAY_ATTRIBUTES.batchSize]: bids.length },
      });
      const stopRecording = recordTransitions(actor, batchSpan, "gateway");
      const results: Extract<SubmitBidsOutput, { kind: "mined" }>["results"] = [];
      let lastTxHash = "";
      const placeChunk = (chunk: readonly MachineBid[]) =>
        sendTransaction(batchSpan, chunk.length, async () => {
          const outcome = await writer.placeBatch(chunk.map(contractBidOf));
          let placed = 0;
          outcome.results.forEach((result, index) => {
            const bidder = (chunk[index] as MachineBid).bidder;
            if (result.status === "placed") {
              placed += 1;
              results.push({ bidder, status: "placed" });
            } else {
              // Kept for the rejection notice; a reused bidder is a duplicate and gets none.
              if (!isReusedBidder(result.errorName)) rejectionDetails.set(bidder.toLowerCase(), result.detail);
              results.push({ bidder, status: "rejected", reason: result.errorName });
            }
          });
          return { tx: outcome.tx, placed, rejected: chunk.length - placed };
        });
      try {
        let queue: MachineBid[] = [...bids];
        let unfit: MachineBid | undefined;
        while (queue.length > 0) {
          // One wave: the queue in chunks of `chunkCap`, all handed to the writer at once; it signs each transaction
          // while the node executes the previous one (one transaction per wave when the batch fits one).
          const chunks: MachineBid[][] = [];
          for (let start = 0; start < queue.length; start += chunkCap) chunks.push(queue.slice(start, start + chunkCap));
          const waveCap = chunkCap;
          const outcomes = await Promise.allSettled(chunks.map(placeChunk));
          const retry: MachineBid[] = [];
          let failure: unknown;
          outcomes.forEach((outcome, index) => {
            const chunk = chunks[index]!;
            if (outcome.status === "fulfilled") {
              lastTxHash = outcome.value.tx.txHash;
              // A full chunk went through: allow one more next time (the book, hence the gas per bid, changes).
              if (chunk.length === waveCap && chunkCap === waveCap) chunkCap = Math.min(txMaxBids, waveCap + 1);
              return;
            }
            const error: unknown = outcome.reason;
            // The chunk did not fit the gas limit: entries before `fits` did. Send it again in smaller chunks.
            if (error instanceof MarketRevertError && error.errorName === "BatchEntryOutOfGas") {
              const fits = Number(error.errorArgs[0] ?? 0);
              logger.warn({ bids: chunk.length, fits }, "batch out of gas; splitting it");
              if (fits > 0 && fits < chunk.length) {
                chunkCap = Math.min(chunkCap, fits);
                retry.push(...chunk);
              } else {
                // Not even the first entry fits a transaction: it can never be placed with this gas limit.
                unfit ??= chunk[0];
              }
              return;
            }
            failure ??= error;
          });
          // The machine retries the whole batch; bids other chunks placed come back as duplicates.
          if (failure !== undefined) throw failure;
          queue = retry;
        }
        // Nothing placed at all: report the entry that can never fit. Otherwise the machine naks the bids the
        // receipts do not mention.
        if (unfit !== undefined && results.length === 0) return { kind: "reverted", bidder: unfit.bidder, reason: "BatchEntryOutOfGas" };
        const placed = results.filter((r) => r.status === "placed").length;
        batchSpan.setAttributes({
          [GATEWAY_ATTRIBUTES.placed]: placed,
          [GATEWAY_ATTRIBUTES.rejected]: results.length - placed,
        });
        return { kind: "mined", txHash: lastTxHash, results };
      } catch (error) {
        batchSpan.setStatus({ code: SpanStatusCode.ERROR, message: errorNameOf(error) });
        logger.warn({ bids: bids.length, err: describeError(error) }, "batch submission failed; the machine retries");
        throw error;
      } finally {
        stopRecording();
        batchSpan.end();
      }
    };

    const submitCancel = async ({ cancel }: SubmitCancelInput): Promise<SubmitCancelOutput> => {
      const key = cancel.bidder.toLowerCase();
      // The request's `gateway.cancel` span (the relay may start later than the request, from the machine's queue).
      const parent = [...pendingCancels.values()].find((pending) => pending.bidder.toLowerCase() === key)?.span;
      try {
        const mined = await sendTransaction(parent ?? trace.wrapSpanContext(INVALID_SPAN_CONTEXT), 0, async () => ({ tx: await writer.cancel(cancel.bidder, cancel.signature), placed: 0, rejected: 0 }));
        cancelOutcomes.set(key, { kind: "mined", tx: mined.tx });
        return { kind: "mined" };
      } catch (error) {
        if (error instanceof MarketRevertError && error.errorName !== undefined) {
          cancelOutcomes.set(key, { kind: "reverted", reason: error.errorName });
          return { kind: "reverted", reason: error.errorName };
        }
        throw error;
      }
    };

    // --- actions (never throw) ------------------------------------------------------------------------------
    const settleCancels = (messageIds: readonly string[], disposition: GatewayAckParams["disposition"] | "naked"): void => {
      const settledBidders = new Set<string>();
      for (const id of messageIds) {
        const pending = pendingCancels.get(id);
        if (pending === undefined) continue;
        pendingCancels.delete(id);
        // Several requests for one bidder are merged by the machine into one relay: they share its outcome.
        settledBidders.add(pending.bidder.toLowerCase());
        const outcome = cancelOutcomes.get(pending.bidder.toLowerCase());
        if (disposition === "cancelRelayed" && outcome?.kind === "mined") {
          pending.resolve({ type: "bid.cancel.reply", bidder: pending.bidder as `0x${string}`, status: "cancelled", txHash: outcome.tx.txHash as `0x${string}` });
        } else if (disposition === "cancelRejected" && outcome?.kind === "reverted" && outcome.reason === "BidNotOpen") {
          pending.resolve({ type: "bid.cancel.reply", bidder: pending.bidder as `0x${string}`, status: "not-open" });
        } else if (disposition === "cancelRejected") {
          pending.reject(new RequestRejectedError("rejected", `the contract refused the cancel: ${outcome?.kind === "reverted" ? outcome.reason : "unknown"}`));
        } else if (disposition === "naked") {
          pending.reject(new RequestRejectedError("unavailable", "the cancel could not be relayed now", { hint: "retry later" }));
        } else {
          pending.reject(new RequestRejectedError("bad-message", "malformed cancel"));
        }
      }
      for (const bidder of settledBidders) cancelOutcomes.delete(bidder);
    };

    const ackMessages = ({ messageIds, disposition }: GatewayAckParams): void => {
      try {
        const bidIds = messageIds.filter((id) => id.startsWith("bid:"));
        settleCancels(
          messageIds.filter((id) => id.startsWith("cancel:")),
          disposition,
        );
        if (bidIds.length === 0) return;
        events.emit("settled", { messageIds: [...bidIds], disposition });
        if (disposition === "placed" || disposition === "duplicate") {
          track(intake.settle(bidIds, "ack", disposition));
          return;
        }
        // Terminated deliveries wait for their rejection notice, so the meter hears of it even if we die now (the
        // redelivery would be rejected and announced again). The machine may enqueue the notice after the ack.
        track(
          new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
            const announcements = bidIds.flatMap((id) => {
              const bidder = intake.bidderOf(id);
              const announcement = bidder === undefined ? undefined : rejectionAnnouncements.get(bidder.toLowerCase());
              return announcement === undefined ? [] : [announcement];
            });
            await Promise.allSettled(announcements);
            await intake.settle(bidIds, "term", disposition);
          }),
        );
      } catch (error) {
        logger.error({ err: error, disposition }, "ack failed");
      }
    };

    const nakMessages = ({ messageIds, delayMs }: GatewayNakParams): void => {
      try {
        settleCancels(
          messageIds.filter((id) => id.startsWith("cancel:")),
          "naked",
        );
        const bidIds = messageIds.filter((id) => id.startsWith("bid:"));
        if (bidIds.length === 0) return;
        logger.warn({ count: bidIds.length, delayMs }, "bids handed back to the queue");
        events.emit("settled", { messageIds: [...bidIds], disposition: "naked" });
        intake.nak(bidIds, delayMs);
      } catch (error) {
        logger.error({ err: error }, "nak failed");
      }
    };

    const notifyBidRejected = ({ bidder, reason }: NotifyBidRejectedParams): void => {
      const key = bidder.toLowerCase();
      const detail = rejectionDetails.get(key) ?? reason;
      rejectionDetails.delete(key);
      logger.info({ bidder, reason }, "bid rejected");
      const announcement = announceRejection(bidder, reason, detail)
        .catch((error: unknown) => logger.warn({ bidder, err: describeError(error) }, "could not publish a rejection notice"))
        .finally(() => {
          if (rejectionAnnouncements.get(key) === announcement) rejectionAnnouncements.delete(key);
        });
      rejectionAnnouncements.set(key, announcement);
      track(announcement);
    };

    // --- the machine ----------------------------------------------------------------------------------------
    const machine = provideGateway(
      {
        submitBids,
        submitCancel,
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
          pollIntervalMs: options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
          maxBlockRange: options.maxBlockRange ?? DEFAULT_MAX_BLOCK_RANGE,
          wakeUps: followerWakeUps,
        }),
        publishNotices: async ({ notices }) => publisher.publish(notices),
        saveCursor: async ({ lastProcessedBlock }) => {
          await store.save(lastProcessedBlock);
          events.emit("cursor", { lastProcessedBlock });
        },
      },
      { ackMessages, nakMessages, notifyBidRejected },
    );
    actor = createActor(machine, { input: { config, dimension: market.dim, startBlock }, ...(options.inspect ? { inspect: options.inspect } : {}) });
    actor.subscribe({ error: (error) => logger.error({ err: error }, "gateway machine failed") });
    actor.start();
    // Live view (issue 6): state value, tags and the machine's counters only.
    const snapshots = publishStateSnapshots(actor, {
      nc: clients.nc,
      subject: s.gateway.state,
      party: "gateway",
      id: marketId,
      ...(options.snapshotIntervalMs === undefined ? {} : { intervalMs: options.snapshotIntervalMs }),
      counts: () => {
        const context = actor.getSnapshot().context;
        return { ...context.stats, pending: context.pending.length, inFlight: context.inFlight.length };
      },
    });

    // --- inputs ---------------------------------------------------------------------------------------------
    intake = await startBidIntake({
      js,
      stream: streams.bids,
      durable: DURABLES.gatewayBids,
      tracer,
      logger,
      marketId,
      // One batch in flight, the next one collecting, and room for redeliveries.
      maxOutstanding: Math.max(4, config.gateway.batchMaxSize * 3),
      fetchExpiresMs: FETCH_EXPIRES_MS,
      deliver: ({ messageId, bid }) => {
        if (actor.getSnapshot().status === "active") actor.send({ type: "BID.RECEIVED", messageId, bid });
      },
      refused: async ({ bidder, error, detail }) => {
        own.refused += 1;
        if (bidder !== null) await announceRejection(bidder, error, detail);
      },
    });

    const cancelService: Service = serve(
      clients.nc,
      s.gateway.cancel,
      cancelRequestSchema,
      cancelReplySchema,
      async (request) => {
        const span = tracer.startSpan(
          GATEWAY_SPANS.cancel,
          { attributes: { [GATEWAY_ATTRIBUTES.marketId]: marketId, [GATEWAY_ATTRIBUTES.bidder]: request.bidder } },
          context.active(),
        );
        try {
          if (stopping || actor.getSnapshot().status !== "active") {
            throw new RequestRejectedError("unavailable", "the gateway is stopping", { hint: "retry with the next gateway" });
          }
          const messageId = `cancel:${++nextCancelId}`;
          const reply = await new Promise<CancelReply>((resolve, reject) => {
            pendingCancels.set(messageId, { bidder: request.bidder, span, resolve, reject });
            actor.send({ type: "CANCEL.RECEIVED", messageId, cancel: { bidder: request.bidder, signature: request.signature } });
          });
          span.setAttribute(GATEWAY_ATTRIBUTES.disposition, reply.status);
          if (reply.txHash !== undefined) span.setAttribute(GATEWAY_ATTRIBUTES.txHash, reply.txHash);
          return reply;
        } catch (error) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: errorNameOf(error) });
          throw error;
        } finally {
          span.end();
        }
      },
      // One gateway of several relays each cancel (the others would only pay for a reverting transaction).
      { concurrent: true, logger, queue: GATEWAY_QUEUE_GROUP },
    );
    await cancelService.ready;

    logger.info(
      { contract: contractAddress, chainId, gateway: wallet.address, startBlock, batchMaxSize: config.gateway.batchMaxSize },
      "gateway running",
    );

    // --- stop -----------------------------------------------------------------------------------------------
    let stopped: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopped ??= (async () => {
        stopping = true;
        logger.info({ outstanding: intake.outstanding() }, "gateway stopping");
        await intake.stopPulling();
        if (actor.getSnapshot().status === "active") actor.send({ type: "SHUTDOWN.REQUESTED" });
        const finished = await waitForMachine(actor, options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
        if (!finished) {
          logger.error("the gateway machine did not finish in time; handing everything back to the queue");
          actor.stop();
        }
        await cancelService.stop();
        for (const [id] of pendingCancels) settleCancels([id], "naked");
        await Promise.allSettled([...inFlightSettles]);
        intake.releaseAll();
        snapshots.stop();
        await clients.nc.drain().catch((error: unknown) => logger.warn({ err: error }, "NATS drain failed"));
        writer.close();
        provider.destroy();
        const counters = countersOf();
        logger.info({ counters: { ...counters, gasUsed: counters.gasUsed.toString() } }, "gateway stopped");
      })();
      return stopped;
    };

    const countersOf = (): GatewayCounters => {
      const stats = actor.getSnapshot().context.stats;
      return {
        batches: stats.batches,
        txs: own.txs,
        bidsPlaced: stats.placed,
        duplicates: stats.duplicates,
        rejected: stats.rejected,
        refused: own.refused,
        naked: stats.naked,
        cancelsRelayed: stats.cancelsRelayed,
        noticesPublished: stats.noticesPublished,
        gasUsed: own.gasUsed,
        compares: own.compares,
      };
    };

    return {
      actor,
      marketId,
      contractAddress,
      chainId,
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

function errorNameOf(error: unknown): string {
  if (error instanceof MarketRevertError && error.errorName !== undefined) return error.errorName;
  if (error instanceof GridveilError) return error.name;
  return error instanceof Error ? error.name : "Error";
}
