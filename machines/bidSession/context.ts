// A bid session's input, context and outcome, and the pure checks its transitions make (PROTOCOL §4, §5).
import { z } from "zod";
import { sameAddress, type Address, type Hex } from "../../protocol/base/hex.ts";
import { bytes32Schema } from "../../protocol/base/primitives.ts";
import { fixTradeTerms, sameTerms, type TradeTerms } from "../../protocol/clearing.ts";
import { ciphertextWordsSchema, openingSchema, otherSide } from "../../protocol/domain.ts";
import type { CertifyReply, SlotOpeningWire } from "../../protocol/wire/schemas.ts";
import type { BidCiphertext, MarketDescription, Match, Opening, Side, SignedBid, Ticket } from "../../protocol/domain.ts";
import { describeDisputeClaim, type BidRejection, type DisputeClaim, type VoidReason } from "../../protocol/reasons.ts";
import type { Settlement, SettledNotice } from "../../protocol/settlement.ts";
import type { MachineConfig } from "../config.ts";
import { describeIssues, MachineInvariantError, type MachineErrorRecord } from "../kit/errors.ts";
import type { CertifyBidOutput, EncryptBidOutput } from "./effects.ts";

export type BidSessionInput = {
  config: MachineConfig;
  /** Unique per meter; the meter uses `${planId}#${attempt}`. */
  sessionId: string;
  planId: string;
  /** 1 for the first bid of a plan, +1 per re-bid. */
  attempt: number;
  side: Side;
  priceLevel: number;
  quantityWh: number;
  market: MarketDescription;
  /** The delivery slot (version 2 markets: `market.slots` is set); absent in a version 1 market. */
  slot?: number | null;
};

/** A version 2 bid as the DSO certified it: everything the gateway places, nothing in clear (PROTOCOL §4 v2). */
export type CertifiedSlotBid = Omit<CertifyReply, "type">;
/** A bid's opening: version 1's (α, β) or version 2's (slot, seed); both carry the level and the quantity. */
export type AnyOpening = Opening | SlotOpeningWire;

export type FailureStage = "identity" | "ticket" | "encryption" | "signing" | "submission";

export type BidOutcome =
  | {
      kind: "settled";
      matchId: string;
      filledWh: number;
      /** Bid quantity minus the traded quantity: the meter re-bids it. */
      remainderWh: number;
      measuredWh: number | null;
      /** `null` when no settlement notice arrived within `settlementTimeout`. */
      settlement: Settlement | null;
    }
  | { kind: "voided"; matchId: string; reason: VoidReason; blamedSelf: boolean }
  | { kind: "disputed"; matchId: string; dispute: DisputeClaim; raisedBy: "self" | "counterpart" }
  | { kind: "expired" }
  /** Version 2: the DSO would not certify the bid because its slot is closed (or its epoch not open): no re-bid. */
  | { kind: "closed"; reason: string }
  | { kind: "cancelled" }
  | { kind: "rejected"; rejection: BidRejection }
  | { kind: "failed"; stage: FailureStage; reason: string };

/** Sent to the parent (if any) when the session ends; also the machine's output (`outcome`). */
export type BidSessionEnded = {
  type: "BID.SESSION.ENDED";
  sessionId: string;
  planId: string;
  attempt: number;
  bidder: Address | null;
  outcome: BidOutcome;
};
/** Sent to the parent once the one-time identity exists, so it can route bidder-addressed events. */
export type BidSessionIdentified = { type: "BID.SESSION.IDENTIFIED"; sessionId: string; bidder: Address };
/** Version 2: sent to the parent when the terms are accepted (the slot is still open): what is left to re-bid. */
export type BidSessionFilled = { type: "BID.SESSION.FILLED"; sessionId: string; remainderWh: number };

export type BidSessionOutput = BidSessionEnded;

/**
 * Each field is set by the stage that produces it and read only by later stages (`required` says so when a state's
 * input needs it); `ending` is set by the transition into a final state and read by that state's entry.
 */
