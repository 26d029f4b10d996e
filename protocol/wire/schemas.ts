// One zod schema per NATS message (PROTOCOL §4–§6), validated at every boundary by actors/nats/codec.ts. Messages are
// built from the domain's schemas (protocol/domain.ts): a side travels as its code, a ticket without its bidder (the
// message names it), everything else as the domain defines it.
import { z } from "zod";
import { sameHex, type Hex } from "../base/hex.ts";
import {
  addressSchema,
  bytes32Schema,
  energyWhSchema,
  hexBytesSchema,
  microSchema,
  publicKeySchema,
  quantityWhSchema,
  signatureSchema,
  txHashSchema,
  uint256Schema,
  unixMsSchema,
  unixSecondsSchema,
} from "../base/primitives.ts";
import {
  SideCode,
  cancelRequestSchema as cancelRequestFields,
  ciphertextWordsSchema,
  marketDescriptionSchema,
  meterIdSchema,
  openingSchema,
  priceLevelSchema,
  sideCodeSchema,
  ticketSchema as domainTicketSchema,
  tradeIdOf,
} from "../domain.ts";
import { tradeTermsSchema } from "../clearing.ts";
import { SLOT_MAX } from "../book/slotBooks.ts";
import { bidRejectionSchema, disputeClaimSchema, voidReasonSchema } from "../reasons.ts";
import { postingKindSchema, settledNoticeSchema } from "../settlement.ts";

// ---------------------------------------------------------------------------------------------------------------
// Primitives
// ---------------------------------------------------------------------------------------------------------------

/** Opaque per-meter NATS inbox token (see subjects.ts). */
export const inboxIdSchema = z.string().regex(/^[a-z0-9_-]{1,64}$/, "expected an inbox id of 1–64 [a-z0-9_-]");

/** On the wire a ciphertext is either the hex of the compact binary encoding, or the decimal EVM words. */
export const bidCiphertextSchema = z.union([hexBytesSchema.refine((hex) => hex.length > 2, "empty ciphertext"), ciphertextWordsSchema], {
  error: "expected the ciphertext as 0x-hex bytes or { left: string[], right: string[] }",
});
export type BidCiphertextWire = z.output<typeof bidCiphertextSchema>;

/** Signature by the sender over the message (see actors/secure/signed.ts); `issuedAt` lets receivers bound replays. */
export const authSchema = z.strictObject({
  signer: addressSchema,
  signature: signatureSchema,
  issuedAt: unixMsSchema,
});
export type Auth = z.output<typeof authSchema>;

/** End-to-end encrypted and signed envelope (actors/secure/sealed.ts): sender, recipient and context are inside. */
export const sealedSchema = z.strictObject({
  v: z.literal(2),
  ciphertext: hexBytesSchema.refine((hex) => hex.length > 2, "empty ciphertext"),
});
export type Sealed = z.output<typeof sealedSchema>;

/**
 * A request whose payload is sealed to the party that answers it, and that party's sealed reply (PROTOCOL §6): the
 * endpoint table (endpoints.ts) names the payloads' schemas. An observer sees the subject and the envelope only.
 */
export const sealedRequestSchema = z.strictObject({ type: z.literal("sealed.request"), sealed: sealedSchema });
export type SealedRequest = z.output<typeof sealedRequestSchema>;
export const sealedReplySchema = z.strictObject({ type: z.literal("sealed.reply"), sealed: sealedSchema });
export type SealedReply = z.output<typeof sealedReplySchema>;

/**
 * A sealed message about one trade (DSO → meter notices, readings, settlements): the trade id, public on chain
 * already, stays in clear for routing and is bound into the seal's context; everything else is inside.
 */
export const sealedTradeMessageSchema = z.strictObject({ type: z.literal("sealed.trade"), tradeId: bytes32Schema, sealed: sealedSchema });
export type SealedTradeMessage = z.output<typeof sealedTradeMessageSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Setup: enrolment (PROTOCOL §5 Setup)
// ---------------------------------------------------------------------------------------------------------------

