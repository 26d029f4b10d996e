// The meter's edge conversions: NATS wire messages (protocol/wire/schemas.ts) ↔ meter/bidSession machine events.
import { FR_MODULUS, Side as WireSide, tradeIdOf } from "../../protocol/wire/schemas.ts";
import type {
  BidSubmission,
  DisputeReason,
  MarketDescription as WireMarketDescription,
  SettlementNotice,
  TradeTermsPayload,
  VoidedNotice,
} from "../../protocol/wire/schemas.ts";
import type { BidSessionEvent } from "../../machines/bidSession.ts";
import type {
  Address,
  LedgerEntry,
  MarketDescription,
  Opening,
  Settlement,
  Side,
  SignedBid,
  TradeTerms,
} from "../../machines/types.ts";

export type WireSideValue = (typeof WireSide)[keyof typeof WireSide];

export function wireSideOf(side: Side): WireSideValue {
  return side === "buy" ? WireSide.Buy : WireSide.Sell;
}

export function machineSideOf(side: number): Side {
  return side === WireSide.Buy ? "buy" : "sell";
}

/** The enrolment reply's market description in the machines' shape (`dimension` flattened from `pp`). */
export function machineMarketOf(market: WireMarketDescription): MarketDescription {
  return {
    marketId: market.marketId,
    chainId: market.chainId,
    contractAddress: market.contractAddress,
    ticketSigner: market.ticketSigner,
    dimension: market.fhipe.dimension,
    priceLevels: { ...market.priceLevels },
    clearingRule: market.clearingRule,
  };
}

/**
 * What goes on the bids stream. The ciphertext travels as its EVM words (what `placeBids` takes and what the
 * machines carry), so the gateway need not decode anything; the compact hex form would save ~20 % of the bytes.
 */
export function submissionOf(bid: SignedBid, submittedAt: number): BidSubmission {
  return {
    type: "bid.submit",
    bidder: bid.bidder,
    side: wireSideOf(bid.side),
    ciphertext: { left: [...bid.ciphertext.left], right: [...bid.ciphertext.right] },
    commitment: bid.commitment,
    ticket: { notAfter: bid.ticket.notAfter, signature: bid.ticket.signature },
    bidSignature: bid.bidderSignature,
    submittedAt,
  };
}

/** The match id the machines use is the trade id every party derives from the public `Matched` event. */
export function matchIdOf(match: { buyId: string; sellId: string; txHash: string }): string {
  return tradeIdOf(match);
}

/** A sealed trade-terms payload (already opened and validated) as the session's `TERMS.RECEIVED`. */
export function termsEventOf(payload: TradeTermsPayload): Extract<BidSessionEvent, { type: "TERMS.RECEIVED" }> {
  const terms: TradeTerms = {
    matchId: payload.tradeId,
    buyBidder: payload.buyId,
    sellBidder: payload.sellId,
    buyLevel: payload.buyLevel,
    sellLevel: payload.sellLevel,
    quantityWh: payload.quantityWh,
    priceMicroPerKWh: payload.priceMicroPerKWh,
    clearingRule: payload.clearingRule,
  };
  return { type: "TERMS.RECEIVED", bidder: payload.bidder, terms, counterpartOpening: { ...payload.counterpart.opening } };
}

/** The terms name the trade they claim: its id must be the one derived from the match they carry. */
export function termsNameTheirTrade(payload: TradeTermsPayload): boolean {
  return tradeIdOf({ buyId: payload.buyId, sellId: payload.sellId, txHash: payload.txHash }).toLowerCase() === payload.tradeId.toLowerCase();
}

/** What this meter knows about its own part in a trade, to judge a void without an explicit blame list. */
export type OwnOpeningState = { openingAccepted: boolean; openingForged: boolean };

/**
 * A voided notice as `MATCH.VOIDED`. The DSO names the blamed bidders; a notice with an empty list for a reason
 * that always blames someone (an older sender) falls back to what the meter knows of itself: it is to blame for
 * `openingTimeout` if the DSO never accepted its opening, and for `openingInvalid` if it sent a forged one.
 */
export function voidedEventOf(notice: VoidedNotice, own: OwnOpeningState): Extract<BidSessionEvent, { type: "MATCH.VOIDED" }> {
  let blamedBidders: Address[] = [...notice.blamedBidders];
  if (blamedBidders.length === 0) {
    const selfToBlame =
      (notice.reason === "openingTimeout" && !own.openingAccepted) || (notice.reason === "openingInvalid" && own.openingForged);
    if (selfToBlame) blamedBidders = [notice.bidder];
  }
  return { type: "MATCH.VOIDED", bidder: notice.bidder, matchId: notice.tradeId, reason: notice.reason, blamedBidders };
}