export type BidSessionContext = Omit<BidSessionInput, "slot"> & {
  slot: number | null;
  bidder: Address | null;
  ticket: Ticket | null;
  ciphertext: BidCiphertext | null;
  commitment: Hex | null;
  opening: AnyOpening | null;
  /** Version 2: the certified bid (the ticket, the ciphertext and the commitment in one). */
  certified: CertifiedSlotBid | null;
  /** Version 2: wall milliseconds the certified bid may wait for a match (until its gate closure, plus grace). */
  matchWaitMs: number | null;
  bidderSignature: Hex | null;
  cancelRequested: boolean;
  match: Match | null;
  terms: TradeTerms | null;
  counterpartOpening: AnyOpening | null;
  measuredWh: number | null;
  settlement: Settlement | null;
  /** Consecutive failures of the step being retried (reset when a step succeeds). */
  failures: number;
  ending: BidOutcome | null;
  outcome: BidOutcome | null;
  errors: MachineErrorRecord[];
};

export function initialContext(input: BidSessionInput): BidSessionContext {
  return {
    ...input,
    slot: input.slot ?? null,
    bidder: null,
    ticket: null,
    ciphertext: null,
    commitment: null,
    opening: null,
    certified: null,
    matchWaitMs: null,
    bidderSignature: null,
    cancelRequested: false,
    match: null,
    terms: null,
    counterpartOpening: null,
    measuredWh: null,
    settlement: null,
    failures: 0,
    ending: null,
    outcome: null,
    errors: [],
  };
}

/** A context field a state needs, set by an earlier stage. */
export function required<K extends keyof BidSessionContext>(context: BidSessionContext, field: K): NonNullable<BidSessionContext[K]> {
  const value = context[field];
  if (value === null || value === undefined) throw new MachineInvariantError({ machine: "bidSession", what: field });
  return value as NonNullable<BidSessionContext[K]>;
}

/** Version 2 (the market has delivery slots): certified bids, no opening round trip, delivery until the slot's end. */
export function isSlotMarket(context: Pick<BidSessionContext, "market">): boolean {
  return context.market.slots !== undefined;
}

/** What `submitBid` sends: version 1's signed bid, or version 2's certified bid. */
export type BidToSubmit = { design: "v1"; bid: SignedBid } | { design: "v2"; bid: CertifiedSlotBid };

export function bidToSubmitOf(context: BidSessionContext): BidToSubmit {
  return isSlotMarket(context) ? { design: "v2", bid: required(context, "certified") } : { design: "v1", bid: signedBidOf(context) };
}

/** Version 1's own opening (the one it sends the DSO); a version 2 session never asks for it. */
export function v1OpeningOf(context: BidSessionContext): Opening {
  const opening = required(context, "opening");
  if ("seed" in opening) throw new MachineInvariantError({ machine: "bidSession", what: "a version 1 opening" });
  return opening;
}

/** The bid as submitted: everything the preparing stage produced. */
export function signedBidOf(context: BidSessionContext): SignedBid {
  return {
    bidder: required(context, "bidder"),
    side: context.side,
    ciphertext: required(context, "ciphertext"),
    commitment: required(context, "commitment"),
    ticket: required(context, "ticket"),
    bidderSignature: required(context, "bidderSignature"),
  };
}

export function counterpartOf(context: BidSessionContext): { bidder: Address; side: Side } {
  const match = required(context, "match");
  const side = otherSide(context.side);
  return { bidder: side === "buy" ? match.buyBidder : match.sellBidder, side };
}

/** This session's side of its match: what every trading effect is told. */
export function ownSideOf(context: BidSessionContext): { matchId: string; bidder: Address; side: Side } {
  return { matchId: required(context, "match").matchId, bidder: required(context, "bidder"), side: context.side };
}

/** The match names our bidder on our side. */
export function isOwnMatch(context: BidSessionContext, match: Match): boolean {
  return sameAddress(context.side === "buy" ? match.buyBidder : match.sellBidder, context.bidder);
}

/** A notice for this session's bidder and its match. */
export function isForThisTrade(context: BidSessionContext, notice: { bidder: string; matchId: string }): boolean {
  return sameAddress(notice.bidder, context.bidder) && context.match?.matchId === notice.matchId;
}