/** Public request for the market description (no secrets in it): the gateway and observers use it. */
export const marketInfoRequestSchema = z.strictObject({ type: z.literal("market.info.request") });
export type MarketInfoRequest = z.output<typeof marketInfoRequestSchema>;

/** The DSO's identity: what requests are sealed to and notices are signed by. */
export const dsoIdentitySchema = z.strictObject({ address: addressSchema, publicKey: publicKeySchema });
export type DsoIdentity = z.output<typeof dsoIdentitySchema>;

export const marketInfoReplySchema = z.strictObject({
  type: z.literal("market.info.reply"),
  market: marketDescriptionSchema,
  /** A meter seals its enrolment to this key; one provisioned with the DSO's address checks it first. */
  dso: dsoIdentitySchema,
});
export type MarketInfoReply = z.output<typeof marketInfoReplySchema>;

export const enrolRequestSchema = z.strictObject({
  type: z.literal("enrol.request"),
  meterId: meterIdSchema,
  name: z.string().min(1).max(128),
  /** The meter's long-term public key; `auth.signer` must be its address. */
  publicKey: publicKeySchema,
  auth: authSchema,
});
export type EnrolRequest = z.output<typeof enrolRequestSchema>;

export const enrolReplySchema = z.strictObject({
  type: z.literal("enrol.reply"),
  meterId: meterIdSchema,
  inboxId: inboxIdSchema,
  market: marketDescriptionSchema,
  dso: dsoIdentitySchema,
  /** `MskPayload` sealed to the meter's long-term key (inside the sealed reply as well: never in clear in the DSO). */
  sealedMsk: sealedSchema,
});
export type EnrolReply = z.output<typeof enrolReplySchema>;

/** Sealed payload: the FHIPE master secret key in the crypto module's binary encoding. */
export const mskPayloadSchema = z.strictObject({
  type: z.literal("msk"),
  marketId: z.string().min(1),
  msk: hexBytesSchema,
});
export type MskPayload = z.output<typeof mskPayloadSchema>;

/**
 * Sealed payload, version 2 (the enrolment reply's `sealedMsk` in a market with `slots`): the keys of the epochs that
 * take bids (PROTOCOL §5 setup: "in meter mode only, each epoch's msk_e sealed to it"), each `msk_e` in the crypto
 * module's binary encoding with its block-token key. In DSO mode `keys` is empty: a meter holds no key there. A meter
 * in meter mode enrols again for the key of an epoch it has none for.
 */
export const epochKeysPayloadSchema = z.strictObject({
  type: z.literal("epoch.keys"),
  marketId: z.string().min(1),
  keys: z.array(z.strictObject({ epoch: z.int().min(0), msk: hexBytesSchema, tokenKey: bytes32Schema })).max(8),
});
export type EpochKeysPayload = z.output<typeof epochKeysPayloadSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Bidding (PROTOCOL §4, §5 Bidding and matching)
// ---------------------------------------------------------------------------------------------------------------

export const ticketRequestSchema = z.strictObject({
  type: z.literal("ticket.request"),
  meterId: meterIdSchema,
  /** The one-time id: address of the bid's one-time key. */
  bidder: addressSchema,
  side: sideCodeSchema,
  notAfter: unixSecondsSchema,
  /** Signed by the meter's long-term key. */
  auth: authSchema,
});
export type TicketRequest = z.output<typeof ticketRequestSchema>;

/** The ticket as a message carries it: the message names the bidder (EIP-712 over `(bidder, notAfter)`). */
export const ticketSchema = domainTicketSchema.omit({ bidder: true });
export type Ticket = z.output<typeof ticketSchema>;

export const ticketReplySchema = z.strictObject({
  type: z.literal("ticket.reply"),
  bidder: addressSchema,
  ticket: ticketSchema,
});
export type TicketReply = z.output<typeof ticketReplySchema>;

