// The version 2 trading stage's first step at the DSO (PROTOCOL §5 trading step 2, no opening round trip): at a
// `Matched`, the DSO holds both certified openings already; it fixes the terms at once and makes each meter's sealed
// payload, its terms and the counterpart's opening. Not wired into the trade machine yet (docs/dso.md "Version 2").
import { fixTradeTerms, type TradeTerms } from "../../protocol/clearing.ts";
import { SideCode, tradeIdOf } from "../../protocol/domain.ts";
import type { ClearingRule, PriceLevels } from "../../protocol/marketConfig.ts";
import { slotTradeTermsPayloadSchema, type SlotTradeTermsPayload } from "../../protocol/wire/schemas.ts";
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
  const opening = (record: CertifiedBidRecord) => ({
    side: record.side,
    slot: record.slot,
    priceLevel: record.priceLevel,
    quantityWh: record.quantityWh,
    salt: record.salt,
    seed: record.seed,
  });
  const payload = (own: CertifiedBidRecord, counterpart: CertifiedBidRecord): SlotTradeTermsPayload =>
    slotTradeTermsPayloadSchema.parse({
      type: "trade.terms.v2",
      terms: fixed.terms,
      txHash: match.txHash,
      slot: match.slot,
      side: own.side,
      bidder: own.bidder,
      counterpart: { bidder: counterpart.bidder, opening: opening(counterpart) },
    });
  return { tradeId, terms: fixed.terms, remainderWh: fixed.remainderWh, buyer, seller, payloads: { buy: payload(buyer, seller), sell: payload(seller, buyer) } };
}