/** Why what `encryptBid` returned does not fit this market or this bid, or null. */
export function encryptionProblem(context: BidSessionContext, output: EncryptBidOutput): string | null {
  const parsed = z.object({ ciphertext: ciphertextWordsSchema, commitment: bytes32Schema, opening: openingSchema }).safeParse(output);
  if (!parsed.success) return describeIssues(parsed.error);
  const d = context.market.fhipe.dimension;
  if (output.ciphertext.left.length !== 2 * d) return `left has ${output.ciphertext.left.length} words, expected ${2 * d}`;
  if (output.ciphertext.right.length !== 4 * d) return `right has ${output.ciphertext.right.length} words, expected ${4 * d}`;
  if (output.opening.priceLevel !== context.priceLevel || output.opening.quantityWh !== context.quantityWh)
    return "opening does not match the requested price level and quantity";
  return null;
}

/** Why what `certifyBid` returned is not this session's certified bid, or null. */
export function certificationProblem(context: BidSessionContext, output: CertifyBidOutput | undefined): string | null {
  if (output?.kind !== "certified") return "not a certified bid";
  const { bid, opening } = output;
  if (!sameAddress(bid.bidder, context.bidder)) return "certified for another bidder";
  const sideCode = context.side === "buy" ? 0 : 1;
  if (bid.side !== sideCode || opening.side !== sideCode || bid.slot !== context.slot || opening.slot !== context.slot) return "certified for another side or slot";
  if (opening.priceLevel !== context.priceLevel || opening.quantityWh !== context.quantityWh) return "the opening is not this bid's level and quantity";
  if (!Number.isFinite(output.matchWaitMs) || output.matchWaitMs < 0) return "no wait until the gate closure";
  return null;
}

/**
 * A meter accepts terms only if they follow from its own opening and the counterpart's under the market's rule:
 * the DSO cannot silently change quantity or price (PROTOCOL §5 trading step 3).
 */
export function termsFollowFromOpenings(context: BidSessionContext, terms: TradeTerms, counterpart: AnyOpening): boolean {
  if (!context.opening || !context.match) return false;
  const expected = fixTradeTerms({
    matchId: context.match.matchId,
    buyBidder: context.match.buyBidder,
    sellBidder: context.match.sellBidder,
    buyOpening: context.side === "buy" ? context.opening : counterpart,
    sellOpening: context.side === "sell" ? context.opening : counterpart,
    priceLevels: context.market.priceLevels,
    clearingRule: context.market.clearingRule,
  });
  return expected.ok && sameTerms(expected.terms, terms);
}

/** The settlement from the DSO's notice: the trade's figures and our lines, with our own reading on our side. */
export function settlementFrom(context: BidSessionContext, notice: SettledNotice): Settlement {
  return {
    ...notice,
    buyReadingWh: context.side === "buy" ? context.measuredWh : null,
    sellReadingWh: context.side === "sell" ? context.measuredWh : null,
  };
}

/** Why a session ended as it did, as one line for logs and spans (undefined when it simply ended). */
export function outcomeReason(outcome: BidOutcome): string | undefined {
  switch (outcome.kind) {
    case "voided":
      return outcome.reason;
    case "disputed":
      return describeDisputeClaim(outcome.dispute);
    case "rejected":
      return outcome.rejection.detail ? `${outcome.rejection.error}: ${outcome.rejection.detail}` : outcome.rejection.error;
    case "failed":
      return `${outcome.stage}: ${outcome.reason}`;
    default:
      return undefined;
  }
}

/** The outcome of a session that reached the end of its trade (with or without a settlement notice). */
export function settledOutcome(context: BidSessionContext): BidOutcome {
  const filledWh = context.terms?.quantityWh ?? 0;
  return {
    kind: "settled",
    matchId: context.match?.matchId ?? "",
    filledWh,
    remainderWh: Math.max(0, context.quantityWh - filledWh),
    measuredWh: context.measuredWh,
    settlement: context.settlement,
  };
}