export const bidSubmissionSchema = z.strictObject({
  type: z.literal("bid.submit"),
  bidder: addressSchema,
  side: sideCodeSchema,
  ciphertext: bidCiphertextSchema,
  commitment: bytes32Schema,
  ticket: ticketSchema,
  /** EIP-712 signature by the one-time key over `(side, keccak256(left ‖ right), commitment)`. */
  bidSignature: signatureSchema,
  submittedAt: unixMsSchema,
});
export type BidSubmission = z.output<typeof bidSubmissionSchema>;

/** The one-time key's signed cancel, as the contract checks it. */
export const cancelRequestSchema = z.strictObject({ type: z.literal("bid.cancel"), ...cancelRequestFields.shape });
export type CancelRequest = z.output<typeof cancelRequestSchema>;

export const cancelReplySchema = z.strictObject({
  type: z.literal("bid.cancel.reply"),
  bidder: addressSchema,
  status: z.enum(["cancelled", "not-open"]),
  txHash: txHashSchema.optional(),
});
export type CancelReply = z.output<typeof cancelReplySchema>;

// ---------------------------------------------------------------------------------------------------------------
// Version 2: certified bids and placement hints (PROTOCOL §4 v2, §5 v2)
// ---------------------------------------------------------------------------------------------------------------

/** A delivery slot's number (the contract's MAX_SLOT bounds it). */
const slotNumberSchema = z.int().min(0).max(SLOT_MAX);

/** A v2 opening on the wire: with the epoch's key it reproduces the ciphertext and the slot commitment. */
export const slotOpeningWireSchema = z.strictObject({
  side: sideCodeSchema,
  slot: slotNumberSchema,
  priceLevel: priceLevelSchema,
  quantityWh: quantityWhSchema,
  salt: bytes32Schema,
  /** The 32-byte seed every randomizer and filler of the bid is derived from (PROTOCOL §2 v2). */
  seed: bytes32Schema,
});
export type SlotOpeningWire = z.output<typeof slotOpeningWireSchema>;

/** A v2 ciphertext on the wire: the contract's flat word array (left tokens, then right tokens), decimal. */
export const slotCiphertextWordsSchema = z.array(uint256Schema).min(6).max(4_096);

/** Sealed payload (meter → DSO, by the bid's one-time key): a ticket for a certified bid, signed by the long-term key. */
export const certifyRequestSchema = z.strictObject({
  type: z.literal("certify.request"),
  meterId: meterIdSchema,
  /** The one-time id: it seals the request, and the ticket is for it. */
  bidder: addressSchema,
  opening: slotOpeningWireSchema,
  notAfter: unixSecondsSchema,
  /** Meter mode (`encryptAt: meter`) only: the meter's own encryption, checked word for word. */
  ciphertext: slotCiphertextWordsSchema.optional(),
  /** Signed by the meter's long-term key. */
  auth: authSchema,
});
export type CertifyRequest = z.output<typeof certifyRequestSchema>;

/** Sealed payload (DSO → meter): the certified bid, all the contract's `Bid` needs besides its hint. */
export const certifyReplySchema = z.strictObject({
  type: z.literal("certify.reply"),
  bidder: addressSchema,
  side: sideCodeSchema,
  slot: slotNumberSchema,
  notAfter: unixSecondsSchema,
  commitment: bytes32Schema,
  ciphertextRoot: bytes32Schema,
  ciphertext: slotCiphertextWordsSchema,
  /** EIP-712 by the DSO's ticket key over (bidder, side, slot, notAfter, ciphertextRoot, commitment). */
  ticketSignature: signatureSchema,
});
export type CertifyReply = z.output<typeof certifyReplySchema>;

/** A resting bid's token in a hint, with its Merkle proof against the bid's root (the contract's `RestingToken`). */
const restingTokenSchema = z.strictObject({ token: z.int().min(0).max(255), words: z.array(uint256Schema).max(64), proof: z.array(bytes32Schema).max(16) });

