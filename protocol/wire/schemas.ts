// One zod schema per NATS message (PROTOCOL §4–§6), validated at every boundary by actors/nats/codec.ts.
import { getAddress, isAddress, solidityPackedKeccak256 } from "ethers";
import { z } from "zod";

// ---------------------------------------------------------------------------------------------------------------
// Primitives
// ---------------------------------------------------------------------------------------------------------------

export type Hex = `0x${string}`;
/** EIP-55 checksummed Ethereum address (schemas normalise every spelling to it, so DB keys agree). */
export type Address = `0x${string}`;

/** BN254 scalar field order r (PROTOCOL §2): openings' α and β are scalars in F_r. */
export const FR_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
const UINT256_MAX = (1n << 256n) - 1n;

/** PROTOCOL §3/§4: Side `0 = Buy`, `1 = Sell` (the contract's enum). */
export const Side = { Buy: 0, Sell: 1 } as const;
export type Side = (typeof Side)[keyof typeof Side];

/** Upper bound on the number of price levels n (the unary encoding's dimension is n + 1; PROTOCOL §3). */
export const MAX_PRICE_LEVELS = 1024;

const DECIMAL = /^(0|[1-9][0-9]*)$/;

export const hexBytesSchema = z
  .string()
  .regex(/^0x([0-9a-fA-F]{2})*$/, "expected 0x-prefixed hex with an even number of digits")
  .transform((value) => value.toLowerCase() as Hex);

