// Clearing (PROTOCOL §5 trading step 2): the trade a match becomes, from the two bids' openings. The DSO fixes the
// terms with it; each meter recomputes them from its own opening and the counterpart's and accepts only an equal result.
import { z } from "zod";
import { sameAddress, type Address } from "./base/hex.ts";
import { addressSchema, quantityWhSchema } from "./base/primitives.ts";
import type { Opening } from "./domain.ts";
import { priceLevelSchema } from "./domain.ts";
import { clearingRuleSchema, priceOfLevel, type ClearingRule, type PriceLevels } from "./marketConfig.ts";

/** The trade the DSO fixes from two verified openings. */
export const tradeTermsSchema = z.object({
  matchId: z.string().min(1).max(512),
  buyBidder: addressSchema,
  sellBidder: addressSchema,
  buyLevel: priceLevelSchema,
  sellLevel: priceLevelSchema,
  quantityWh: quantityWhSchema,
  priceMicroPerKWh: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  clearingRule: clearingRuleSchema,
});
export type TradeTerms = z.output<typeof tradeTermsSchema>;

/**
 * The market's clearing rule. `midpoint` rounds down to a whole micro-unit (in the buyer's favour, by at most one
 * micro-unit per kWh) so every price is an integer.
 */
export function clearingPrice(buyLevel: number, sellLevel: number, levels: PriceLevels, rule: ClearingRule): number {
  const buyPrice = priceOfLevel(levels, buyLevel);
  const sellPrice = priceOfLevel(levels, sellLevel);
  switch (rule) {
    case "seller":
      return sellPrice;
    case "buyer":
      return buyPrice;
    case "midpoint":
      return Math.floor((buyPrice + sellPrice) / 2);
  }
}

/** Why two openings make no trade. `levelOrder`: both are genuine, yet buy < sell (the chain should never match them). */
export type ClearingFailure = "levelOrder" | "buyLevelOutOfRange" | "sellLevelOutOfRange" | "buyQuantityInvalid" | "sellQuantityInvalid";

export type FixTermsResult =
  | {
      ok: true;
      terms: TradeTerms;
      /** Unfilled quantity per side: the party with a remainder re-bids it with a new one-time id (step 4). */
      remainderWh: { buy: number; sell: number };
    }
  | { ok: false; reason: ClearingFailure };

/** Terms from two openings: levels in `[0, n)`, `buyLevel ≥ sellLevel`, `quantity = min(qBuy, qSell)`, price by the rule. */
export function fixTradeTerms(args: {
  matchId: string;
  buyBidder: Address;
  sellBidder: Address;
  buyOpening: Pick<Opening, "priceLevel" | "quantityWh">;
  sellOpening: Pick<Opening, "priceLevel" | "quantityWh">;
  priceLevels: PriceLevels;
  clearingRule: ClearingRule;
}): FixTermsResult {
  const { buyOpening, sellOpening, priceLevels } = args;
  const inRange = (level: number) => Number.isInteger(level) && level >= 0 && level < priceLevels.count;
  const validQuantity = (wh: number) => Number.isSafeInteger(wh) && wh > 0;
  if (!inRange(buyOpening.priceLevel)) return { ok: false, reason: "buyLevelOutOfRange" };
  if (!inRange(sellOpening.priceLevel)) return { ok: false, reason: "sellLevelOutOfRange" };
  if (!validQuantity(buyOpening.quantityWh)) return { ok: false, reason: "buyQuantityInvalid" };
  if (!validQuantity(sellOpening.quantityWh)) return { ok: false, reason: "sellQuantityInvalid" };
  if (buyOpening.priceLevel < sellOpening.priceLevel) return { ok: false, reason: "levelOrder" };
  const quantityWh = Math.min(buyOpening.quantityWh, sellOpening.quantityWh);
  return {
    ok: true,
    terms: {
      matchId: args.matchId,
      buyBidder: args.buyBidder,
      sellBidder: args.sellBidder,
      buyLevel: buyOpening.priceLevel,
      sellLevel: sellOpening.priceLevel,
      quantityWh,
      priceMicroPerKWh: clearingPrice(buyOpening.priceLevel, sellOpening.priceLevel, priceLevels, args.clearingRule),
      clearingRule: args.clearingRule,
    },
    remainderWh: { buy: buyOpening.quantityWh - quantityWh, sell: sellOpening.quantityWh - quantityWh },
  };
}

/** Field-by-field equality of two terms (a meter recomputes the terms and compares). */
export function sameTerms(a: TradeTerms, b: TradeTerms): boolean {
  return (
    a.matchId === b.matchId &&
    sameAddress(a.buyBidder, b.buyBidder) &&
    sameAddress(a.sellBidder, b.sellBidder) &&
    a.buyLevel === b.buyLevel &&
    a.sellLevel === b.sellLevel &&
    a.quantityWh === b.quantityWh &&
    a.priceMicroPerKWh === b.priceMicroPerKWh &&
    a.clearingRule === b.clearingRule
  );
}