/** The contract's `Hint`: bids named by their one-time bidder (the zero address: none). */
export const slotHintSchema = z.strictObject({
  head: addressSchema,
  matchHead: z.boolean(),
  headToken: restingTokenSchema,
  prev: addressSchema,
  prevToken: restingTokenSchema,
  next: addressSchema,
  nextToken: restingTokenSchema,
});

const slotListsSchema = z.strictObject({ buy: z.array(addressSchema).max(100_000), sell: z.array(addressSchema).max(100_000) });

/** Gateway → DSO: hints for placing `bidders` in this order on a slot whose lists are `lists` (what `book()` says). */
export const hintsRequestSchema = z.strictObject({
  type: z.literal("hints.request"),
  slot: slotNumberSchema,
  lists: slotListsSchema,
  bidders: z.array(addressSchema).min(1).max(256),
  /** Unix seconds: expiries are judged at this time. */
  now: unixSecondsSchema,
});
export type HintsRequest = z.output<typeof hintsRequestSchema>;

export const hintsReplySchema = z.strictObject({
  type: z.literal("hints.reply"),
  hints: z.array(
    z.strictObject({
      bidder: addressSchema,
      hint: slotHintSchema,
      outcome: z.union([
        z.strictObject({ placed: z.literal(true), matchedWith: addressSchema.nullable() }),
        z.strictObject({ placed: z.literal(false), reason: z.string().min(1).max(64) }),
      ]),
    }),
  ),
  /** The lists once the batch is placed. */
  lists: slotListsSchema,
});
export type HintsReply = z.output<typeof hintsReplySchema>;

/** A certified v2 bid for the gateway (bids stream, `Nats-Msg-Id` = bidder): public fields only. */
export const slotBidSubmissionSchema = z.strictObject({
  type: z.literal("bid.submit.v2"),
  bidder: addressSchema,
  side: sideCodeSchema,
  slot: slotNumberSchema,
  notAfter: unixSecondsSchema,
  commitment: bytes32Schema,
  ciphertext: slotCiphertextWordsSchema,
  ticketSignature: signatureSchema,
  submittedAt: unixMsSchema,
});
export type SlotBidSubmission = z.output<typeof slotBidSubmissionSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Market events from the chain (gateway → everyone)
// ---------------------------------------------------------------------------------------------------------------

export const matchEventSchema = z
  .strictObject({
    type: z.literal("market.matched"),
    buyId: addressSchema,
    sellId: addressSchema,
    txHash: txHashSchema,
    blockNumber: z.int().min(0),
    logIndex: z.int().min(0),
    observedAt: unixMsSchema,
  })
  .refine((event) => event.buyId !== event.sellId, "a bid cannot match itself");
export type MatchEvent = z.output<typeof matchEventSchema>;

export const expiryEventSchema = z.strictObject({
  type: z.literal("market.expired"),
  bidder: addressSchema,
  side: sideCodeSchema,
  notAfter: unixSecondsSchema,
  /** Set when the expiry was observed through an on-chain purge. */
  txHash: txHashSchema.optional(),
  observedAt: unixMsSchema,
});
export type ExpiryEvent = z.output<typeof expiryEventSchema>;

export const placedEventSchema = z.strictObject({
  type: z.literal("market.placed"),
  bidder: addressSchema,
  side: sideCodeSchema,
  txHash: txHashSchema,
  blockNumber: z.int().min(0),
  observedAt: unixMsSchema,
});
export type PlacedEvent = z.output<typeof placedEventSchema>;

export const rejectedEventSchema = z.strictObject({
  type: z.literal("market.rejected"),
  bidder: addressSchema,
  /** The contract's custom error name (`TicketExpired`, …), or `InvalidBid` for the gateway's own checks. */
  ...bidRejectionSchema.shape,
  observedAt: unixMsSchema,
});
export type RejectedEvent = z.output<typeof rejectedEventSchema>;

export const cancelledEventSchema = z.strictObject({
  type: z.literal("market.cancelled"),
  bidder: addressSchema,
  txHash: txHashSchema,
  observedAt: unixMsSchema,
});
export type CancelledEvent = z.output<typeof cancelledEventSchema>;

