// The chain gateway: consumes bid submissions from the durable queue, batches them into transactions, acks only on
// receipt (reused bidder = duplicate), relays cancels, and follows chain events from its last processed block to
// publish matches, expiries and cancellations (PROTOCOL §1 gateway, §5 bidding and matching, §6 messaging).
import { and, assign, enqueueActions, not, setup } from "xstate";
import type { CallbackActorLogic, MachineImplementationsFrom, PromiseActorLogic, SnapshotFrom } from "xstate";
import { z } from "zod";
import { backoffMs } from "./config.ts";
import type { MachineConfig } from "./config.ts";
import { eventSource, promiseEffect, unprovidedCallback, unprovidedPromise } from "./kit/effects.ts";
import type { Effect, EventSource } from "./kit/effects.ts";
import { sameAddress, type Address } from "../protocol/base/hex.ts";
import { addressSchema, bytes32Schema } from "../protocol/base/primitives.ts";
import { cancelRequestSchema, sideSchema, signedBidSchema, type CancelRequest, type Match, type SignedBid } from "../protocol/domain.ts";
import { appendError, describeError, describeIssues, type MachineErrorRecord } from "./kit/errors.ts";

// ---------------------------------------------------------------------------------------------------------------
// Chain events and notices.

const logPosition = {
  blockNumber: z.number().int().nonnegative(),
  logIndex: z.number().int().nonnegative(),
  txHash: bytes32Schema,
};

/** Contract events as the follower decodes them (one per log). */
export const chainEventSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("matched"), buyBidder: addressSchema, sellBidder: addressSchema, ...logPosition }),
  z.object({ kind: z.literal("bidPlaced"), bidder: addressSchema, side: sideSchema, ...logPosition }),
  z.object({ kind: z.literal("bidExpired"), bidder: addressSchema, ...logPosition }),
  z.object({ kind: z.literal("bidCancelled"), bidder: addressSchema, ...logPosition }),
]);
export type ChainEvent = z.infer<typeof chainEventSchema>;

/** Stable id of a log: `txHash:logIndex`. A match's `matchId`, and every notice's `Nats-Msg-Id`. */
export function logIdOf(event: Pick<ChainEvent, "txHash" | "logIndex">): string {
  return `${event.txHash}:${event.logIndex}`;
}

/** Where a notice's log sits on chain: the wire messages carry it (block number, transaction). */
export type NoticePosition = { blockNumber: number; logIndex: number; txHash: string };

/** What the gateway publishes for the meters and the DSO. */
export type Notice =
  | { kind: "match"; noticeId: string; match: Match; at: NoticePosition }
  | { kind: "placed"; noticeId: string; bidder: Address; side: z.infer<typeof sideSchema>; at: NoticePosition }
  | { kind: "expired"; noticeId: string; bidder: Address; at: NoticePosition }
  | { kind: "cancelled"; noticeId: string; bidder: Address; at: NoticePosition };

/**
 * Chain events → notices, one per log. Placements are announced too (`market.placed`): the meter's submission
 * resolves on the queue's ack, so this is how anyone learns that a bid is on chain, and since it comes from the
 * followed logs it is published at least once even if the gateway dies between the receipt and the ack.
 */
export function noticesOf(events: readonly ChainEvent[]): Notice[] {
  const notices: Notice[] = [];
  for (const event of events) {
    const noticeId = logIdOf(event);
    const at: NoticePosition = { blockNumber: event.blockNumber, logIndex: event.logIndex, txHash: event.txHash };
    switch (event.kind) {
      case "matched":
        notices.push({ kind: "match", noticeId, match: { matchId: noticeId, buyBidder: event.buyBidder, sellBidder: event.sellBidder }, at });
        break;
      case "bidExpired":
        notices.push({ kind: "expired", noticeId, bidder: event.bidder, at });
        break;
      case "bidCancelled":
        notices.push({ kind: "cancelled", noticeId, bidder: event.bidder, at });
        break;
      case "bidPlaced":
        notices.push({ kind: "placed", noticeId, bidder: event.bidder, side: event.side, at });
        break;
    }
  }
  return notices;
}

// ---------------------------------------------------------------------------------------------------------------
// Events.

const messageId = () => z.string().min(1).max(256);

