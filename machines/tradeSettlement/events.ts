// What the dso machine routes to one trade (by matchId): the match's deliveries, openings, disputes and readings.
import { z } from "zod";
import { addressSchema, energyWhSchema } from "../../protocol/base/primitives.ts";
import { matchSchema, openingSchema } from "../../protocol/domain.ts";
import { disputeClaimSchema } from "../../protocol/reasons.ts";
import { defineEvents, type EventOf } from "../kit/events.ts";

const requestId = () => z.string().min(1).max(256);
const messageId = () => z.string().min(1).max(256);
const matchId = () => z.string().min(1).max(512);

export const tradeSettlementEvents = defineEvents({
  /** JetStream (matches stream): a (re)delivery of this match; its message is acked once the match is recorded. */
  "MATCH.RECEIVED": z.object({ type: z.literal("MATCH.RECEIVED"), messageId: messageId(), match: matchSchema }),
  /** Request (a meter, decrypted and signature-checked by the runtime): a bid's opening. Answered by reply. */
  "OPENING.RECEIVED": z.object({
    type: z.literal("OPENING.RECEIVED"),
    requestId: requestId(),
    matchId: matchId(),
    bidder: addressSchema,
    opening: openingSchema,
  }),
  /** Request (a meter): the counterpart's opening or the terms did not verify. Answered by reply. */
  "DISPUTE.RECEIVED": z.object({
    type: z.literal("DISPUTE.RECEIVED"),
    requestId: requestId(),
    matchId: matchId(),
    bidder: addressSchema,
    dispute: disputeClaimSchema,
  }),
  /** JetStream (readings stream): a meter's measured energy for the trade; acked when the trade is closed. */
  "READING.RECEIVED": z.object({
    type: z.literal("READING.RECEIVED"),
    messageId: messageId(),
    matchId: matchId(),
    bidder: addressSchema,
    measuredWh: energyWhSchema,
  }),
});

export type TradeSettlementEvent = EventOf<typeof tradeSettlementEvents.schemas>;
export type TradeSettlementEventType = TradeSettlementEvent["type"];