/** Everything on `gridveil.<market>.market.*` (the matches stream). */
export const marketEventSchema = z.union([
  matchEventSchema,
  expiryEventSchema,
  placedEventSchema,
  rejectedEventSchema,
  cancelledEventSchema,
]);
export type MarketEvent = z.output<typeof marketEventSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Trading (PROTOCOL §5 Trading, steps 2–7)
// ---------------------------------------------------------------------------------------------------------------

/** Sealed payload (meter → DSO, step 2), sealed by the bid's one-time key: `sender` must equal `bidder`. */
export const openingPayloadSchema = z.strictObject({
  type: z.literal("opening"),
  tradeId: bytes32Schema,
  bidder: addressSchema,
  side: sideCodeSchema,
  opening: openingSchema,
});
export type OpeningPayload = z.output<typeof openingPayloadSchema>;

export const openingSubmissionSchema = z.strictObject({
  type: z.literal("opening.submit"),
  tradeId: bytes32Schema,
  bidder: addressSchema,
  sealed: sealedSchema,
});
export type OpeningSubmission = z.output<typeof openingSubmissionSchema>;

export const openingAckSchema = z.strictObject({
  type: z.literal("opening.ack"),
  tradeId: bytes32Schema,
  bidder: addressSchema,
  status: z.enum(["received", "duplicate"]),
});
export type OpeningAck = z.output<typeof openingAckSchema>;

/** Sealed payload (DSO → meter, step 3): the terms and the counterpart's opening, never its identity. */
export const tradeTermsPayloadSchema = z
  .strictObject({
    type: z.literal("trade.terms"),
    /** The trade as the DSO fixed it; `terms.matchId` is the trade id. */
    terms: z.strictObject({ ...tradeTermsSchema.shape, matchId: bytes32Schema }),
    /** The match's transaction: with the two one-time ids it gives the trade id (`tradeIdOf`). */
    txHash: txHashSchema,
    /** The recipient's own side and one-time id. */
    side: sideCodeSchema,
    bidder: addressSchema,
    counterpart: z.strictObject({ bidder: addressSchema, opening: openingSchema }),
  })
  .refine(({ terms }) => terms.buyLevel >= terms.sellLevel, "buy level below sell level")
  .refine(({ terms, side, bidder }) => bidder === (side === SideCode.Buy ? terms.buyBidder : terms.sellBidder), "bidder is not on its side")
  .refine(
    ({ terms, side, counterpart }) => counterpart.bidder === (side === SideCode.Buy ? terms.sellBidder : terms.buyBidder),
    "counterpart is not the other side of the match",
  );
export type TradeTermsPayload = z.output<typeof tradeTermsPayloadSchema>;

/**
 * Sealed payload (DSO → meter, v2, PROTOCOL §5 trading step 2, no opening round trip): the terms the DSO fixed at the
 * `Matched` from the two certified openings it holds, and the counterpart's certified opening (never its identity).
 */
export const slotTradeTermsPayloadSchema = z
  .strictObject({
    type: z.literal("trade.terms.v2"),
    terms: z.strictObject({ ...tradeTermsSchema.shape, matchId: bytes32Schema }),
    txHash: txHashSchema,
    slot: slotNumberSchema,
    /** The recipient's own side and one-time id. */
    side: sideCodeSchema,
    bidder: addressSchema,
    counterpart: z.strictObject({ bidder: addressSchema, opening: slotOpeningWireSchema }),
  })
  .refine(({ terms }) => terms.buyLevel >= terms.sellLevel, "buy level below sell level")
  .refine(({ terms, side, bidder }) => bidder === (side === SideCode.Buy ? terms.buyBidder : terms.sellBidder), "bidder is not on its side")
  .refine(({ side, counterpart }) => counterpart.opening.side !== side, "the counterpart's opening is of the recipient's own side")
  .refine(({ slot, counterpart }) => counterpart.opening.slot === slot, "the counterpart's opening is of another slot")
  .refine(
    ({ terms, side, counterpart }) => counterpart.bidder === (side === SideCode.Buy ? terms.sellBidder : terms.buyBidder),
    "counterpart is not the other side of the match",
  );