export const gatewayEventSchemas = {
  /** JetStream (bid submissions, `Nats-Msg-Id` = bidder): one delivery; `bid` is validated by the machine. */
  "BID.RECEIVED": z.object({ type: z.literal("BID.RECEIVED"), messageId: messageId(), bid: z.unknown() }),
  /** JetStream (cancels): a bidder's signed cancel. */
  "CANCEL.RECEIVED": z.object({ type: z.literal("CANCEL.RECEIVED"), messageId: messageId(), cancel: z.unknown() }),
  /** From the follower: every contract event of blocks `fromBlock..toBlock`, in order; ranges are contiguous. */
  "CHAIN.EVENTS.RECEIVED": z.object({
    type: z.literal("CHAIN.EVENTS.RECEIVED"),
    fromBlock: z.number().int().nonnegative(),
    toBlock: z.number().int().nonnegative(),
    events: z.array(chainEventSchema).max(100_000),
  }),
  /** From the follower: it lost the chain; the machine restarts it from the last block it received. */
  "CHAIN.FOLLOW.FAILED": z.object({ type: z.literal("CHAIN.FOLLOW.FAILED"), error: z.string().max(2_000) }),
  /** Runtime: stop taking bids, flush and submit what is pending, publish what was received, then stop. */
  "SHUTDOWN.REQUESTED": z.object({ type: z.literal("SHUTDOWN.REQUESTED") }),
} as const;

type Schemas = typeof gatewayEventSchemas;
export type GatewayEvent = { [K in keyof Schemas]: z.infer<Schemas[K]> }[keyof Schemas];
export type GatewayEventType = GatewayEvent["type"];
export const gatewayEventTypes = Object.keys(gatewayEventSchemas) as GatewayEventType[];
/** Events the follower may send back (`sendBack`). */
export type FollowerEvent = Extract<GatewayEvent, { type: "CHAIN.EVENTS.RECEIVED" | "CHAIN.FOLLOW.FAILED" }>;

export function parseGatewayEvent(event: { type: string }): GatewayEvent | null {
  const schema = (gatewayEventSchemas as Record<string, z.ZodType<GatewayEvent>>)[event.type];
  if (!schema) return null;
  const parsed = schema.safeParse(event);
  return parsed.success ? parsed.data : null;
}

// ---------------------------------------------------------------------------------------------------------------
// Effects.

export type BidResultStatus = "placed" | "duplicate" | "rejected";
export type SubmitBidsInput = { bids: SignedBid[] };
/**
 * `mined`: the transaction has a receipt; one result per bid (the contract's batch entry point skips or reports
 * each bid). `reverted`: the whole transaction reverted because of one identifiable bid (custom error decoded,
 * e.g. `ReusedBidder`, `TicketExpired`); the machine settles that bid and resubmits the rest. Throwing = transient.
 */
export type SubmitBidsOutput =
  | { kind: "mined"; txHash: string; results: { bidder: Address; status: BidResultStatus; reason?: string }[] }
  | { kind: "reverted"; bidder: Address; reason: string };
export type SubmitCancelInput = { cancel: CancelRequest };
export type SubmitCancelOutput = { kind: "mined" } | { kind: "reverted"; reason: string };
export type LoadCursorOutput = { lastProcessedBlock: number | null };
export type FollowChainInput = { fromBlock: number };
export type PublishNoticesInput = { notices: Notice[] };
export type SaveCursorInput = { lastProcessedBlock: number };

export type GatewayActors = {
  submitBids: PromiseActorLogic<SubmitBidsOutput, SubmitBidsInput>;
  submitCancel: PromiseActorLogic<SubmitCancelOutput, SubmitCancelInput>;
  loadCursor: PromiseActorLogic<LoadCursorOutput, Record<string, never>>;
  /** Callback actor: reads logs from `fromBlock` on and `sendBack`s `CHAIN.EVENTS.RECEIVED` / `CHAIN.FOLLOW.FAILED`. */
  followChain: CallbackActorLogic<FollowerEvent, FollowChainInput>;
  publishNotices: PromiseActorLogic<void, PublishNoticesInput>;
  saveCursor: PromiseActorLogic<void, SaveCursorInput>;
};

/** How a delivery was settled; the runtime acks (or terms, for `rejected`) accordingly and logs the reason. */
export type AckDisposition = "placed" | "duplicate" | "rejected" | "cancelRelayed" | "cancelRejected" | "malformed";
export type GatewayAckParams = { messageIds: string[]; disposition: AckDisposition };
export type GatewayNakParams = { messageIds: string[]; delayMs: number };
export type NotifyBidRejectedParams = { bidder: Address; reason: string };
/** Fire-and-forget effects: they must not throw (log and drop instead). */
export type GatewayActions = {
  ackMessages: (params: GatewayAckParams) => void;
  nakMessages: (params: GatewayNakParams) => void;
  notifyBidRejected: (params: NotifyBidRejectedParams) => void;
};