function fixedHex(bytes: number, what: string) {
  return z
    .string()
    .regex(new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`), `expected ${what} (0x + ${bytes * 2} hex digits)`)
    .transform((value) => value.toLowerCase() as Hex);
}

export const bytes32Schema = fixedHex(32, "bytes32");
/** 65-byte ECDSA signature `r ‖ s ‖ v` as produced by ethers. */
export const signatureSchema = fixedHex(65, "a 65-byte signature");
/** secp256k1 public key, uncompressed (`0x04…`, 65 bytes) or compressed (`0x02…`/`0x03…`, 33 bytes). */
export const publicKeySchema = z
  .string()
  .regex(/^0x(04[0-9a-fA-F]{128}|0[23][0-9a-fA-F]{64})$/, "expected a secp256k1 public key (0x04… or 0x02/0x03…)")
  .transform((value) => value.toLowerCase() as Hex);

export const addressSchema = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, { error: "expected a 20-byte Ethereum address", abort: true })
  .refine((value) => isAddress(value), "bad EIP-55 checksum")
  .transform((value) => getAddress(value) as Address);

/** Permanent meter id as provisioned by the DSO (not secret from the DSO, never sent to the gateway or chain). */
export const meterIdSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, "expected a meter id of 1–64 [A-Za-z0-9_.:-]");
/** Opaque per-meter NATS inbox token (see subjects.ts). */
export const inboxIdSchema = z.string().regex(/^[a-z0-9_-]{1,64}$/, "expected an inbox id of 1–64 [a-z0-9_-]");

export const sideSchema = z.union([z.literal(Side.Buy), z.literal(Side.Sell)], {
  error: "expected side 0 (buy) or 1 (sell)",
});
export const priceLevelSchema = z
  .int()
  .min(0, "price level must be ≥ 0")
  .max(MAX_PRICE_LEVELS - 1, `price level must be < ${MAX_PRICE_LEVELS}`);
export const quantityWhSchema = z.int().positive("quantity must be a positive number of Wh").max(Number.MAX_SAFE_INTEGER);
export const energyWhSchema = z.int().min(0, "energy must be ≥ 0 Wh").max(Number.MAX_SAFE_INTEGER);
/** Money in integer micro-units (µ€); negative = debit. */
export const microSchema = z.int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER);
export const unixMsSchema = z.int().min(0, "expected a Unix time in ms").max(Number.MAX_SAFE_INTEGER);
/** Ticket expiry, Unix seconds (what the contract compares with `block.timestamp`). */
export const unixSecondsSchema = z.int().min(0).max(2 ** 40);
export const txHashSchema = bytes32Schema;

/** Non-zero scalar in F_r as a decimal string (openings' α, β). */
export const scalarSchema = z
  .string()
  .regex(DECIMAL, { error: "expected a decimal integer string", abort: true })
  .refine((value) => {
    const n = BigInt(value);
    return n > 0n && n < FR_MODULUS;
  }, "expected a non-zero scalar below the BN254 group order r");

/** One uint256 EVM word as a decimal string. */
export const uint256Schema = z
  .string()
  .regex(DECIMAL, { error: "expected a decimal integer string", abort: true })
  .refine((value) => BigInt(value) <= UINT256_MAX, "exceeds uint256");

/** A bid's ciphertext in its EVM words (PROTOCOL §3): `left: uint256[2d]`, `right: uint256[4d]`. */
export const ciphertextWordsSchema = z
  .object({ left: z.array(uint256Schema).min(2), right: z.array(uint256Schema).min(4) })
  .refine((value) => value.left.length % 2 === 0 && value.right.length % 4 === 0, "left must be 2d words, right 4d")
  .refine((value) => value.left.length / 2 === value.right.length / 4, "left and right disagree on the dimension d");

/** On the wire a ciphertext is either the hex of the compact binary encoding, or the decimal EVM words. */
export const bidCiphertextSchema = z.union([hexBytesSchema.refine((hex) => hex.length > 2, "empty ciphertext"), ciphertextWordsSchema], {
  error: "expected the ciphertext as 0x-hex bytes or { left: string[], right: string[] }",
});
export type BidCiphertextWire = z.output<typeof bidCiphertextSchema>;

/** PROTOCOL §4: an opening reproduces the bid's ciphertexts and commitment with `msk`. */
export const openingSchema = z.strictObject({
  priceLevel: priceLevelSchema,
  quantityWh: quantityWhSchema,
  salt: bytes32Schema,
  alpha: scalarSchema,
  beta: scalarSchema,
});
export type Opening = z.output<typeof openingSchema>;

/** Signature by the sender over the message (see actors/secure/signed.ts); `issuedAt` lets receivers bound replays. */
export const authSchema = z.strictObject({
  signer: addressSchema,
  signature: signatureSchema,
  issuedAt: unixMsSchema,
});
export type Auth = z.output<typeof authSchema>;

/** End-to-end encrypted and signed envelope (actors/secure/sealed.ts). */
export const sealedSchema = z.strictObject({
  v: z.literal(1),
  sender: addressSchema,
  recipient: addressSchema,
  context: z.string().min(1).max(512),
  ciphertext: hexBytesSchema.refine((hex) => hex.length > 2, "empty ciphertext"),
  signature: signatureSchema,
});
export type Sealed = z.output<typeof sealedSchema>;

export const clearingRuleSchema = z.enum(["midpoint", "seller", "buyer"]);
export type ClearingRule = z.output<typeof clearingRuleSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Setup: enrolment (PROTOCOL §5 Setup)
// ---------------------------------------------------------------------------------------------------------------

export const marketDescriptionSchema = z.strictObject({
  marketId: z.string().regex(/^[a-z0-9_-]{1,64}$/),
  chainId: z.int().positive(),
  contractAddress: addressSchema,
  ticketSigner: addressSchema,
  /** FHIPE public parameters `pp`: the curve and the dimension d = n + 1. */
  fhipe: z.strictObject({ curve: z.literal("BN254"), dimension: z.int().min(2) }),
  priceLevels: z.strictObject({
    firstPriceMicroPerKWh: z.int().min(0),
    stepMicroPerKWh: z.int().positive(),
    count: z.int().min(2),
  }),
  clearingRule: clearingRuleSchema,
});
export type MarketDescription = z.output<typeof marketDescriptionSchema>;

/** Public request for the market description (no secrets in it): the gateway and observers use it. */
export const marketInfoRequestSchema = z.strictObject({ type: z.literal("market.info.request") });
export type MarketInfoRequest = z.output<typeof marketInfoRequestSchema>;

export const marketInfoReplySchema = z.strictObject({
  type: z.literal("market.info.reply"),
  market: marketDescriptionSchema,
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
  dso: z.strictObject({ address: addressSchema, publicKey: publicKeySchema }),
  /** `MskPayload` sealed to the meter's long-term key. */
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

// ---------------------------------------------------------------------------------------------------------------
// Bidding (PROTOCOL §4, §5 Bidding and matching)
// ---------------------------------------------------------------------------------------------------------------

export const ticketRequestSchema = z.strictObject({
  type: z.literal("ticket.request"),
  meterId: meterIdSchema,
  /** The one-time id: address of the bid's one-time key. */
  bidder: addressSchema,
  side: sideSchema,
  notAfter: unixSecondsSchema,
  /** Signed by the meter's long-term key. */
  auth: authSchema,
});
export type TicketRequest = z.output<typeof ticketRequestSchema>;

export const ticketSchema = z.strictObject({
  notAfter: unixSecondsSchema,
  /** EIP-712 signature by the DSO's ticket key over `(bidder, notAfter)`. */
  signature: signatureSchema,
});
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
  side: sideSchema,
  ciphertext: bidCiphertextSchema,
  commitment: bytes32Schema,
  ticket: ticketSchema,
  /** EIP-712 signature by the one-time key over `(side, keccak256(left ‖ right), commitment)`. */
  bidSignature: signatureSchema,
  submittedAt: unixMsSchema,
});
export type BidSubmission = z.output<typeof bidSubmissionSchema>;

export const cancelRequestSchema = z.strictObject({
  type: z.literal("bid.cancel"),
  bidder: addressSchema,
  /** The one-time key's signature the contract checks for `cancel`. */
  signature: signatureSchema,
});
export type CancelRequest = z.output<typeof cancelRequestSchema>;

export const cancelReplySchema = z.strictObject({
  type: z.literal("bid.cancel.reply"),
  bidder: addressSchema,
  status: z.enum(["cancelled", "not-open"]),
  txHash: txHashSchema.optional(),
});
export type CancelReply = z.output<typeof cancelReplySchema>;

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
  side: sideSchema,
  notAfter: unixSecondsSchema,
  /** Set when the expiry was observed through an on-chain purge. */
  txHash: txHashSchema.optional(),
  observedAt: unixMsSchema,
});
export type ExpiryEvent = z.output<typeof expiryEventSchema>;

export const placedEventSchema = z.strictObject({
  type: z.literal("market.placed"),
  bidder: addressSchema,
  side: sideSchema,
  txHash: txHashSchema,
  blockNumber: z.int().min(0),
  observedAt: unixMsSchema,
});
export type PlacedEvent = z.output<typeof placedEventSchema>;

export const rejectedEventSchema = z.strictObject({
  type: z.literal("market.rejected"),
  bidder: addressSchema,
  /** The contract's custom error name (`TicketExpired`, `BidderReused`, …) or `Unknown`. */
  error: z.string().min(1).max(64),
  detail: z.string().max(1000),
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

/** Deterministic trade id of a match: every party derives the same id from the public event. */
export function tradeIdOf(match: { buyId: string; sellId: string; txHash: string }): Hex {
  return solidityPackedKeccak256(["address", "address", "bytes32"], [match.buyId, match.sellId, match.txHash]) as Hex;
}

// ---------------------------------------------------------------------------------------------------------------
// Trading (PROTOCOL §5 Trading, steps 2–7)
// ---------------------------------------------------------------------------------------------------------------

/** Sealed payload (meter → DSO, step 2), sealed by the bid's one-time key: `sender` must equal `bidder`. */
export const openingPayloadSchema = z.strictObject({
  type: z.literal("opening"),
  tradeId: bytes32Schema,
  bidder: addressSchema,
  side: sideSchema,
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
    tradeId: bytes32Schema,
    buyId: addressSchema,
    sellId: addressSchema,
    txHash: txHashSchema,
    /** The recipient's own side and one-time id. */
    side: sideSchema,
    bidder: addressSchema,
    buyLevel: priceLevelSchema,
    sellLevel: priceLevelSchema,
    clearingRule: clearingRuleSchema,
    priceMicroPerKWh: z.int().min(0),
    quantityWh: quantityWhSchema,
    counterpart: z.strictObject({ bidder: addressSchema, opening: openingSchema }),
  })
  .refine((terms) => terms.buyLevel >= terms.sellLevel, "buy level below sell level")
  .refine((terms) => terms.bidder === (terms.side === Side.Buy ? terms.buyId : terms.sellId), "bidder is not on its side")
  .refine(
    (terms) => terms.counterpart.bidder === (terms.side === Side.Buy ? terms.sellId : terms.buyId),
    "counterpart is not the other side of the match",
  );
export type TradeTermsPayload = z.output<typeof tradeTermsPayloadSchema>;

export const tradeTermsMessageSchema = z.strictObject({
  type: z.literal("trade.terms"),
  tradeId: bytes32Schema,
  sealed: sealedSchema,
});
export type TradeTermsMessage = z.output<typeof tradeTermsMessageSchema>;

/** The opening check's rejections (protocol/verifyOpening.ts) plus the terms checks a meter makes. */
export const disputeReasonSchema = z.enum([
  "malformed-opening",
  "price-level-out-of-range",
  "bad-randomizer",
  "dimension-mismatch",
  "commitment-mismatch",
  "ciphertext-mismatch",
  "levels-not-crossed",
  "terms-mismatch",
  /** The meter could not check the counterpart's opening at all (bid not found on chain, RPC down after retries). */
  "counterpart-unverifiable",
]);
export type DisputeReason = z.output<typeof disputeReasonSchema>;

export const disputeSchema = z.strictObject({
  type: z.literal("dispute"),
  tradeId: bytes32Schema,
  /** The disputing meter's one-time id; `auth.signer` must equal it. */
  bidder: addressSchema,
  reason: disputeReasonSchema,
  detail: z.string().max(1000),
  auth: authSchema,
});
export type Dispute = z.output<typeof disputeSchema>;

export const disputeAckSchema = z.strictObject({
  type: z.literal("dispute.ack"),
  tradeId: bytes32Schema,
  status: z.enum(["recorded", "duplicate"]),
});
export type DisputeAck = z.output<typeof disputeAckSchema>;

/** Same values as machines/types.ts `voidReasonSchema`. */
export const voidReasonSchema = z.enum(["openingTimeout", "openingInvalid", "levelOrder", "termsTimeout"]);
export type VoidReason = z.output<typeof voidReasonSchema>;

export const voidedNoticeSchema = z.strictObject({
  type: z.literal("trade.voided"),
  tradeId: bytes32Schema,
  bidder: addressSchema,
  reason: voidReasonSchema,
  /**
   * One-time ids blamed for the void (no opening in time, or an opening that did not verify): a blamed meter does
   * not re-bid, the other one does (machines/meter.ts re-bid rule). One-time ids are public on chain already.
   */
  blamedBidders: z.array(addressSchema).max(2).default([]),
});
export type VoidedNotice = z.output<typeof voidedNoticeSchema>;

/** DSO → one meter: a party disputed the trade (PROTOCOL §5 step 4); it is not settled and awaits manual resolution. */
export const disputedNoticeSchema = z.strictObject({
  type: z.literal("trade.disputed"),
  tradeId: bytes32Schema,
  bidder: addressSchema,
  /** The dispute reason as recorded (`disputeReasonSchema` value, possibly with detail). */
  reason: z.string().min(1).max(512),
});
export type DisputedNotice = z.output<typeof disputedNoticeSchema>;

/** Step 6: a meter's measured energy for a trade (fed for the seller, consumed for the buyer). */
export const readingSchema = z.strictObject({
  type: z.literal("reading"),
  tradeId: bytes32Schema,
  bidder: addressSchema,
  side: sideSchema,
  energyWh: energyWhSchema,
  measuredAt: unixMsSchema,
  /** Signed by the bid's one-time key: `auth.signer` must equal `bidder`. */
  auth: authSchema,
});
export type Reading = z.output<typeof readingSchema>;

export const ledgerAccountSchema = z
  .string()
  .regex(/^(meter:[A-Za-z0-9_.:-]{1,64}|dso:[A-Za-z0-9_-]{1,32})$/, "expected meter:<id> or dso:<book>");

/** What protocol/settlement.ts posts (one kind per role, so a meter trading with itself stays distinct). */
export const postingKindSchema = z.enum([
  "energy.buy",
  "energy.sell",
  "shortfall.supply",
  "shortfall.retail",
  "imbalance.charge",
  "imbalance.income",
  "fee.buyer",
  "fee.seller",
  "fee.revenue",
]);
export type PostingKind = z.output<typeof postingKindSchema>;

export const postingSchema = z.strictObject({
  account: ledgerAccountSchema,
  /** A `PostingKind`, or another posting kind token (e.g. the machines' `energy`, `networkFee`). */
  kind: z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,31}$/, "expected a posting kind token"),
  /** Positive = credit to the account, negative = debit. */
  amountMicro: microSchema,
  memo: z.string().max(200),
});
export type PostingWire = z.output<typeof postingSchema>;

/** Step 7 (settlements stream, DSO-internal): a trade's postings, which sum to zero. */
export const settlementSchema = z
  .strictObject({
    type: z.literal("settlement"),
    tradeId: bytes32Schema,
    period: z.string().regex(/^\d{4}-\d{2}(-\d{2})?$/, "expected a billing period YYYY-MM or YYYY-MM-DD"),
    settledAt: unixMsSchema,
    deliveredWh: energyWhSchema,
    shortfallWh: energyWhSchema,
    postings: z.array(postingSchema).min(1),
  })
  .refine((s) => s.postings.reduce((sum, p) => sum + p.amountMicro, 0) === 0, "postings do not sum to zero");
export type SettlementMessage = z.output<typeof settlementSchema>;

/** DSO → one meter: its own lines of a settled trade. */
export const settlementNoticeSchema = z.strictObject({
  type: z.literal("settlement.notice"),
  tradeId: bytes32Schema,
  bidder: addressSchema,
  period: z.string().regex(/^\d{4}-\d{2}(-\d{2})?$/),
  postings: z.array(postingSchema),
  netMicro: microSchema,
  /** The trade's figures (not secret from its parties), so a meter can report its outcome without asking. */
  quantityWh: quantityWhSchema.optional(),
  deliveredWh: energyWhSchema.optional(),
  shortfallWh: energyWhSchema.optional(),
  priceMicroPerKWh: z.int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
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

/** Every top-level message schema by its `type`, for generic tooling and tests. */
export const messageSchemas = {
  "market.info.request": marketInfoRequestSchema,
  "market.info.reply": marketInfoReplySchema,
  "enrol.request": enrolRequestSchema,
  "enrol.reply": enrolReplySchema,
  "ticket.request": ticketRequestSchema,
  "ticket.reply": ticketReplySchema,
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
  "trade.terms": tradeTermsMessageSchema,
  dispute: disputeSchema,
  "dispute.ack": disputeAckSchema,
  "trade.voided": voidedNoticeSchema,
  "trade.disputed": disputedNoticeSchema,
  reading: readingSchema,
  settlement: settlementSchema,
  "settlement.notice": settlementNoticeSchema,
  error: errorReplySchema,
  "state.snapshot": stateSnapshotSchema,
} as const;

/** Payloads that only ever travel inside a sealed envelope. */
export const sealedPayloadSchemas = {
  msk: mskPayloadSchema,
  opening: openingPayloadSchema,
  "trade.terms": tradeTermsPayloadSchema,
} as const;
