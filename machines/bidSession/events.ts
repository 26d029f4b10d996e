// What the meter routes to a bid session: the gateway's chain notices, the DSO's trade notices, the cancel command.
import { z } from "zod";
import { addressSchema } from "../../protocol/base/primitives.ts";
import { tradeTermsSchema } from "../../protocol/clearing.ts";
import { matchSchema, openingSchema } from "../../protocol/domain.ts";
import { bidRejectionSchema, disputeClaimSchema, voidReasonSchema } from "../../protocol/reasons.ts";
import { settledNoticeSchema } from "../../protocol/settlement.ts";
import { slotOpeningWireSchema } from "../../protocol/wire/schemas.ts";
import { defineEvents, type EventOf } from "../kit/events.ts";

const matchId = () => z.string().min(1).max(512);

export const bidSessionEvents = defineEvents({
  /** Gateway: the contract emitted `Matched(buy, sell)` involving this session's bidder. */
  "MATCH.RECEIVED": z.object({ type: z.literal("MATCH.RECEIVED"), match: matchSchema }),
  /** Gateway: the contract dropped this bid as expired. */
  "BID.EXPIRED": z.object({ type: z.literal("BID.EXPIRED"), bidder: addressSchema }),
  /** Gateway: the contract refused the bid for good (bad ticket, bad signature, …). */
  "BID.REJECTED": z.object({ type: z.literal("BID.REJECTED"), bidder: addressSchema, rejection: bidRejectionSchema }),
  /** Command (prosumer/runtime): withdraw this planned bid. */
  "BID.CANCEL": z.object({ type: z.literal("BID.CANCEL"), planId: z.string().min(1).max(256) }),
  /** Gateway: the contract removed the bid after its bidder's cancel. */
  "BID.CANCELLED": z.object({ type: z.literal("BID.CANCELLED"), bidder: addressSchema }),
  /** DSO: terms of the trade plus the counterpart's opening (decrypted by the runtime); v2 openings carry slot and seed. */
  "TERMS.RECEIVED": z.object({
    type: z.literal("TERMS.RECEIVED"),
    bidder: addressSchema,
    terms: tradeTermsSchema,
    counterpartOpening: z.union([openingSchema, slotOpeningWireSchema]),
  }),
  /** DSO: the match is void; `blamedBidders` did not open in time or their opening failed (may be empty). */
  "MATCH.VOIDED": z.object({
    type: z.literal("MATCH.VOIDED"),
    bidder: addressSchema,
    matchId: matchId(),
    reason: voidReasonSchema,
    blamedBidders: z.array(addressSchema).max(2),
  }),
  /** DSO: the trade is disputed (by the counterpart or by this meter) and will not settle. */
  "TRADE.DISPUTED": z.object({
    type: z.literal("TRADE.DISPUTED"),
    bidder: addressSchema,
    matchId: matchId(),
    dispute: disputeClaimSchema,
  }),
  /** DSO: the trade is settled: its figures and this session's own lines (the session adds its own reading). */
  "SETTLEMENT.RECEIVED": z.object({
    type: z.literal("SETTLEMENT.RECEIVED"),
    bidder: addressSchema,
    notice: settledNoticeSchema,
  }),
});

export type BidSessionEvent = EventOf<typeof bidSessionEvents.schemas>;
export type BidSessionEventType = BidSessionEvent["type"];
