// The gateway's transactions (PROTOCOL §5 bidding and matching): a batch as waves of pipelined placeBids transactions
// (machines/gateway/chunking.ts decides the chunks), and a bidder's cancel; each traced, counted, and answered to
// the machine in its terms.
import type { EventEmitter } from "node:events";
import { INVALID_SPAN_CONTEXT, SpanStatusCode, context, trace, type Link, type Span, type SpanContext, type Tracer } from "@opentelemetry/api";
import { MarketRevertError } from "../../contracts/client/index.ts";
import {
  afterWave,
  chunksOf,
  isReusedBidder,
  type ChunkResult,
  type GatewayBid,
  type SubmitBidsOutput,
  type SubmitCancelInput,
  type SubmitCancelOutput,
} from "../../machines/gateway.ts";
import { describeError } from "../../machines/kit/errors.ts";
import { GridveilError } from "../../protocol/base/errors.ts";
import type { SignedBid } from "../../protocol/domain.ts";
import type { TrackedWork } from "../runtime/trackedWork.ts";
import type { Logger } from "../telemetry/logger.ts";
import { TransientChainError } from "./errors.ts";
import { contractBidOf } from "./bidWire.ts";
import type { ChainWriter, MinedTx } from "./chainWriter.ts";
import type { CompareCounter } from "./compares.ts";
import { GATEWAY_ATTRIBUTES, GATEWAY_SPANS } from "./spans.ts";
import { toAddress } from "../../protocol/base/hex.ts";

export type BatchMinedEvent = {
  txHash: string;
  blockNumber: number;
  gasUsed: bigint;
  bids: number;
  placed: number;
  rejected: number;
  compares: number | undefined;
};

export type CancelOutcome = { kind: "mined"; tx: MinedTx } | { kind: "reverted"; reason: string };

/** The contract's custom error for a bid id it does not hold; the gateway answers it itself for a bidder never placed. */
export const UNKNOWN_BID = "UnknownBid";

/** One transaction's outcome as the submitter traces it: the mined transaction and its entries placed and rejected. */
export type TracedTx = { tx: MinedTx; placed: number; rejected: number };

/** What a design's placement gets from the submitter for one batch. */
export type BatchTools = {
  /** Sends one transaction of `bids` entries as a `chain.tx` span under the batch's span, counted and reported. */
  transaction<T extends TracedTx>(bids: number, send: () => Promise<T>): Promise<T>;
  /** Keeps the contract's detail of a bid it rejected, for the rejection notice. */
  rejected(bidder: string, detail: string): void;
};

/**
 * How a design places a batch (version 1: waves of `placeBids` chunks, `wavePlacement`; version 2: per slot with hints,
 * slotPlacement.ts). It resolves with the machine's answer; throwing is a transient failure of the whole batch.
 */
export type Placement<TBid extends GatewayBid> = (bids: readonly TBid[], tools: BatchTools) => Promise<SubmitBidsOutput>;

export type SubmitterOptions<TBid extends GatewayBid> = {
  marketId: string;
  tracer: Tracer;
  logger: Logger;
  placement: Placement<TBid>;
  /** Relays a signed cancel; `TransientChainError` `bidNotOnChain` when its bid is not on chain (yet). */
  cancel(bidder: string, signature: string): Promise<MinedTx>;
  compareCounter: CompareCounter;
  work: TrackedWork;
  /** The `gateway.bid` span context of a bidder (links from the batch span). */
  spanContextOf(bidder: string): SpanContext | undefined;
  /** The `gateway.cancel` request span a relay belongs to, if this process received the request. */
  cancelSpanOf(bidder: string): Span | undefined;
  /** Whether any submission may still become a bid: the bids durable holds undelivered or unacknowledged messages. */
  submissionsInFlight(): Promise<boolean>;
  /** Records the machine's transitions on the batch span while it runs; returns the stop. */
  recordTransitions(span: Span): () => void;
  /** A transaction was mined: the follower reads at once instead of at its next poll. */
  onMined(): void;
  onBatch(event: BatchMinedEvent): void;
};