export type SlotTradeTermsPayload = z.output<typeof slotTradeTermsPayloadSchema>;

/** The terms name the trade they claim: its id is the one derived from the match they carry. */
export function termsNameTheirTrade(payload: Pick<TradeTermsPayload, "terms" | "txHash">): boolean {
  const { terms, txHash } = payload;
  return sameHex(tradeIdOf({ buyId: terms.buyBidder, sellId: terms.sellBidder, txHash }), terms.matchId);
}


export const disputeSchema = z.strictObject({
  type: z.literal("dispute"),
  tradeId: bytes32Schema,
  /** The disputing meter's one-time id; `auth.signer` must equal it. */
  bidder: addressSchema,
  /** Why, as the meter's bid session decided it (`disputeClaimOf`). */
  ...disputeClaimSchema.shape,
  auth: authSchema,
});
export type Dispute = z.output<typeof disputeSchema>;

export const disputeAckSchema = z.strictObject({
  type: z.literal("dispute.ack"),
  tradeId: bytes32Schema,
  status: z.enum(["recorded", "duplicate"]),
});
export type DisputeAck = z.output<typeof disputeAckSchema>;

export const voidedNoticeSchema = z.strictObject({
  type: z.literal("trade.voided"),
  tradeId: bytes32Schema,
  bidder: addressSchema,
  reason: voidReasonSchema,
  /**
   * One-time ids blamed for the void (no opening in time, or an opening that did not verify): a blamed meter does
   * not re-bid, the other one does (machines/meter.ts re-bid rule). One-time ids are public on chain already.
   */
  blamedBidders: z.array(addressSchema).max(2),
});
export type VoidedNotice = z.output<typeof voidedNoticeSchema>;

/** DSO → one meter: a party disputed the trade (PROTOCOL §5 step 4); it is not settled and awaits manual resolution. */
export const disputedNoticeSchema = z.strictObject({
  type: z.literal("trade.disputed"),
  tradeId: bytes32Schema,
  bidder: addressSchema,
  ...disputeClaimSchema.shape,
});
export type DisputedNotice = z.output<typeof disputedNoticeSchema>;

/** Step 6: a meter's measured energy for a trade (fed for the seller, consumed for the buyer). */
export const readingSchema = z.strictObject({
  type: z.literal("reading"),
  tradeId: bytes32Schema,
  bidder: addressSchema,
  side: sideCodeSchema,
  energyWh: energyWhSchema,
  measuredAt: unixMsSchema,
  /** Signed by the bid's one-time key: `auth.signer` must equal `bidder`. */
  auth: authSchema,
});
export type Reading = z.output<typeof readingSchema>;

export const ledgerAccountSchema = z
  .string()
  .regex(/^(meter:[A-Za-z0-9_.:-]{1,64}|dso:[A-Za-z0-9_-]{1,32})$/, "expected meter:<id> or dso:<book>");

export const postingSchema = z.strictObject({
  account: ledgerAccountSchema,
  kind: postingKindSchema,
  /** Positive = credit to the account, negative = debit. */
  amountMicro: microSchema,
  memo: z.string().max(200),
});
export type PostingWire = z.output<typeof postingSchema>;

const billingPeriodSchema = z.string().regex(/^\d{4}-\d{2}(-\d{2})?$/, "expected a billing period YYYY-MM or YYYY-MM-DD");

/** Step 7 (settlements stream, DSO-internal): a trade's postings, which sum to zero. */
export const settlementSchema = z
  .strictObject({
    type: z.literal("settlement"),
    tradeId: bytes32Schema,
    period: billingPeriodSchema,
    settledAt: unixMsSchema,
    deliveredWh: energyWhSchema,
    shortfallWh: energyWhSchema,
    postings: z.array(postingSchema).min(1),
  })
  .refine((s) => s.postings.reduce((sum, p) => sum + p.amountMicro, 0) === 0, "postings do not sum to zero");
