// What the DSO's machine takes: the meters' requests (enrolment, tickets, version 2's certified bids), everything its
// trades take, and its own.
import { z } from "zod";
import { addressSchema, signatureSchema } from "../../protocol/base/primitives.ts";
import { defineEvents, type EventOf } from "../kit/events.ts";
import { tradeSettlementEvents } from "../tradeSettlement/events.ts";

const requestId = () => z.string().min(1).max(256);
const permanentId = () => z.string().min(1).max(256);

export const dsoEvents = defineEvents({
  ...tradeSettlementEvents.schemas,
  /**
   * Request (a meter): enrol. `payload` is the signed request as the meter sent it, `signature` its long-term
   * key's signature over it; `authenticateMeter` checks both against the registry.
   */
  "ENROLMENT.REQUESTED": z.object({
    type: z.literal("ENROLMENT.REQUESTED"),
    requestId: requestId(),
    permanentId: permanentId(),
    payload: z.string().max(65_536),
    signature: signatureSchema,
  }),
  /** Request (a meter, authenticated like enrolment): a ticket for a one-time identity (PROTOCOL §4). */
  "TICKET.REQUESTED": z.object({
    type: z.literal("TICKET.REQUESTED"),
    requestId: requestId(),
    permanentId: permanentId(),
    bidder: addressSchema,
    lifetimeSeconds: z.number().int().positive(),
    payload: z.string().max(65_536),
    signature: signatureSchema,
  }),
  /**
   * Request (a meter, version 2): a certified bid (PROTOCOL §4 v2), authenticated like a ticket; `payload` carries the
   * opening (and in meter mode the meter's ciphertext).
   */
  "CERTIFY.REQUESTED": z.object({
    type: z.literal("CERTIFY.REQUESTED"),
    requestId: requestId(),
    permanentId: permanentId(),
    bidder: addressSchema,
    payload: z.string().max(400_000),
    signature: signatureSchema,
  }),
  /** Internal, from a tradeSettlement child. */
  "TRADE.ENDED": z.object({
    type: z.literal("TRADE.ENDED"),
    matchId: z.string().min(1),
    stage: z.enum(["settled", "voided", "disputed", "alreadyClosed"]),
    settlement: z.unknown(),
    resolution: z.unknown(),
  }),
  /** Runtime: stop (in-flight trades live on in the database and are resumed at the next start). */
  "SHUTDOWN.REQUESTED": z.object({ type: z.literal("SHUTDOWN.REQUESTED") }),
});

export type DsoEvent = EventOf<typeof dsoEvents.schemas>;
export type DsoEventType = DsoEvent["type"];