export const gatewayActorNames = [
  "submitBids",
  "submitCancel",
  "loadCursor",
  "followChain",
  "publishNotices",
  "saveCursor",
] as const satisfies readonly (keyof GatewayActors)[];
export const gatewayActionNames = ["ackMessages", "nakMessages", "notifyBidRejected"] as const;
export const gatewayDelayNames = ["batchMaxDelay", "submitRetryDelay", "cancelRetryDelay", "followRetryDelay", "publishRetryDelay"] as const;

// ---------------------------------------------------------------------------------------------------------------
// Input, context, output.

export type GatewayInput = {
  config: MachineConfig;
  /** FHIPE dimension `d`: bids whose vectors are not `2d`/`4d` words are refused before paying gas. */
  dimension: number;
  /** Block to follow from when no cursor is stored (the contract's deployment block). */
  startBlock: number;
};

/** A bid waiting to be placed, with every delivery of it (redeliveries are acked together). */
export type PendingBid = { bidder: Address; bid: SignedBid; messageIds: string[] };
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

export type GatewayContext = {
  config: MachineConfig;
  dimension: number;
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

// ---------------------------------------------------------------------------------------------------------------
// Pure helpers.

function withError(context: GatewayContext, entry: MachineErrorRecord): MachineErrorRecord[] {
  return appendError(context.errors, entry, context.config.maxRecordedErrors);
}

/** Adds a delivery to the pending bids, merging redeliveries of the same bidder (also while it is in flight). */
export function addDelivery(
  pending: readonly PendingBid[],
  inFlight: readonly PendingBid[],
  messageId: string,
  bid: SignedBid,
): { pending: PendingBid[]; inFlight: PendingBid[] } {
  const merge = (list: readonly PendingBid[]) =>
    list.map((entry) =>
      sameAddress(entry.bidder, bid.bidder) && !entry.messageIds.includes(messageId)
        ? { ...entry, messageIds: [...entry.messageIds, messageId] }
        : entry,
    );
  if (inFlight.some((entry) => sameAddress(entry.bidder, bid.bidder))) return { pending: [...pending], inFlight: merge(inFlight) };
  if (pending.some((entry) => sameAddress(entry.bidder, bid.bidder))) return { pending: merge(pending), inFlight: [...inFlight] };
  return { pending: [...pending, { bidder: bid.bidder, bid, messageIds: [messageId] }], inFlight: [...inFlight] };
}

/** Why a bid is refused before it is sent, or null. */
export function bidProblem(bid: unknown, dimension: number): string | null {
  const parsed = signedBidSchema.safeParse(bid);
  if (!parsed.success) return describeIssues(parsed.error);
  if (parsed.data.ciphertext.left.length !== 2 * dimension) return `left must have ${2 * dimension} words`;
  if (parsed.data.ciphertext.right.length !== 4 * dimension) return `right must have ${4 * dimension} words`;
  if (!sameAddress(parsed.data.ticket.bidder, parsed.data.bidder)) return "ticket is for another bidder";
  return null;
}

/**
 * The revert reasons that mean "this bidder is already on chain": the earlier submission was placed. The contract's
 * error is `BidderAlreadyUsed(address,uint256)`; adapters pass its name (or "ReusedBidder", PROTOCOL §5's wording).
 */
export function isReusedBidder(reason: string | undefined): boolean {
  return typeof reason === "string" && /reusedbidder|bidderalreadyused/i.test(reason);
}

function fromBlockOf(context: GatewayContext): number {
  const last = context.lastReceivedBlock ?? context.lastProcessedBlock;
  return last === null ? context.startBlock : last + 1;
}

// ---------------------------------------------------------------------------------------------------------------
// The machine.

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

const gatewaySetup = setup({
  types: {
    input: {} as GatewayInput,
    context: {} as GatewayContext,
    events: {} as GatewayEvent,
    output: {} as GatewayOutput,
  },
  actors: {
    submitBids: unprovidedPromise<SubmitBidsOutput, SubmitBidsInput>("gateway", "submitBids"),
    submitCancel: unprovidedPromise<SubmitCancelOutput, SubmitCancelInput>("gateway", "submitCancel"),
    loadCursor: unprovidedPromise<LoadCursorOutput, Record<string, never>>("gateway", "loadCursor"),
    followChain: unprovidedCallback<FollowerEvent, FollowChainInput>("gateway", "followChain"),
    publishNotices: unprovidedPromise<void, PublishNoticesInput>("gateway", "publishNotices"),
    saveCursor: unprovidedPromise<void, SaveCursorInput>("gateway", "saveCursor"),
  },
  delays: {
    batchMaxDelay: ({ context }) => context.config.gateway.batchMaxDelayMs,
    submitRetryDelay: ({ context }) =>
      backoffMs(context.submitFailures, context.config.gateway.submitRetryBaseMs, context.config.gateway.submitRetryMaxMs),
    cancelRetryDelay: ({ context }) =>
      backoffMs(context.cancelFailures, context.config.gateway.submitRetryBaseMs, context.config.gateway.submitRetryMaxMs),
    followRetryDelay: ({ context }) =>
      backoffMs(context.followFailures, context.config.gateway.followRetryBaseMs, context.config.gateway.followRetryMaxMs),
    publishRetryDelay: ({ context }) =>
      backoffMs(context.publishFailures, context.config.gateway.followRetryBaseMs, context.config.gateway.followRetryMaxMs),
  },
  guards: {
    isWellFormed: ({ event }) => parseGatewayEvent(event) !== null,
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
    rangeLeavesGap: ({ context, event }) =>
      event.type === "CHAIN.EVENTS.RECEIVED" && event.fromBlock > fromBlockOf(context),
  },
  actions: {
    ackMessages: (_args, _params: GatewayAckParams) => {},
    nakMessages: (_args, _params: GatewayNakParams) => {},
    notifyBidRejected: (_args, _params: NotifyBidRejectedParams) => {},
    recordIfMalformed: assign(({ context, event }) => {
      if (parseGatewayEvent(event)) return {};
      const schema = (gatewayEventSchemas as Record<string, z.ZodType>)[event.type];
      const result = schema?.safeParse(event);
      return {
        errors: withError(context, {
          kind: "malformedEvent",
          source: String(event.type),
          detail: result && !result.success ? describeIssues(result.error) : "unknown type",
        }),
      };
    }),
    recordFailure: assign(({ context }, params: { source: string; error: unknown }) => ({
      errors: withError(context, { kind: "effectFailed", source: params.source, detail: describeError(params.error) }),
    })),
    takeBatch: assign(({ context }) => ({
      inFlight: context.pending.slice(0, context.config.gateway.batchMaxSize),
      pending: context.pending.slice(context.config.gateway.batchMaxSize),
      stats: { ...context.stats, batches: context.stats.batches + 1 },
    })),
    startStopping: assign({ stopping: true }),
  },
}).extend({
  actions: {
    /** Queues a valid bid delivery; an invalid one is acked as rejected at once so it cannot poison the queue. */
    takeBid: decide<undefined>(({ context, event, enqueue }) => {
      if (event.type !== "BID.RECEIVED") return;
      const problem = bidProblem(event.bid, context.dimension);
      if (problem === null) {
        enqueue.assign(addDelivery(context.pending, context.inFlight, event.messageId, event.bid as SignedBid));
        return;
      }
      enqueue({ type: "ackMessages", params: { messageIds: [event.messageId], disposition: "malformed" } });
      const bidder = addressSchema.safeParse((event.bid as { bidder?: unknown } | null)?.bidder);
      if (bidder.success) enqueue({ type: "notifyBidRejected", params: { bidder: bidder.data, reason: problem } });
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
        enqueue.assign({
          errors: withError(context, { kind: "rejected", source: "CANCEL.RECEIVED", detail: describeIssues(parsed.error) }),
        });
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
      const byStatus: Record<BidResultStatus, string[]> = { placed: [], duplicate: [], rejected: [] };
      for (const entry of context.inFlight) {
        const result = output.results.find((r) => sameAddress(r.bidder, entry.bidder));
        // A bid the receipt does not mention was not placed: it goes back to the queue.
        if (!result) {
          enqueue({ type: "nakMessages", params: { messageIds: entry.messageIds, delayMs: 0 } });
          stats.naked += 1;
          continue;
        }
        const status: BidResultStatus = result.status === "rejected" && isReusedBidder(result.reason) ? "duplicate" : result.status;
        byStatus[status].push(...entry.messageIds);
        if (status === "placed") stats.placed += 1;
        if (status === "duplicate") stats.duplicates += 1;
        if (status === "rejected") {
          stats.rejected += 1;
          enqueue({ type: "notifyBidRejected", params: { bidder: entry.bidder, reason: result.reason ?? "rejected" } });
        }
      }
      for (const disposition of ["placed", "duplicate", "rejected"] as const)
        if (byStatus[disposition].length > 0)
          enqueue({ type: "ackMessages", params: { messageIds: byStatus[disposition], disposition } });
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
      if (!duplicate) enqueue({ type: "notifyBidRejected", params: { bidder: culprit.bidder, reason: output.reason } });
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
      if (messageIds.length > 0)
        enqueue({ type: "nakMessages", params: { messageIds, delayMs: context.config.gateway.nakDelayMs } });
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
        errors:
          output?.kind === "reverted"
            ? withError(context, { kind: "rejected", source: "submitCancel", detail: output.reason })
            : context.errors,
      });
    }),
    nakHeadCancel: decide<undefined>(({ context, enqueue }) => {
      const head = context.cancels[0];
      if (!head) return;
      enqueue({ type: "nakMessages", params: { messageIds: head.messageIds, delayMs: context.config.gateway.nakDelayMs } });
      enqueue.assign({ cancels: context.cancels.slice(1), cancelFailures: 0 });
    }),
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
});

