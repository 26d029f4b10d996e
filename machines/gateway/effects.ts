// The effects the gateway's machine asks its runtime for: transactions, the chain cursor, the follower, notices.
import type { CallbackActorLogic, PromiseActorLogic } from "xstate";
import type { Address } from "../../protocol/base/hex.ts";
import type { CancelRequest } from "../../protocol/domain.ts";
import type { BidRejection } from "../../protocol/reasons.ts";
import type { Effect, EffectsOf, EventSource } from "../kit/effects.ts";
import type { GatewayBid } from "./bids.ts";
import type { FollowerEvent, Notice } from "./events.ts";

/** What became of a bid: acked (`placed`, `duplicate`), terminated (`rejected`), or nak'ed with backoff (`unknown`). */
export type BidResultStatus = AckedStatus | "unknown";
export type AckedStatus = "placed" | "duplicate" | "rejected";
export type SubmitBidsInput = { bids: GatewayBid[] };
/**
 * `mined`: the transaction has a receipt; one result per bid (the contract's batch entry point skips or reports
 * each bid). `reverted`: the whole transaction reverted because of one identifiable bid (custom error decoded,
 * e.g. `BidderAlreadyUsed`, `TicketExpired`); the machine settles that bid and resubmits the rest. Throwing = transient.
 * A version 2 batch goes out as several transactions (per slot, pipelined); a bid whose transaction's fate is not
 * known is `unknown`: it may be on chain, so it goes back to the queue after `nakDelayMs`, and its redelivery is
 * placed or comes back `BidderAlreadyUsed` (a duplicate).
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

/** The gateway's promise effects (the follower is an event source beside them). */
export type GatewayPromiseActors = {
  submitBids: PromiseActorLogic<SubmitBidsOutput, SubmitBidsInput>;
  submitCancel: PromiseActorLogic<SubmitCancelOutput, SubmitCancelInput>;
  loadCursor: PromiseActorLogic<LoadCursorOutput, Record<string, never>>;
  publishNotices: PromiseActorLogic<void, PublishNoticesInput>;
  saveCursor: PromiseActorLogic<void, SaveCursorInput>;
};
export const gatewayPromiseNames = ["submitBids", "submitCancel", "loadCursor", "publishNotices", "saveCursor"] as const satisfies readonly (keyof GatewayPromiseActors)[];
export type GatewayActors = GatewayPromiseActors & {
  /** Callback actor: reads logs from `fromBlock` on and `sendBack`s `CHAIN.EVENTS.RECEIVED` / `CHAIN.FOLLOW.FAILED`. */
  followChain: CallbackActorLogic<FollowerEvent, FollowChainInput>;
};

/** How a delivery was settled; the runtime acks (or terms, for `rejected`) accordingly and logs the reason. */
export type AckDisposition = "placed" | "duplicate" | "rejected" | "cancelRelayed" | "cancelRejected" | "malformed";
export type GatewayAckParams = { messageIds: string[]; disposition: AckDisposition };
export type GatewayNakParams = { messageIds: string[]; delayMs: number };
/** The machine's decision to refuse a bid for good: the contract's error (its detail filled in by the runtime) or its own check. */
export type NotifyBidRejectedParams = { bidder: Address; rejection: BidRejection };
/** Fire-and-forget effects: they must not throw (log and drop instead). */
export type GatewayActions = {
  ackMessages: (params: GatewayAckParams) => void;
  nakMessages: (params: GatewayNakParams) => void;
  notifyBidRejected: (params: NotifyBidRejectedParams) => void;
};

/**
 * Every async effect of the gateway as plain functions; the follower as an event source. `TBid` is the kind of bid
 * the runtime's market takes (the machine's `design` input, which checked every bid before it is submitted).
 */
export type GatewayEffects<TBid extends GatewayBid = GatewayBid> = Omit<EffectsOf<GatewayPromiseActors>, "submitBids"> & {
  submitBids: Effect<{ bids: TBid[] }, SubmitBidsOutput>;
  followChain: EventSource<FollowChainInput, FollowerEvent>;
};
