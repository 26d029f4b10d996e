// The DSO's record of one trade, the replies it gives meanwhile, and the pure decisions of PROTOCOL §5 trading
// steps 1–4 (which opening stands, whom a void blames, what a late or stray request is told). Version 2 (a market
// with `slots`): the record carries the two certified openings from the start, and no opening is sent or verified.
import { z } from "zod";
import { type Address, sameAddress, sameHex } from "../../protocol/base/hex.ts";
import { addressSchema } from "../../protocol/base/primitives.ts";
import { fixTradeTerms, tradeTermsSchema, type TradeTerms } from "../../protocol/clearing.ts";
import { codeOfSide, openingSchema, type MarketDescription, type Match, type Opening, type Side } from "../../protocol/domain.ts";
import {
  disputeClaimSchema,
  voidReasonSchema,
  type DisputeClaim,
  type OpeningVerdict,
  type Refusal,
  type VoidReason,
} from "../../protocol/reasons.ts";
import { settlementSchema, type Settlement } from "../../protocol/settlement.ts";
import { tradeStageSchema, type TradeStage } from "../../protocol/tradeLifecycle.ts";
import { slotOpeningWireSchema } from "../../protocol/wire/schemas.ts";

/**
 * Version 2: a bid's opening as the DSO certified it (PROTOCOL §4 v2: side, slot, level, quantity, salt, seed). The
 * DSO holds it from the certification on, so a trade has both at its `Matched` (§5 v2 trading step 2).
 */
export const certifiedOpeningSchema = slotOpeningWireSchema;
export type CertifiedOpening = z.output<typeof certifiedOpeningSchema>;
/** A side's opening in a trade's record: sent after the match (version 1) or certified before it (version 2). */
export type TradeOpening = Opening | CertifiedOpening;

export function isCertifiedOpening(opening: TradeOpening): opening is CertifiedOpening {
  return "seed" in opening;
}

export type TradeResolution =
  | { kind: "voided"; reason: VoidReason; blamedBidders: Address[] }
  | { kind: "disputed"; dispute: DisputeClaim; raisedBy: Address };

const tradeResolutionSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("voided"), reason: voidReasonSchema, blamedBidders: z.array(addressSchema).max(2) }),
  z.object({ kind: z.literal("disputed"), dispute: disputeClaimSchema, raisedBy: addressSchema }),
]);

/** One row per match in the DSO's database (unique on `matchId`); `closed` once the outcome was published. */
export type TradeRecord = {
  matchId: string;
  buyBidder: Address;
  sellBidder: Address;
  stage: TradeStage;
  closed: boolean;
  buyOpening: TradeOpening | null;
  sellOpening: TradeOpening | null;
  terms: TradeTerms | null;
  settlement: Settlement | null;
  resolution: TradeResolution | null;
};

const tradeRecordSchema = z.object({
  matchId: z.string().min(1),
  buyBidder: addressSchema,
  sellBidder: addressSchema,
  stage: tradeStageSchema,
  closed: z.boolean(),
  buyOpening: z.union([openingSchema, certifiedOpeningSchema]).nullable(),
  sellOpening: z.union([openingSchema, certifiedOpeningSchema]).nullable(),
  terms: tradeTermsSchema.nullable(),
  settlement: settlementSchema.nullable(),
  resolution: tradeResolutionSchema.nullable(),
});

/** A stored record this version can resume (a row written by the machine itself). */
export function isTradeRecord(value: unknown): value is TradeRecord {
  return tradeRecordSchema.safeParse(value).success;
}

/** The stored record of this very match. */
export function isTradeRecordFor(value: unknown, matchId: string): value is TradeRecord {
  return isTradeRecord(value) && value.matchId === matchId;
}

export function freshRecord(match: Match): TradeRecord {
  return {
    matchId: match.matchId,
    buyBidder: match.buyBidder,
    sellBidder: match.sellBidder,
    stage: "awaitingOpenings",
    closed: false,
    buyOpening: null,
    sellOpening: null,
    terms: null,
    settlement: null,
    resolution: null,
  };
}

/** The answer to a request (enrolment, ticket, opening, dispute); the runtime sends it on the request's reply subject. */
export type RequestReply = { status: "ok"; body: ReplyBody } | { status: "error"; refusal: Refusal };
export type ReplyBody =
  | { kind: "enrolment"; sealedEnrolment: string; market: MarketDescription }
  | { kind: "ticket"; ticket: { bidder: Address; notAfter: number; signature: `0x${string}` } }
  | { kind: "openingAccepted" }
  | { kind: "disputeRecorded" }
  /** Version 2: the certified bid for the meter (opaque to the machine: the runtime's sealed reply). */
  | { kind: "certified"; certificate: string }
  /**
   * Version 2: the request was served, and the certifier refuses the bid on its merits (PROTOCOL §4 v2: a closed slot,
   * a level out of range, a ciphertext that is not the opening's…); `reason` names its rule, and the runtime answers
   * the meter with that named error. Counted as a refused request.
   */
  | { kind: "notCertified"; reason: string };

export function refused(reason: Refusal["reason"], detail?: string): RequestReply {
  return { status: "error", refusal: detail === undefined ? { reason } : { reason, detail } };
}

export function partyOf(record: TradeRecord, bidder: string): Side | null {
  if (sameAddress(record.buyBidder, bidder)) return "buy";
  if (sameAddress(record.sellBidder, bidder)) return "sell";
  return null;
}