export type Submitter<TBid extends GatewayBid> = {
  submitBids(input: { bids: TBid[] }): Promise<SubmitBidsOutput>;
  submitCancel(input: SubmitCancelInput): Promise<SubmitCancelOutput>;
  /** The outcome of a bidder's relayed cancel (read once by whoever answers the request). */
  takeCancelOutcome(bidder: string): CancelOutcome | undefined;
  /** The contract's detail of a bid it rejected (read once, for the rejection notice). */
  takeRejectionDetail(bidder: string): string | undefined;
  counters(): { txs: number; gasUsed: bigint; compares: number };
};

export function createSubmitter<TBid extends GatewayBid>(options: SubmitterOptions<TBid>): Submitter<TBid> {
  const { tracer, logger, marketId } = options;
  const own = { txs: 0, gasUsed: 0n, compares: 0 };
  const cancelOutcomes = new Map<string, CancelOutcome>();
  const rejectionDetails = new Map<string, string>();

  const sendTransaction = async <T extends TracedTx>(parent: Span, bids: number, send: () => Promise<T>): Promise<T> => {
    const span = tracer.startSpan(
      GATEWAY_SPANS.tx,
      { attributes: { [GATEWAY_ATTRIBUTES.marketId]: marketId, [GATEWAY_ATTRIBUTES.txBids]: bids } },
      trace.setSpan(context.active(), parent),
    );
    let mined: T;
    try {
      mined = await send();
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorNameOf(error) });
      span.setAttribute(GATEWAY_ATTRIBUTES.error, errorNameOf(error));
      span.end();
      throw error;
    }
    const minedAt = Date.now();
    options.onMined();
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
    options.work.track(
      options.compareCounter
        .count(mined.tx.txHash)
        .then((compares) => {
          if (compares !== undefined) {
            span.setAttribute(GATEWAY_ATTRIBUTES.compares, compares);
            own.compares += compares;
          }
          if (bids > 0)
            options.onBatch({
              txHash: mined.tx.txHash,
              blockNumber: mined.tx.blockNumber,
              gasUsed: mined.tx.gasUsed,
              bids,
              placed: mined.placed,
              rejected: mined.rejected,
              compares,
            });
        })
        .finally(() => span.end(minedAt)),
      "counting a transaction's Compares",
    );
    return mined;
  };

  const submitBids = async ({ bids }: { bids: TBid[] }): Promise<SubmitBidsOutput> => {
    const links: Link[] = bids.flatMap((bid) => {
      const spanContext = options.spanContextOf(bid.bidder);
      return spanContext === undefined ? [] : [{ context: spanContext }];
    });
    const batchSpan = tracer.startSpan(GATEWAY_SPANS.batch, {
      root: true,
      links,
      attributes: { [GATEWAY_ATTRIBUTES.marketId]: marketId, [GATEWAY_ATTRIBUTES.batchSize]: bids.length },
    });
    const stopRecording = options.recordTransitions(batchSpan);
    try {
      const output = await options.placement(bids, {
        transaction: (count, send) => sendTransaction(batchSpan, count, send),
        rejected: (bidder, detail) => rejectionDetails.set(toAddress(bidder), detail),
      });
      if (output.kind === "mined") {
        const placed = output.results.filter((r) => r.status === "placed").length;
        const rejected = output.results.filter((r) => r.status === "rejected").length;
        batchSpan.setAttributes({ [GATEWAY_ATTRIBUTES.placed]: placed, [GATEWAY_ATTRIBUTES.rejected]: rejected });
      }
      return output;
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
    const key = toAddress(cancel.bidder);
    // The request's `gateway.cancel` span (the relay may start later than the request, from the machine's queue).
    const parent = options.cancelSpanOf(cancel.bidder) ?? trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
    const settled = (outcome: CancelOutcome): SubmitCancelOutput => {
      cancelOutcomes.set(key, outcome);
      return outcome.kind === "mined" ? { kind: "mined" } : outcome;
    };
    const relay = async (): Promise<SubmitCancelOutput> => {
      try {
        const mined = await sendTransaction(parent, 0, async () => ({
          tx: await options.cancel(cancel.bidder, cancel.signature),
          placed: 0,
          rejected: 0,
        }));
        return settled({ kind: "mined", tx: mined.tx });
      } catch (error) {
        if (error instanceof MarketRevertError && error.errorName !== undefined) return settled({ kind: "reverted", reason: error.errorName });
        throw error;
      }
    };
    const notOnChain = (error: unknown): boolean => error instanceof TransientChainError && error.reason === "bidNotOnChain";
    try {
      return await relay();
    } catch (error) {
      // Not on chain, and nothing on its way that could place it: the contract would answer UnknownBid, and waiting
      // cannot change that. (A submission still queued or in a batch may yet be placed: the machine retries.)
      if (!notOnChain(error) || (await options.submissionsInFlight())) throw error;
    }
    // Nothing in flight now, but a batch may have placed the bid between the first look and that check: look again.
    try {
      return await relay();
    } catch (error) {
      if (!notOnChain(error)) throw error;
    }
    return settled({ kind: "reverted", reason: UNKNOWN_BID });
  };

  const take = <T>(map: Map<string, T>, bidder: string): T | undefined => {
    const key = toAddress(bidder);
    const value = map.get(key);
    map.delete(key);
    return value;
  };

  return {
    submitBids,
    submitCancel,
    takeCancelOutcome: (bidder) => take(cancelOutcomes, bidder),
    takeRejectionDetail: (bidder) => take(rejectionDetails, bidder),
    counters: () => ({ ...own }),
  };
}