export const gateway = gatewaySetup.createMachine({
  id: "gateway",
  context: ({ input }) => ({
    config: input.config,
    dimension: input.dimension,
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
  }),
  output: ({ context }) => ({ stats: context.stats, lastProcessedBlock: context.lastProcessedBlock }),
  on: Object.fromEntries(gatewayEventTypes.map((type) => [type, { actions: "recordIfMalformed" }])),
  initial: "running",
  states: {
    running: {
      type: "parallel",
      onDone: "stopped",
      on: {
        // Deliveries arriving while stopping are left unacked: the durable queue redelivers them after restart.
        "BID.RECEIVED": [
          { guard: and(["isWellFormed", not("stopping")]), actions: "takeBid" },
          { guard: "isWellFormed" },
          { actions: "recordIfMalformed" },
        ],
        "CANCEL.RECEIVED": [
          { guard: and(["isWellFormed", not("stopping")]), actions: "takeCancel" },
          { guard: "isWellFormed" },
          { actions: "recordIfMalformed" },
        ],
        "SHUTDOWN.REQUESTED": { actions: "startStopping" },
      },
      states: {
        // Bid submissions → batches → transactions; acks only after the receipt.
        intake: {
          initial: "idle",
          states: {
            idle: {
              always: [
                { guard: "hasPending", target: "collecting" },
                { guard: "stopping", target: "done" },
              ],
            },
            collecting: {
              always: [
                { guard: "batchFull", target: "submitting", actions: "takeBatch" },
                { guard: "stopping", target: "submitting", actions: "takeBatch" },
              ],
              after: { batchMaxDelay: { target: "submitting", actions: "takeBatch" } },
            },
            submitting: {
              invoke: {
                id: "submitBids",
                src: "submitBids",
                input: ({ context }) => ({ bids: context.inFlight.map((entry) => entry.bid) }),
                onDone: [
                  {
                    guard: ({ event }) => event.output?.kind === "mined" && Array.isArray(event.output.results),
                    target: "settled",
                    actions: { type: "settleMinedBatch", params: ({ event }) => ({ output: event.output }) },
                  },
                  {
                    guard: ({ event }) => event.output?.kind === "reverted",
                    target: "resubmitting",
                    actions: { type: "settleRevertedBid", params: ({ event }) => ({ output: event.output }) },
                  },
                  {
                    target: "submitFailed",
                    actions: [
                      assign({ submitFailures: ({ context }) => context.submitFailures + 1 }),
                      { type: "recordFailure", params: { source: "submitBids", error: "malformed result" } },
                    ],
                  },
                ],
                onError: {
                  target: "submitFailed",
                  actions: [
                    assign({ submitFailures: ({ context }) => context.submitFailures + 1 }),
                    { type: "recordFailure", params: ({ event }) => ({ source: "submitBids", error: event.error }) },
                  ],
                },
              },
            },
            // After a blamed revert: what is left of the batch goes again at once (it did nothing wrong).
            resubmitting: {
              always: [
                { guard: and(["inFlightLeft", "submitRetriesLeft"]), target: "submitting" },
                { guard: "inFlightLeft", target: "settled", actions: "nakInFlight" },
                { target: "settled" },
              ],
            },
            submitFailed: {
              always: [
                { guard: "submitRetriesLeft", target: "submitBackoff" },
                { target: "settled", actions: "nakInFlight" },
              ],
            },
            submitBackoff: { after: { submitRetryDelay: "submitting" } },
            settled: {
              always: [
                { guard: "batchFull", target: "submitting", actions: "takeBatch" },
                { guard: "hasPending", target: "collecting" },
                { target: "idle" },
              ],
            },
            done: { type: "final" },
          },
        },

        // Cancels, one transaction each (they are rare and must not wait for a batch).
        cancels: {
          initial: "idle",
          states: {
            idle: {
              always: [
                { guard: "hasCancel", target: "relaying" },
                { guard: "stopping", target: "done" },
              ],
            },
            relaying: {
              invoke: {
                id: "submitCancel",
                src: "submitCancel",
                input: ({ context }) => ({ cancel: (context.cancels[0] as PendingCancel).cancel }),
                onDone: {
                  target: "idle",
                  actions: {
                    type: "settleCancel",
                    params: ({ event }) => ({
                      output: event.output?.kind === "mined" || event.output?.kind === "reverted" ? event.output : null,
                    }),
                  },
                },
                onError: {
                  target: "relayFailed",
                  actions: [
                    assign({ cancelFailures: ({ context }) => context.cancelFailures + 1 }),
                    { type: "recordFailure", params: ({ event }) => ({ source: "submitCancel", error: event.error }) },
                  ],
                },
              },
            },
            relayFailed: {
              always: [
                { guard: "cancelRetriesLeft", target: "relayBackoff" },
                { target: "idle", actions: "nakHeadCancel" },
              ],
            },
            relayBackoff: { after: { cancelRetryDelay: "relaying" } },
            done: { type: "final" },
          },
        },

        // Chain → notices, from the last processed block; the cursor is saved only after publishing.
        chain: {
          type: "parallel",
          states: {
            follower: {
              initial: "loadingCursor",
              states: {
                loadingCursor: {
                  invoke: {
                    id: "loadCursor",
                    src: "loadCursor",
                    input: () => ({}),
                    onDone: [
                      {
                        guard: ({ event }) =>
                          event.output?.lastProcessedBlock === null ||
                          z.number().int().nonnegative().safeParse(event.output?.lastProcessedBlock).success,
                        target: "following",
                        actions: assign({ lastProcessedBlock: ({ event }) => event.output.lastProcessedBlock }),
                      },
                      {
                        target: "cursorBackoff",
                        actions: [
                          assign({ followFailures: ({ context }) => context.followFailures + 1 }),
                          { type: "recordFailure", params: { source: "loadCursor", error: "malformed cursor" } },
                        ],
                      },
                    ],
                    onError: {
                      target: "cursorBackoff",
                      actions: [
                        assign({ followFailures: ({ context }) => context.followFailures + 1 }),
                        { type: "recordFailure", params: ({ event }) => ({ source: "loadCursor", error: event.error }) },
                      ],
                    },
                  },
                },
                cursorBackoff: { after: { followRetryDelay: "loadingCursor" } },
                following: {
                  always: { guard: "stopping", target: "done" },
                  invoke: {
                    id: "followChain",
                    src: "followChain",
                    input: ({ context }) => ({ fromBlock: fromBlockOf(context) }),
                    onError: {
                      target: "followBackoff",
                      actions: [
                        assign({ followFailures: ({ context }) => context.followFailures + 1 }),
                        { type: "recordFailure", params: ({ event }) => ({ source: "followChain", error: event.error }) },
                      ],
                    },
                  },
                  on: {
                    "CHAIN.EVENTS.RECEIVED": [
                      {
                        guard: and(["isWellFormed", "rangeLeavesGap"]),
                        target: "followBackoff",
                        actions: [
                          assign({ followFailures: ({ context }) => context.followFailures + 1 }),
                          {
                            type: "recordFailure",
                            params: ({ context, event }) => ({
                              source: "followChain",
                              error: `gap: expected block ${fromBlockOf(context)}, got ${event.fromBlock}`,
                            }),
                          },
                        ],
                      },
                      { guard: "isWellFormed", actions: "takeRange" },
                      { actions: "recordIfMalformed" },
                    ],
                    "CHAIN.FOLLOW.FAILED": [
                      {
                        guard: "isWellFormed",
                        target: "followBackoff",
                        actions: [
                          assign({ followFailures: ({ context }) => context.followFailures + 1 }),
                          { type: "recordFailure", params: ({ event }) => ({ source: "followChain", error: event.error }) },
                        ],
                      },
                      { actions: "recordIfMalformed" },
                    ],
                  },
                },
                // Restarts the follower from the block after the last one received.
                followBackoff: {
                  always: { guard: "stopping", target: "done" },
                  after: { followRetryDelay: "following" },
                },
                done: { type: "final" },
              },
            },
            publisher: {
              initial: "idle",
              states: {
                idle: {
                  always: [
                    { guard: and(["hasRange", "headRangeHasNotices"]), target: "publishing" },
                    { guard: "hasRange", target: "savingCursor" },
                    { guard: "stopping", target: "done" },
                  ],
                },
                publishing: {
                  invoke: {
                    id: "publishNotices",
                    src: "publishNotices",
                    input: ({ context }) => ({ notices: noticesOf((context.ranges[0] as BlockRange).events) }),
                    onDone: {
                      target: "savingCursor",
                      actions: assign({
                        publishFailures: 0,
                        stats: ({ context }) => ({
                          ...context.stats,
                          noticesPublished: context.stats.noticesPublished + noticesOf((context.ranges[0] as BlockRange).events).length,
                        }),
                      }),
                    },
                    onError: {
                      target: "publishBackoff",
                      actions: [
                        assign({ publishFailures: ({ context }) => context.publishFailures + 1 }),
                        { type: "recordFailure", params: ({ event }) => ({ source: "publishNotices", error: event.error }) },
                      ],
                    },
                  },
                },
                publishBackoff: { after: { publishRetryDelay: "publishing" } },
                savingCursor: {
                  invoke: {
                    id: "saveCursor",
                    src: "saveCursor",
                    input: ({ context }) => ({ lastProcessedBlock: (context.ranges[0] as BlockRange).toBlock }),
                    onDone: {
                      target: "idle",
                      actions: assign({
                        publishFailures: 0,
                        lastProcessedBlock: ({ context }) => (context.ranges[0] as BlockRange).toBlock,
                        ranges: ({ context }) => context.ranges.slice(1),
                      }),
                    },
                    onError: {
                      target: "savingBackoff",
                      actions: [
                        assign({ publishFailures: ({ context }) => context.publishFailures + 1 }),
                        { type: "recordFailure", params: ({ event }) => ({ source: "saveCursor", error: event.error }) },
                      ],
                    },
                  },
                },
                savingBackoff: { after: { publishRetryDelay: "savingCursor" } },
                done: { type: "final" },
              },
            },
          },
        },
      },
    },
    stopped: { type: "final", tags: ["stopped"] },
  },
});