export type SettlementMessage = z.output<typeof settlementSchema>;

/** DSO → one meter: the trade's figures and the meter's own lines, by its one-time id (`settledNoticeSchema`). */
export const settlementNoticeSchema = z.strictObject({
  type: z.literal("settlement.notice"),
  tradeId: bytes32Schema,
  bidder: addressSchema,
  period: billingPeriodSchema,
  ...settledNoticeSchema.omit({ matchId: true }).shape,
  netMicro: microSchema,
});
export type SettlementNotice = z.output<typeof settlementNoticeSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Replies and observability
// ---------------------------------------------------------------------------------------------------------------

export const errorCodeSchema = z.enum([
  "bad-message",
  "unauthorized",
  "not-found",
  "conflict",
  "rejected",
  "unavailable",
  "internal",
]);
export type ErrorCode = z.output<typeof errorCodeSchema>;

export const errorReplySchema = z.strictObject({
  type: z.literal("error"),
  code: errorCodeSchema,
  message: z.string().max(2000),
  hint: z.string().max(1000).optional(),
  issues: z.array(z.strictObject({ path: z.string(), message: z.string() })).optional(),
});
export type ErrorReply = z.output<typeof errorReplySchema>;

export const stateSnapshotSchema = z.strictObject({
  type: z.literal("state.snapshot"),
  party: z.enum(["dso", "gateway", "meter"]),
  actorId: z.string().min(1).max(128),
  /** The machine's state value (`"idle"` or `{ trading: "awaitingOpenings" }`). */
  state: z.json(),
  /** A secret-free summary of the context (counts, ids), never keys or openings. */
  summary: z.record(z.string(), z.json()),
  at: unixMsSchema,
});
export type StateSnapshot = z.output<typeof stateSnapshotSchema>;

/** Every message that travels in clear, by its `type`, for generic tooling and tests. */
export const messageSchemas = {
  "market.info.request": marketInfoRequestSchema,
  "market.info.reply": marketInfoReplySchema,
  "bid.submit": bidSubmissionSchema,
  "bid.cancel": cancelRequestSchema,
  "bid.cancel.reply": cancelReplySchema,
  "market.matched": matchEventSchema,
  "market.expired": expiryEventSchema,
  "market.placed": placedEventSchema,
  "market.rejected": rejectedEventSchema,
  "market.cancelled": cancelledEventSchema,
  "opening.submit": openingSubmissionSchema,
  "opening.ack": openingAckSchema,
  "sealed.request": sealedRequestSchema,
  "sealed.reply": sealedReplySchema,
  "sealed.trade": sealedTradeMessageSchema,
  "hints.request": hintsRequestSchema,
  "hints.reply": hintsReplySchema,
  "bid.submit.v2": slotBidSubmissionSchema,
  error: errorReplySchema,
  "state.snapshot": stateSnapshotSchema,
} as const;

/** Payloads that only ever travel inside a sealed envelope. */
export const sealedPayloadSchemas = {
  msk: mskPayloadSchema,
  "epoch.keys": epochKeysPayloadSchema,
  opening: openingPayloadSchema,
  "trade.terms": tradeTermsPayloadSchema,
  "enrol.request": enrolRequestSchema,
  "enrol.reply": enrolReplySchema,
  "ticket.request": ticketRequestSchema,
  "ticket.reply": ticketReplySchema,
  dispute: disputeSchema,
  "dispute.ack": disputeAckSchema,
  reading: readingSchema,
  settlement: settlementSchema,
  "trade.voided": voidedNoticeSchema,
  "trade.disputed": disputedNoticeSchema,
  "settlement.notice": settlementNoticeSchema,
  "certify.request": certifyRequestSchema,
  "certify.reply": certifyReplySchema,
  "trade.terms.v2": slotTradeTermsPayloadSchema,
} as const;