/**
 * Version 1's placement: the batch as waves of `placeBids` chunks of at most `txMaxBids` bids, each wave pipelined
 * (signed while the node executes the previous transaction); a chunk that runs out of gas goes again in smaller chunks
 * (machines/gateway/chunking.ts decides), and the size that fitted carries over to later batches.
 */
export function wavePlacement(options: { writer: ChainWriter; logger: Logger; txMaxBids: number }): Placement<SignedBid> {
  const { writer, logger } = options;
  // The chunk size the gas limit allowed lately: later batches start at it instead of paying for another revert.
  let chunkCap = options.txMaxBids;
  return async (bids, tools) => {
    const results: Extract<SubmitBidsOutput, { kind: "mined" }>["results"] = [];
    let lastTxHash = "";
    const placeChunk = async (chunk: readonly SignedBid[]): Promise<ChunkResult> => {
      try {
        const mined = await tools.transaction(chunk.length, async () => {
          const outcome = await writer.placeBatch(chunk.map(contractBidOf));
          let placed = 0;
          outcome.results.forEach((result, index) => {
            const bidder = chunk[index]!.bidder;
            if (result.status === "placed") {
              placed += 1;
              results.push({ bidder, status: "placed" });
            } else {
              // Kept for the rejection notice; a reused bidder is a duplicate and gets none.
              if (!isReusedBidder(result.errorName)) tools.rejected(bidder, result.detail);
              results.push({ bidder, status: "rejected", reason: result.errorName });
            }
          });
          return { tx: outcome.tx, placed, rejected: chunk.length - placed };
        });
        lastTxHash = mined.tx.txHash;
        return { kind: "placed" };
      } catch (error) {
        if (error instanceof MarketRevertError && error.errorName === "BatchEntryOutOfGas") {
          const fits = Number(error.errorArgs[0] ?? 0);
          logger.warn({ bids: chunk.length, fits }, "batch out of gas; splitting it");
          return { kind: "outOfGas", fits };
        }
        return { kind: "failed", error };
      }
    };
    let queue: SignedBid[] = [...bids];
    let unfit: SignedBid | undefined;
    while (queue.length > 0) {
      // One wave: all chunks handed to the writer at once; it signs each while the node executes the previous one.
      const wave = { chunks: chunksOf(queue, chunkCap), cap: chunkCap };
      const outcome = afterWave(wave, await Promise.all(wave.chunks.map(placeChunk)), options.txMaxBids);
      chunkCap = outcome.cap;
      unfit ??= outcome.unfit;
      // The machine retries the whole batch; bids other chunks placed come back as duplicates.
      if (outcome.failure !== undefined) throw outcome.failure.error;
      queue = outcome.retry;
    }
    // Nothing placed at all: report the entry that can never fit. Otherwise the machine naks the bids the
    // receipts do not mention.
    if (unfit !== undefined && results.length === 0) return { kind: "reverted", bidder: unfit.bidder, reason: "BatchEntryOutOfGas" };
    return { kind: "mined", txHash: lastTxHash, results };
  };
}

/** The name a failed transaction goes by in spans and logs (the contract's custom error when there is one). */
export function errorNameOf(error: unknown): string {
  if (error instanceof MarketRevertError && error.errorName !== undefined) return error.errorName;
  if (error instanceof GridveilError) return error.name;
  return error instanceof Error ? error.name : "Error";
}
