// What the gateway's machine takes: deliveries from the durable queues, the chain follower's block ranges, and its own
// shutdown; and what it publishes from the chain (PROTOCOL §5 bidding and matching, §6 messaging).
import { z } from "zod";
import type { Address } from "../../protocol/base/hex.ts";
import { addressSchema, bytes32Schema } from "../../protocol/base/primitives.ts";
import { sideSchema, type Match, type Side } from "../../protocol/domain.ts";
import { defineEvents, type EventOf } from "../kit/events.ts";

const logPosition = {
  blockNumber: z.number().int().nonnegative(),
  logIndex: z.number().int().nonnegative(),
  txHash: bytes32Schema,
};

/** Contract events as the follower decodes them (one per log). */
export const chainEventSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("matched"), buyBidder: addressSchema, sellBidder: addressSchema, ...logPosition }),
  z.object({ kind: z.literal("bidPlaced"), bidder: addressSchema, side: sideSchema, ...logPosition }),
  /** Version 2's log says the side, and the notice's `notAfter` is the slot's gate closure; version 1 reads both back. */
  z.object({
    kind: z.literal("bidExpired"),
    bidder: addressSchema,
    side: sideSchema.optional(),
    notAfter: z.number().int().nonnegative().optional(),
    ...logPosition,
  }),
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
  | { kind: "placed"; noticeId: string; bidder: Address; side: Side; at: NoticePosition }
  | { kind: "expired"; noticeId: string; bidder: Address; at: NoticePosition; expiry?: { side: Side; notAfter: number } }
  | { kind: "cancelled"; noticeId: string; bidder: Address; at: NoticePosition };

/**
 * Chain events → notices, one per log. Placements are announced too (`market.placed`): the meter's submission
 * resolves on the queue's ack, so this is how anyone learns that a bid is on chain, and since it comes from the
 * followed logs it is published at least once even if the gateway dies between the receipt and the ack.
 */
export function noticesOf(events: readonly ChainEvent[]): Notice[] {
  return events.map((event): Notice => {
    const noticeId = logIdOf(event);
    const at: NoticePosition = { blockNumber: event.blockNumber, logIndex: event.logIndex, txHash: event.txHash };
    switch (event.kind) {
      case "matched":
        return { kind: "match", noticeId, match: { matchId: noticeId, buyBidder: event.buyBidder, sellBidder: event.sellBidder }, at };
      case "bidExpired":
        return {
          kind: "expired",
          noticeId,
          bidder: event.bidder,
          at,
          ...(event.side !== undefined && event.notAfter !== undefined ? { expiry: { side: event.side, notAfter: event.notAfter } } : {}),
        };
      case "bidCancelled":
        return { kind: "cancelled", noticeId, bidder: event.bidder, at };
      case "bidPlaced":
        return { kind: "placed", noticeId, bidder: event.bidder, side: event.side, at };
    }
  });
}

const messageId = () => z.string().min(1).max(256);

export const gatewayEvents = defineEvents({
  /** JetStream (bid submissions, `Nats-Msg-Id` = bidder): one delivery; `bid` is validated by the machine. */
  "BID.RECEIVED": z.object({ type: z.literal("BID.RECEIVED"), messageId: messageId(), bid: z.unknown() }),
  /** Request/reply (`gateway.cancel`): a bidder's signed cancel. */
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
});

export type GatewayEvent = EventOf<typeof gatewayEvents.schemas>;
export type GatewayEventType = GatewayEvent["type"];
/** Events the follower may send back (`sendBack`). */
export type FollowerEvent = Extract<GatewayEvent, { type: "CHAIN.EVENTS.RECEIVED" | "CHAIN.FOLLOW.FAILED" }>;
