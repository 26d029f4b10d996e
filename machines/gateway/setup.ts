// The gateway machine's context, pure rules and named effects, delays, guards and actions (machines/gateway.ts
// wires them into states).
import { assign, enqueueActions, setup } from "xstate";
import { z } from "zod";
import { sameAddress, type Address } from "../../protocol/base/hex.ts";
import { addressSchema } from "../../protocol/base/primitives.ts";
import { cancelRequestSchema, type CancelRequest } from "../../protocol/domain.ts";
import { invalidBid } from "../../protocol/reasons.ts";
import { backoffMs, type MachineConfig } from "../config.ts";
import { unprovidedCallback, unprovidedEffects } from "../kit/effects.ts";
import { appendError, describeError, describeIssues, MachineInvariantError, type MachineErrorRecord } from "../kit/errors.ts";
import { bidProblem, isRetriedRejection, VERSION_1, type GatewayBid, type GatewayDesign } from "./bids.ts";
import { stepsOf, type StateNodeOf } from "../kit/steps.ts";
import {
  gatewayPromiseNames,
  type AckedStatus,
  type FollowChainInput,
  type GatewayAckParams,
  type GatewayNakParams,
  type GatewayPromiseActors,
  type NotifyBidRejectedParams,
  type SubmitBidsOutput,
  type SubmitCancelOutput,
} from "./effects.ts";
import { gatewayEvents, noticesOf, type ChainEvent, type FollowerEvent, type GatewayEvent } from "./events.ts";

export type GatewayInput = {
  config: MachineConfig;
  /** FHIPE dimension `d`: bids whose vectors are not `2d`/`4d` words are refused before paying gas. */
  dimension: number;
  /** Block to follow from when no cursor is stored (the contract's deployment block). */
  startBlock: number;
  /** Which bids the market takes (default version 1): the runtime reads it from the market description. */
  design?: GatewayDesign;
};

/** A bid waiting to be placed, with every delivery of it (redeliveries are acked together). */
export type PendingBid = { bidder: Address; bid: GatewayBid; messageIds: string[] };
export type PendingCancel = { bidder: Address; cancel: CancelRequest; messageIds: string[] };
export type BlockRange = { fromBlock: number; toBlock: number; events: ChainEvent[] };

export type GatewayStats = {
  batches: number;
  placed: number;
  duplicates: number;
  rejected: number;
  naked: number;
  cancelsRelayed: number;
  noticesPublished: number;
};

/** The consecutive failures of each retried activity (each backs off on its own). */
export type FailureCounter = "submitFailures" | "cancelFailures" | "followFailures" | "publishFailures";

export type GatewayContext = {
  config: MachineConfig;
  dimension: number;
  design: GatewayDesign;
  startBlock: number;
  pending: PendingBid[];
  inFlight: PendingBid[];
  submitFailures: number;
  cancels: PendingCancel[];
  cancelFailures: number;
  /** Last block whose notices are published and whose cursor is saved. */
  lastProcessedBlock: number | null;
  /** Last block received from the follower (≥ lastProcessedBlock). */
  lastReceivedBlock: number | null;
  ranges: BlockRange[];
  followFailures: number;
  publishFailures: number;
  stopping: boolean;
  stats: GatewayStats;
  errors: MachineErrorRecord[];
};

export type GatewayOutput = { stats: GatewayStats; lastProcessedBlock: number | null };