/** What the meter itself knows of a trade when a settlement notice arrives (from the terms and its own reading). */
export type KnownTrade = { side: Side; quantityWh: number; priceMicroPerKWh: number; measuredWh: number | null };

const DSO_BOOKS: Record<string, Extract<LedgerEntry["account"], { kind: "dso" }>["book"]> = {
  "dso:revenue": "networkFees",
  "dso:retail": "retailSupply",
  "dso:imbalance": "imbalance",
};

function entryKindOf(postingKind: string): LedgerEntry["kind"] | null {
  const family = postingKind.split(".")[0];
  switch (family) {
    case "energy":
      return "energy";
    case "fee":
    case "networkFee":
      return "networkFee";
    case "shortfall":
    case "shortfallSupply":
      return "shortfallSupply";
    case "imbalance":
      return "imbalance";
    default:
      return null;
  }
}

/**
 * Delivered energy from the energy posting when the notice does not say it: the amount is `⌊price·Wh/1000⌋` µ,
 * strictly increasing in Wh once the price is ≥ 1000 µ/kWh, so the smallest Wh giving that amount is exact.
 */
function deliveredFromEnergy(energyMicro: bigint, priceMicroPerKWh: number, quantityWh: number): number {
  if (priceMicroPerKWh <= 0) return quantityWh;
  const price = BigInt(priceMicroPerKWh);
  const wh = (energyMicro * 1000n + price - 1n) / price;
  return Math.min(quantityWh, Math.max(0, Number(wh)));
}

/**
 * A settlement notice (this meter's own ledger lines) as the machines' `Settlement`. The trade's figures come from
 * the notice when it carries them, else from what the meter knows (its terms and reading). Only this meter's lines
 * are in it: the machines do not require the lines to balance, the DSO's ledger does.
 */
export function settlementOf(notice: SettlementNotice, known: KnownTrade): Settlement {
  const entries: LedgerEntry[] = [];
  let energyMicro = 0n;
  for (const posting of notice.postings) {
    const kind = entryKindOf(posting.kind);
    if (kind === null) continue;
    let account: LedgerEntry["account"];
    if (posting.account.startsWith("meter:")) account = { kind: "bidder", bidder: notice.bidder };
    else {
      const book = DSO_BOOKS[posting.account];
      if (book === undefined) continue;
      account = { kind: "dso", book };
    }
    if (kind === "energy" && account.kind === "bidder") energyMicro += BigInt(Math.abs(posting.amountMicro));
    entries.push({ account, amountMicro: String(posting.amountMicro), kind });
  }
  const quantityWh = notice.quantityWh ?? known.quantityWh;
  const priceMicroPerKWh = notice.priceMicroPerKWh ?? known.priceMicroPerKWh;
  const deliveredWh =
    notice.deliveredWh ??
    (notice.shortfallWh !== undefined
      ? Math.max(0, quantityWh - notice.shortfallWh)
      : deliveredFromEnergy(energyMicro, priceMicroPerKWh, quantityWh));
  return {
    matchId: notice.tradeId,
    quantityWh,
    deliveredWh,
    shortfallWh: notice.shortfallWh ?? quantityWh - deliveredWh,
    buyReadingWh: known.side === "buy" ? known.measuredWh : null,
    sellReadingWh: known.side === "sell" ? known.measuredWh : null,
    priceMicroPerKWh,
    entries,
  };
}

const WIRE_DISPUTE_REASONS: readonly DisputeReason[] = [
  "malformed-opening",
  "price-level-out-of-range",
  "bad-randomizer",
  "dimension-mismatch",
  "commitment-mismatch",
  "ciphertext-mismatch",
  "levels-not-crossed",
  "terms-mismatch",
  "counterpart-unverifiable",
];

/**
 * The bid session's dispute reason (`counterpartOpeningInvalid: <check>`, `termsDoNotFollowFromOpenings`,
 * `counterpartUnverifiable: <error>`) as the wire's reason code; the session's text goes along as the detail.
 */
export function disputeReasonOf(sessionReason: string): { reason: DisputeReason; detail: string } {
  const detail = sessionReason.slice(0, 1000);
  if (sessionReason.startsWith("termsDoNotFollowFromOpenings")) return { reason: "terms-mismatch", detail };
  if (sessionReason.startsWith("counterpartUnverifiable")) return { reason: "counterpart-unverifiable", detail };
  const named = WIRE_DISPUTE_REASONS.find((reason) => sessionReason.includes(reason));
  return { reason: named ?? "malformed-opening", detail };
}

/** The `forgeOpening` fault: the same opening with α + 1, so the commitment still matches but the ciphertext does not. */
export function forgedOpening(opening: Opening): Opening {
  const alpha = (BigInt(opening.alpha) + 1n) % FR_MODULUS;
  return { ...opening, alpha: (alpha === 0n ? 1n : alpha).toString() };
}