function sameOpening(a: TradeOpening | null, b: Opening): boolean {
  return (
    a !== null &&
    !isCertifiedOpening(a) &&
    a.priceLevel === b.priceLevel &&
    a.quantityWh === b.quantityWh &&
    sameHex(a.salt, b.salt) &&
    a.alpha === b.alpha &&
    a.beta === b.beta
  );
}

function storedOpening(record: TradeRecord, side: Side): TradeOpening | null {
  return side === "buy" ? record.buyOpening : record.sellOpening;
}

/** The record with `opening` as its side's opening, unless that side already opened (the first opening stands). */
export function withOpening(record: TradeRecord, bidder: string, opening: Opening): TradeRecord {
  const side = partyOf(record, bidder);
  if (side === null || storedOpening(record, side) !== null) return record;
  return side === "buy" ? { ...record, buyOpening: opening } : { ...record, sellOpening: opening };
}

/** Reply to an opening request while the openings are being collected (first opening of each party stands). */
export function openingReply(record: TradeRecord, event: { matchId: string; bidder: string; opening: Opening }): RequestReply {
  const side = event.matchId === record.matchId ? partyOf(record, event.bidder) : null;
  if (side === null) return refused("notAParty");
  const stored = storedOpening(record, side);
  if (stored === null || sameOpening(stored, event.opening)) return { status: "ok", body: { kind: "openingAccepted" } };
  return refused("alreadyOpened");
}

/** Reply to an opening request after the opening window: only an identical resend is acknowledged. */
export function lateOpeningReply(record: TradeRecord, event: { matchId: string; bidder: string; opening: Opening }): RequestReply {
  const side = event.matchId === record.matchId ? partyOf(record, event.bidder) : null;
  if (side === null) return refused("notAParty");
  return sameOpening(storedOpening(record, side), event.opening) ? { status: "ok", body: { kind: "openingAccepted" } } : refused("openingWindowClosed");
}

/** Why a dispute is refused outside the dispute window. */
export function disputeRefusal(record: TradeRecord, event: { matchId: string; bidder: string }): RequestReply {
  if (event.matchId !== record.matchId || partyOf(record, event.bidder) === null) return refused("notAParty");
  return refused(record.terms === null ? "noTermsYet" : "disputeWindowClosed");
}

export function missingOpeners(record: TradeRecord): Address[] {
  const missing: Address[] = [];
  if (!record.buyOpening) missing.push(record.buyBidder);
  if (!record.sellOpening) missing.push(record.sellBidder);
  return missing;
}

/**
 * Version 2's verdicts on the certified openings (PROTOCOL §5 v2 trading step 2: nothing to verify, the DSO certified
 * both): a side without one was never certified by this DSO (`noTicket`), one of the other side is `sideMismatch`,
 * and two of different slots (the chain never matches across slots' books) are both `malformed-opening`.
 */
export function certifiedVerdicts(record: TradeRecord): { buy: OpeningVerdict; sell: OpeningVerdict } {
  const verdict = (opening: TradeOpening | null, side: Side): OpeningVerdict => {
    if (opening === null || !isCertifiedOpening(opening)) return { valid: false, reason: "noTicket" };
    if (opening.side !== codeOfSide(side)) return { valid: false, reason: "sideMismatch" };
    return { valid: true };
  };
  const buy = verdict(record.buyOpening, "buy");
  const sell = verdict(record.sellOpening, "sell");
  const { buyOpening, sellOpening } = record;
  if (buy.valid && sell.valid && buyOpening && sellOpening && isCertifiedOpening(buyOpening) && isCertifiedOpening(sellOpening) && buyOpening.slot !== sellOpening.slot)
    return { buy: { valid: false, reason: "malformed-opening" }, sell: { valid: false, reason: "malformed-opening" } };
  return { buy, sell };
}

/** Decision after both verifications (PROTOCOL §5 trading steps 2 and 4): the terms, or a void and whom it blames. */
export function decideOpenings(
  record: TradeRecord,
  verification: { buy: OpeningVerdict; sell: OpeningVerdict },
  market: MarketDescription,
): { terms: TradeTerms } | TradeResolution {
  const invalid: Address[] = [];
  if (!verification.buy.valid) invalid.push(record.buyBidder);
  if (!verification.sell.valid) invalid.push(record.sellBidder);
  if (invalid.length > 0 || !record.buyOpening || !record.sellOpening) return { kind: "voided", reason: "openingInvalid", blamedBidders: invalid };
  const fixed = fixTradeTerms({
    matchId: record.matchId,
    buyBidder: record.buyBidder,
    sellBidder: record.sellBidder,
    buyOpening: record.buyOpening,
    sellOpening: record.sellOpening,
    priceLevels: market.priceLevels,
    clearingRule: market.clearingRule,
  });
  if (fixed.ok) return { terms: fixed.terms };
  switch (fixed.reason) {
    case "buyLevelOutOfRange":
    case "buyQuantityInvalid":
      return { kind: "voided", reason: "openingInvalid", blamedBidders: [record.buyBidder] };
    case "sellLevelOutOfRange":
    case "sellQuantityInvalid":
      return { kind: "voided", reason: "openingInvalid", blamedBidders: [record.sellBidder] };
    case "levelOrder":
      // Both openings are genuine, yet the chain matched buy < sell: nobody to blame among the meters.
      return { kind: "voided", reason: "levelOrder", blamedBidders: [] };
  }
}