export function initialContext(input: GatewayInput): GatewayContext {
  return {
    config: input.config,
    dimension: input.dimension,
    design: input.design ?? VERSION_1,
    startBlock: input.startBlock,
    pending: [],
    inFlight: [],
    submitFailures: 0,
    cancels: [],
    cancelFailures: 0,
    lastProcessedBlock: null,
    lastReceivedBlock: null,
    ranges: [],
    followFailures: 0,
    publishFailures: 0,
    stopping: false,
    stats: { batches: 0, placed: 0, duplicates: 0, rejected: 0, naked: 0, cancelsRelayed: 0, noticesPublished: 0 },
    errors: [],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Pure rules.

/** Adds a delivery to the pending bids, merging redeliveries of the same bidder (also while it is in flight). */
export function addDelivery(
  pending: readonly PendingBid[],
  inFlight: readonly PendingBid[],
  messageId: string,
  bid: GatewayBid,
): { pending: PendingBid[]; inFlight: PendingBid[] } {
  const merge = (list: readonly PendingBid[]) =>
    list.map((entry) =>
      sameAddress(entry.bidder, bid.bidder) && !entry.messageIds.includes(messageId) ? { ...entry, messageIds: [...entry.messageIds, messageId] } : entry,
    );
  if (inFlight.some((entry) => sameAddress(entry.bidder, bid.bidder))) return { pending: [...pending], inFlight: merge(inFlight) };
  if (pending.some((entry) => sameAddress(entry.bidder, bid.bidder))) return { pending: merge(pending), inFlight: [...inFlight] };
  return { pending: [...pending, { bidder: bid.bidder, bid, messageIds: [messageId] }], inFlight: [...inFlight] };
}

/**
 * The contract's custom error that means "this bidder is already on chain": the earlier submission was placed
 * (PROTOCOL §5: a bidder is single-use on chain).
 */
export function isReusedBidder(errorName: string | undefined): boolean {
  return errorName === "BidderAlreadyUsed";
}

export function fromBlockOf(context: GatewayContext): number {
  const last = context.lastReceivedBlock ?? context.lastProcessedBlock;
  return last === null ? context.startBlock : last + 1;
}

/** The head block range (present when a state that reads it runs). */
export function headRange(context: GatewayContext): BlockRange {
  const range = context.ranges[0];
  if (range === undefined) throw new MachineInvariantError({ machine: "gateway", what: "the head block range" });
  return range;
}

export function headCancel(context: GatewayContext): PendingCancel {
  const cancel = context.cancels[0];
  if (cancel === undefined) throw new MachineInvariantError({ machine: "gateway", what: "the head cancel" });
  return cancel;
}


function withError(context: GatewayContext, entry: MachineErrorRecord): MachineErrorRecord[] {
  return appendError(context.errors, entry, context.config.maxRecordedErrors);
}

// ---------------------------------------------------------------------------------------------------------------
// Setup.

type GatewayRuntimeAction =
  | { type: "ackMessages"; params: GatewayAckParams }
  | { type: "nakMessages"; params: GatewayNakParams }
  | { type: "notifyBidRejected"; params: NotifyBidRejectedParams };

/** `enqueueActions` typed with the runtime actions (setup cannot infer them for its own actions). */
function decide<TParams extends Record<string, unknown> | undefined>(
  collect: Parameters<typeof enqueueActions<GatewayContext, GatewayEvent, TParams, GatewayEvent, never, GatewayRuntimeAction, never>>[0],
) {
  return enqueueActions<GatewayContext, GatewayEvent, TParams, GatewayEvent, never, GatewayRuntimeAction, never>(collect);
}

const backoff = (counter: FailureCounter, base: "submitRetryBaseMs" | "followRetryBaseMs", max: "submitRetryMaxMs" | "followRetryMaxMs") =>
  ({ context }: { context: GatewayContext }) => backoffMs(context[counter], context.config.gateway[base], context.config.gateway[max]);

export const gatewaySetup = setup({
  types: {
    input: {} as GatewayInput,
    context: {} as GatewayContext,
    events: {} as GatewayEvent,
    output: {} as GatewayOutput,
  },
  actors: {
    ...unprovidedEffects<GatewayPromiseActors>("gateway", gatewayPromiseNames),
    followChain: unprovidedCallback<FollowerEvent, FollowChainInput>("gateway", "followChain"),
  },
  delays: {
    batchMaxDelay: ({ context }) => context.config.gateway.batchMaxDelayMs,
    submitRetryDelay: backoff("submitFailures", "submitRetryBaseMs", "submitRetryMaxMs"),
    cancelRetryDelay: backoff("cancelFailures", "submitRetryBaseMs", "submitRetryMaxMs"),
    followRetryDelay: backoff("followFailures", "followRetryBaseMs", "followRetryMaxMs"),
    publishRetryDelay: backoff("publishFailures", "followRetryBaseMs", "followRetryMaxMs"),
  },
  guards: {
    isWellFormed: ({ event }) => gatewayEvents.parse(event) !== null,
    hasPending: ({ context }) => context.pending.length > 0,
    batchFull: ({ context }) => context.pending.length >= context.config.gateway.batchMaxSize,
    stopping: ({ context }) => context.stopping,
    inFlightLeft: ({ context }) => context.inFlight.length > 0,
    submitRetriesLeft: ({ context }) => context.submitFailures < context.config.gateway.submitMaxAttempts,
    cancelRetriesLeft: ({ context }) => context.cancelFailures < context.config.gateway.submitMaxAttempts,
    hasCancel: ({ context }) => context.cancels.length > 0,
    hasRange: ({ context }) => context.ranges.length > 0,
    headRangeHasNotices: ({ context }) => context.ranges[0] !== undefined && noticesOf(context.ranges[0].events).length > 0,
    /** The follower skipped blocks: its range does not start right after the last one received. */
    rangeLeavesGap: ({ context, event }) => event.type === "CHAIN.EVENTS.RECEIVED" && event.fromBlock > fromBlockOf(context),
    isCursor: (_, params: { output: unknown }) => {
      const block = (params.output as { lastProcessedBlock?: unknown } | undefined)?.lastProcessedBlock;
      return block === null || z.number().int().nonnegative().safeParse(block).success;
    },
  },
  actions: {
    ackMessages: (_args, _params: GatewayAckParams) => {},
    nakMessages: (_args, _params: GatewayNakParams) => {},
    notifyBidRejected: (_args, _params: NotifyBidRejectedParams) => {},
    recordIfMalformed: assign(({ context, event }) => ({
      errors: gatewayEvents.recordIfMalformed(context.errors, event, context.config.maxRecordedErrors),
    })),
    /** One more consecutive failure of `counter`, recorded with its source. */
    recordFailure: assign(({ context }, params: { counter?: FailureCounter; source: string; error: unknown }) => ({
      ...(params.counter ? { [params.counter]: context[params.counter] + 1 } : {}),
      errors: withError(context, { kind: "effectFailed", source: params.source, detail: describeError(params.error) }),
    })),
    takeBatch: assign(({ context }) => ({
      inFlight: context.pending.slice(0, context.config.gateway.batchMaxSize),
      pending: context.pending.slice(context.config.gateway.batchMaxSize),
      stats: { ...context.stats, batches: context.stats.batches + 1 },
    })),
    startStopping: assign({ stopping: true }),
    /** Queues a contiguous block range from the follower, dropping blocks already received. */
    takeRange: assign(({ context, event }) => {
      if (event.type !== "CHAIN.EVENTS.RECEIVED") return {};
      const after = context.lastReceivedBlock ?? context.lastProcessedBlock ?? context.startBlock - 1;
      if (event.toBlock <= after) return {};
      const inRange = event.events.filter((e) => e.blockNumber > after && e.blockNumber <= event.toBlock);
      const outside = event.events.length - event.events.filter((e) => e.blockNumber >= event.fromBlock && e.blockNumber <= event.toBlock).length;
      return {
        ranges: [...context.ranges, { fromBlock: Math.max(event.fromBlock, after + 1), toBlock: event.toBlock, events: inRange }],
        lastReceivedBlock: event.toBlock,
        followFailures: 0,
        errors:
          outside > 0
            ? withError(context, { kind: "invalidOutput", source: "followChain", detail: `${outside} event(s) outside their range dropped` })
            : context.errors,
      };
    }),
  },
}).extend({
  actions: {
    /** Queues a valid bid delivery; an invalid one is acked as rejected at once so it cannot poison the queue. */
    takeBid: decide<undefined>(({ context, event, enqueue }) => {
      if (event.type !== "BID.RECEIVED") return;
      const problem = bidProblem(event.bid, context.dimension, context.design);
      if (problem === null) {
        enqueue.assign(addDelivery(context.pending, context.inFlight, event.messageId, event.bid as GatewayBid));
        return;
      }
      enqueue({ type: "ackMessages", params: { messageIds: [event.messageId], disposition: "malformed" } });
      const bidder = addressSchema.safeParse((event.bid as { bidder?: unknown } | null)?.bidder);
      if (bidder.success) enqueue({ type: "notifyBidRejected", params: { bidder: bidder.data, rejection: invalidBid(problem) } });
      enqueue.assign({
        errors: withError(context, { kind: "rejected", source: "BID.RECEIVED", detail: problem }),
        stats: { ...context.stats, rejected: context.stats.rejected + 1 },
      });
    }),
    takeCancel: decide<undefined>(({ context, event, enqueue }) => {
      if (event.type !== "CANCEL.RECEIVED") return;
      const parsed = cancelRequestSchema.safeParse(event.cancel);
      if (!parsed.success) {
        enqueue({ type: "ackMessages", params: { messageIds: [event.messageId], disposition: "malformed" } });
        enqueue.assign({ errors: withError(context, { kind: "rejected", source: "CANCEL.RECEIVED", detail: describeIssues(parsed.error) }) });
        return;
      }
      const existing = context.cancels.find((c) => sameAddress(c.bidder, parsed.data.bidder));
      enqueue.assign({
        cancels: existing
          ? context.cancels.map((c) => (c === existing ? { ...c, messageIds: [...c.messageIds, event.messageId] } : c))
          : [...context.cancels, { bidder: parsed.data.bidder, cancel: parsed.data, messageIds: [event.messageId] }],
      });
    }),
    /** Settles every bid of a mined batch by its result (PROTOCOL §5: a bidder is placed once). */
    settleMinedBatch: decide<{ output: SubmitBidsOutput }>(({ context, enqueue }, { output }) => {
      if (output.kind !== "mined") return;
      const stats = { ...context.stats };
      const byStatus: Record<AckedStatus, string[]> = { placed: [], duplicate: [], rejected: [] };
      const unknown: string[] = [];
      for (const entry of context.inFlight) {
        const result = output.results.find((r) => sameAddress(r.bidder, entry.bidder));
        // A bid the receipt does not mention was not placed: it goes back to the queue.
        if (!result) {
          enqueue({ type: "nakMessages", params: { messageIds: entry.messageIds, delayMs: 0 } });
          stats.naked += 1;
          continue;
        }
        // Its transaction's fate is not known (it may be on chain), or its hints failed, not the bid: later, sending it
        // again is safe (placed once).
        if (result.status === "unknown" || (result.status === "rejected" && isRetriedRejection(result.reason, context.design))) {
          unknown.push(...entry.messageIds);
          stats.naked += 1;
          continue;
        }
        const status: AckedStatus = result.status === "rejected" && isReusedBidder(result.reason) ? "duplicate" : result.status;
        byStatus[status].push(...entry.messageIds);
        if (status === "placed") stats.placed += 1;
        if (status === "duplicate") stats.duplicates += 1;
        if (status === "rejected") {
          stats.rejected += 1;
          enqueue({ type: "notifyBidRejected", params: { bidder: entry.bidder, rejection: { error: result.reason ?? "Rejected", detail: "" } } });
        }
      }
      for (const disposition of ["placed", "duplicate", "rejected"] as const)
        if (byStatus[disposition].length > 0) enqueue({ type: "ackMessages", params: { messageIds: byStatus[disposition], disposition } });
      if (unknown.length > 0) enqueue({ type: "nakMessages", params: { messageIds: unknown, delayMs: context.config.gateway.nakDelayMs } });
      enqueue.assign({ inFlight: [], submitFailures: 0, stats });
    }),
    /** A whole-batch revert blamed on one bid: settle that bid, keep the rest in flight. */
    settleRevertedBid: decide<{ output: SubmitBidsOutput }>(({ context, enqueue }, { output }) => {
      if (output.kind !== "reverted") return;
      const culprit = context.inFlight.find((entry) => sameAddress(entry.bidder, output.bidder));
      if (!culprit) {
        // Blamed a bid we did not send: treat as a transient failure of the whole batch.
        enqueue.assign({
          submitFailures: context.submitFailures + 1,
          errors: withError(context, { kind: "invalidOutput", source: "submitBids", detail: `revert blamed unknown bidder ${output.bidder}` }),
        });
        return;
      }
      const duplicate = isReusedBidder(output.reason);
      enqueue({ type: "ackMessages", params: { messageIds: culprit.messageIds, disposition: duplicate ? "duplicate" : "rejected" } });
      if (!duplicate) enqueue({ type: "notifyBidRejected", params: { bidder: culprit.bidder, rejection: { error: output.reason, detail: "" } } });
      enqueue.assign({
        inFlight: context.inFlight.filter((entry) => entry !== culprit),
        stats: {
          ...context.stats,
          duplicates: context.stats.duplicates + (duplicate ? 1 : 0),
          rejected: context.stats.rejected + (duplicate ? 0 : 1),
        },
      });
    }),
    /** Out of attempts: hand the batch back to the durable queue for later redelivery. */
    nakInFlight: decide<undefined>(({ context, enqueue }) => {
      const messageIds = context.inFlight.flatMap((entry) => entry.messageIds);
      if (messageIds.length > 0) enqueue({ type: "nakMessages", params: { messageIds, delayMs: context.config.gateway.nakDelayMs } });
      enqueue.assign({
        inFlight: [],
        submitFailures: 0,
        stats: { ...context.stats, naked: context.stats.naked + context.inFlight.length },
        errors: withError(context, { kind: "effectFailed", source: "submitBids", detail: "out of attempts; batch nak'ed" }),
      });
    }),
    settleCancel: decide<{ output: SubmitCancelOutput | null }>(({ context, enqueue }, { output }) => {
      const head = context.cancels[0];
      if (!head) return;
      const relayed = output?.kind === "mined";
      enqueue({ type: "ackMessages", params: { messageIds: head.messageIds, disposition: relayed ? "cancelRelayed" : "cancelRejected" } });
      enqueue.assign({
        cancels: context.cancels.slice(1),
        cancelFailures: 0,
        stats: { ...context.stats, cancelsRelayed: context.stats.cancelsRelayed + (relayed ? 1 : 0) },
        errors: output?.kind === "reverted" ? withError(context, { kind: "rejected", source: "submitCancel", detail: output.reason }) : context.errors,
      });
    }),
    nakHeadCancel: decide<undefined>(({ context, enqueue }) => {
      const head = context.cancels[0];
      if (!head) return;
      enqueue({ type: "nakMessages", params: { messageIds: head.messageIds, delayMs: context.config.gateway.nakDelayMs } });
      enqueue.assign({ cancels: context.cancels.slice(1), cancelFailures: 0 });
    }),
  },
});

export type GatewayStateNode = StateNodeOf<typeof gatewaySetup>;
export const step = stepsOf<GatewayStateNode>();

/** An effect failed: one more failure of `counter`, recorded, then `target` (a backoff, or its decision state). */
export function failedTo<const TTarget extends string>(target: TTarget, counter: FailureCounter, source: string) {
  return {
    target,
    actions: {
      type: "recordFailure" as const,
      params: ({ event }: { event: { error?: unknown } }) => ({ counter, source, error: event.error }),
    },
  };
}