export type GatewayMachine = typeof gateway;
export type GatewaySnapshot = SnapshotFrom<typeof gateway>;
export type GatewayImplementations = MachineImplementationsFrom<typeof gateway>;

/** Every async effect of the gateway as plain functions; the follower as an event source. */
export type GatewayEffects = {
  [K in Exclude<keyof GatewayActors, "followChain">]: GatewayActors[K] extends PromiseActorLogic<infer TOutput, infer TInput>
    ? Effect<TInput, TOutput>
    : never;
} & { followChain: EventSource<FollowChainInput, FollowerEvent> };

/** Provides every effect at once (the types require all of them). */
export function provideGateway(effects: GatewayEffects, actions: GatewayActions): GatewayMachine {
  return gateway.provide({
    actors: {
      submitBids: promiseEffect(effects.submitBids),
      submitCancel: promiseEffect(effects.submitCancel),
      loadCursor: promiseEffect(effects.loadCursor),
      followChain: eventSource(effects.followChain),
      publishNotices: promiseEffect(effects.publishNotices),
      saveCursor: promiseEffect(effects.saveCursor),
    },
    actions: {
      ackMessages: (_args, params) => actions.ackMessages(params),
      nakMessages: (_args, params) => actions.nakMessages(params),
      notifyBidRejected: (_args, params) => actions.notifyBidRejected(params),
    },
  });
}
