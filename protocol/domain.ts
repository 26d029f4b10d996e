// The values every party's machine and every message carry: sides, levels, openings, tickets, bids, matches, the
// market description (PROTOCOL §3, §4, §5). One schema each; the wire (protocol/wire/schemas.ts) builds its messages
// from these, and the machines parse their events with them.
import { solidityPackedKeccak256 } from "ethers";
import { z } from "zod";
import type { Hex } from "./base/hex.ts";
import { addressSchema, bytes32Schema, quantityWhSchema, scalarBelow, signatureSchema, uint256Schema, unixSecondsSchema } from "./base/primitives.ts";
import { FR_ORDER } from "./fhipe/order.ts";
import { clearingRuleSchema, MAX_PRICE_LEVELS, priceLevelsSchema } from "./marketConfig.ts";

// ---------------------------------------------------------------------------------------------------------------
// Sides: named in the machines, numbered on chain and on the wire (the contract's enum, and the commitment's uint8).

export const sideSchema = z.enum(["buy", "sell"]);
export type Side = z.output<typeof sideSchema>;

/** PROTOCOL §4: `0 = Buy`, `1 = Sell`, as the contract's `Side` enum and the commitment encode it. */
export const SideCode = { Buy: 0, Sell: 1 } as const;
export type SideCode = (typeof SideCode)[keyof typeof SideCode];
export const sideCodeSchema = z.union([z.literal(SideCode.Buy), z.literal(SideCode.Sell)], {
  error: "expected side 0 (buy) or 1 (sell)",
});

export function codeOfSide(side: Side): SideCode {
  return side === "buy" ? SideCode.Buy : SideCode.Sell;
}

export function sideOfCode(code: SideCode): Side {
  return code === SideCode.Buy ? "buy" : "sell";
}

export function otherSide(side: Side): Side {
  return side === "buy" ? "sell" : "buy";
}

// ---------------------------------------------------------------------------------------------------------------
// Identities (PROTOCOL §4).

/** Permanent meter id as provisioned by the DSO (not secret from the DSO, never sent to the gateway or chain). */
export const meterIdSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, "expected a meter id of 1–64 [A-Za-z0-9_.:-]");
export const marketIdSchema = z.string().regex(/^[a-z0-9_-]{1,64}$/, "expected a market id of 1–64 [a-z0-9_-]");

// ---------------------------------------------------------------------------------------------------------------
// A bid (PROTOCOL §3, §4).

export const priceLevelSchema = z
  .int()
  .min(0, "price level must be ≥ 0")
  .max(MAX_PRICE_LEVELS - 1, `price level must be < ${MAX_PRICE_LEVELS}`);

/** Non-zero scalar in F_r as a decimal string (openings' α, β). */
export const scalarSchema = scalarBelow(FR_ORDER, "a non-zero scalar below the BN254 group order r");

/** A bid's ciphertext in its EVM words (PROTOCOL §3): `left: uint256[2d]` (K2), `right: uint256[4d]` (C2). */
export const ciphertextWordsSchema = z
  .object({ left: z.array(uint256Schema).min(2), right: z.array(uint256Schema).min(4) })
  .refine((value) => value.left.length % 2 === 0 && value.right.length % 4 === 0, "left must be 2d words, right 4d")
  .refine((value) => value.left.length / 2 === value.right.length / 4, "left and right disagree on the dimension d");
export type BidCiphertext = z.output<typeof ciphertextWordsSchema>;

/** PROTOCOL §4: an opening `(priceLevel, quantityWh, salt, α, β)` reproduces the bid's ciphertexts and commitment. */
export const openingSchema = z.strictObject({
  priceLevel: priceLevelSchema,
  quantityWh: quantityWhSchema,
  salt: bytes32Schema,
  alpha: scalarSchema,
  beta: scalarSchema,
});
export type Opening = z.output<typeof openingSchema>;

/** The DSO's EIP-712 ticket over `(bidder, notAfter)`; `notAfter` in Unix seconds (PROTOCOL §4). */
export const ticketSchema = z.strictObject({
  bidder: addressSchema,
  notAfter: unixSecondsSchema,
  signature: signatureSchema,
});
export type Ticket = z.output<typeof ticketSchema>;

/** What a meter hands the gateway: everything the contract's `placeBid` needs, nothing in clear. */
export const signedBidSchema = z.object({
  bidder: addressSchema,
  side: sideSchema,
  ciphertext: ciphertextWordsSchema,
  commitment: bytes32Schema,
  ticket: ticketSchema,
  bidderSignature: signatureSchema,
});
export type SignedBid = z.output<typeof signedBidSchema>;

/** A bidder's request to cancel its open bid, signed by its one-time key, relayed by the gateway. */
export const cancelRequestSchema = z.object({
  bidder: addressSchema,
  signature: signatureSchema,
});
export type CancelRequest = z.output<typeof cancelRequestSchema>;

// ---------------------------------------------------------------------------------------------------------------
// A match (PROTOCOL §5 bidding and matching).

/** `Matched(buyId, sellId)` as the parties route it; `matchId` is the trade id (`tradeIdOf`). */
export const matchSchema = z.object({
  matchId: z.string().min(1).max(512),
  buyBidder: addressSchema,
  sellBidder: addressSchema,
});
export type Match = z.output<typeof matchSchema>;

/** Deterministic trade id of a match: every party derives the same id from the public event. */
export function tradeIdOf(match: { buyId: string; sellId: string; txHash: string }): Hex {
  return solidityPackedKeccak256(["address", "address", "bytes32"], [match.buyId, match.sellId, match.txHash]) as Hex;
}

// ---------------------------------------------------------------------------------------------------------------
// The market (PROTOCOL §5 setup).

/** Where a version 2 bid is encrypted (PROTOCOL §4 v2): by the DSO (default), or by the meter and checked by the DSO. */
export const encryptAtSchema = z.enum(["dso", "meter"]);
export type EncryptAt = z.output<typeof encryptAtSchema>;

/** The slot calendar of a version 2 market (PROTOCOL §5 setup and epochs, delivery slots), as its contract holds it. */
export const slotCalendarSchema = z.strictObject({
  slotSeconds: z.int().min(1).max(86_400),
  gateClosureSeconds: z.int().min(0).max(86_400),
  slotsPerEpoch: z.int().min(1).max(100_000),
  retentionSeconds: z.int().min(0),
});

/** What makes a market version 2: the block encoding's width, where bids are encrypted, and the slot calendar. */
export const slotMarketSchema = z.strictObject({
  /** Block width w (PROTOCOL §3.2); the encoding's dimension is `fhipe.dimension` = 2^w + 1. */
  width: z.int().min(1).max(8),
  encryptAt: encryptAtSchema,
  calendar: slotCalendarSchema,
});
export type SlotMarketDescription = z.output<typeof slotMarketSchema>;

/** Published by the DSO once per market; a meter receives it at enrolment, the gateway asks for it. */
export const marketDescriptionSchema = z.strictObject({
  marketId: marketIdSchema,
  chainId: z.int().positive(),
  contractAddress: addressSchema,
  ticketSigner: addressSchema,
  /** FHIPE public parameters `pp`: the curve and the dimension d = n + 1. */
  fhipe: z.strictObject({ curve: z.literal("BN254"), dimension: z.int().min(2) }),
  priceLevels: priceLevelsSchema,
  clearingRule: clearingRuleSchema,
  /** Version 2 (block encoding, slot market, certified bids); absent: version 1 (unary encoding, one book). */
  slots: slotMarketSchema.optional(),
});
export type MarketDescription = z.output<typeof marketDescriptionSchema>;
