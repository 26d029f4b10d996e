// The version 2 trading stage's first step at the DSO (PROTOCOL §5 trading step 2, no opening round trip): at a
// `Matched`, the DSO holds both certified openings already; the terms follow at once from them, and each meter's sealed
// payload carries its terms and the counterpart's opening. The trade machine fixes the terms (machines/tradeSettlement);
// these build what it needs and what it sends.
import { fixTradeTerms, type TradeTerms } from "../../protocol/clearing.ts";
import { SideCode, codeOfSide, tradeIdOf, type Side } from "../../protocol/domain.ts";
import type { SlotCalendar } from "../../protocol/book/slotBooks.ts";
import type { ClearingRule, PriceLevels } from "../../protocol/marketConfig.ts";
import { slotTradeTermsPayloadSchema, type SlotOpeningWire, type SlotTradeTermsPayload } from "../../protocol/wire/schemas.ts";
import type { CertifiedBidRecord, DsoDatabase } from "../db/dsoDatabase.ts";
import { SlotTradeError } from "./errors.ts";

/** A `Matched` of the slot market, as the chain emitted it. */
export type SlotMatch = { buyBidder: string; sellBidder: string; txHash: string; slot: number };

export type SlotTrade = {
  tradeId: string;
  terms: TradeTerms;
  /** Unfilled quantity per side: that party re-bids it while the slot is open (step 4). */
  remainderWh: { buy: number; sell: number };
  buyer: CertifiedBidRecord;
  seller: CertifiedBidRecord;
  /** What each meter is sent, sealed to it: its terms and the counterpart's opening. */
  payloads: { buy: SlotTradeTermsPayload; sell: SlotTradeTermsPayload };
};

/** A certified bid's opening as the trade record and the wire carry it (never its meter). */
export function certifiedOpeningOf(record: CertifiedBidRecord): SlotOpeningWire {
  return { side: record.side, slot: record.slot, priceLevel: record.priceLevel, quantityWh: record.quantityWh, salt: record.salt, seed: record.seed };
}

/** When a slot's delivery ends (Unix seconds): its meters report then (PROTOCOL §5 trading step 5). */
export function slotEndOf(slot: number, calendar: Pick<SlotCalendar, "slotSeconds">): number {
  return (slot + 1) * calendar.slotSeconds;
}

/**
 * One meter's `trade.terms.v2` payload: its terms, the match's transaction, and the counterpart's certified opening and
 * one-time id (never its identity). Throws the schema's error when they do not fit together.
 */
export function slotTermsPayload(args: { terms: TradeTerms; txHash: string; side: Side; counterpartOpening: SlotOpeningWire }): SlotTradeTermsPayload {
  const { terms, side, counterpartOpening } = args;
  return slotTradeTermsPayloadSchema.parse({
    type: "trade.terms.v2",
    terms,
    txHash: args.txHash,
    slot: counterpartOpening.slot,
    side: codeOfSide(side),
    bidder: side === "buy" ? terms.buyBidder : terms.sellBidder,
    counterpart: { bidder: side === "buy" ? terms.sellBidder : terms.buyBidder, opening: counterpartOpening },
  });
}

/** The trade a match becomes, from the certified openings; `SlotTradeError` when the match is not of two of them. */
export function slotTradeOf(db: DsoDatabase, match: SlotMatch, market: { priceLevels: PriceLevels; clearingRule: ClearingRule }): SlotTrade {
  const tradeId = tradeIdOf({ buyId: match.buyBidder, sellId: match.sellBidder, txHash: match.txHash });
  const buyer = db.certifiedBid(match.buyBidder);
  const seller = db.certifiedBid(match.sellBidder);
  if (buyer === undefined || seller === undefined) throw new SlotTradeError({ kind: "uncertified", tradeId, bidder: buyer === undefined ? match.buyBidder : match.sellBidder });
  if (buyer.side !== SideCode.Buy || seller.side !== SideCode.Sell) throw new SlotTradeError({ kind: "sides", tradeId });
  if (buyer.slot !== match.slot || seller.slot !== match.slot) throw new SlotTradeError({ kind: "otherSlot", tradeId, slot: match.slot });
  const fixed = fixTradeTerms({ matchId: tradeId, buyBidder: buyer.bidder as `0x${string}`, sellBidder: seller.bidder as `0x${string}`, buyOpening: buyer, sellOpening: seller, ...market });
  if (!fixed.ok) throw new SlotTradeError({ kind: "terms", tradeId, reason: fixed.reason });
  const payload = (side: Side, counterpart: CertifiedBidRecord) => slotTermsPayload({ terms: fixed.terms, txHash: match.txHash, side, counterpartOpening: certifiedOpeningOf(counterpart) });
  return { tradeId, terms: fixed.terms, remainderWh: fixed.remainderWh, buyer, seller, payloads: { buy: payload("buy", seller), sell: payload("sell", buyer) } };
}
