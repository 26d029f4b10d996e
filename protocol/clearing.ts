// Pure clearing (PROTOCOL §5 trading, step 3): trade terms from the two verified openings of a match.
import { GridveilError } from "./base/errors.ts";
import { priceOfLevel, type MarketConfig } from "./marketConfig.ts";
import type { ClearingRule, ErrorCode } from "./wire/schemas.ts";

export type OpenedBid = { priceLevel: number; quantityWh: number };

export type ClearedTerms = {
  buyLevel: number;
  sellLevel: number;
  clearingRule: ClearingRule;
  priceMicroPerKWh: number;
  /** min(qBuy, qSell) */
  quantityWh: number;
  /** Unfilled quantity per side: the party with a remainder re-bids it with a new one-time id (step 5). */
  remainderWh: { buy: number; sell: number };
};

export class ClearingError extends GridveilError {
  override name = "ClearingError";
  readonly replyCode: ErrorCode = "rejected";
}

/** The buyer's level is below the seller's: the bids do not cross and the match must be voided. */
export class LevelsNotCrossedError extends ClearingError {
  override name = "LevelsNotCrossedError";
}

export class PriceLevelOutOfRangeError extends ClearingError {
  override name = "PriceLevelOutOfRangeError";
}

export class InvalidQuantityError extends ClearingError {
  override name = "InvalidQuantityError";
}

/**
 * Fixes a trade: quantity = min(qBuy, qSell); price by the market's rule from the level → price table. The midpoint
 * of two prices that differ by an odd number of µ-units is rounded down (the buyer keeps the half µ-unit), as in
 * machines/tradeTerms.ts, so the DSO's terms and a meter's recomputation agree.
 */
export function clearTrade(
  buy: OpenedBid,
  sell: OpenedBid,
  config: Pick<MarketConfig, "priceLevels" | "clearingRule">,
): ClearedTerms {
  for (const [side, bid] of [["buy", buy], ["sell", sell]] as const) {
    if (!Number.isInteger(bid.priceLevel) || bid.priceLevel < 0 || bid.priceLevel >= config.priceLevels.count) {
      throw new PriceLevelOutOfRangeError(`${side} price level out of range`, {
        value: bid.priceLevel,
        hint: `Levels are 0 … ${config.priceLevels.count - 1}.`,
      });
    }
    if (!Number.isSafeInteger(bid.quantityWh) || bid.quantityWh <= 0) {
      throw new InvalidQuantityError(`${side} quantity must be a positive integer number of Wh`, { value: bid.quantityWh });
    }
  }
  if (buy.priceLevel < sell.priceLevel) {
    throw new LevelsNotCrossedError("buy level is below sell level", {
      value: { buyLevel: buy.priceLevel, sellLevel: sell.priceLevel },
      hint: "The chain should never match these: the match is void.",
    });
  }
  const buyPrice = priceOfLevel(config.priceLevels, buy.priceLevel);
  const sellPrice = priceOfLevel(config.priceLevels, sell.priceLevel);
  const priceMicroPerKWh =
    config.clearingRule === "seller" ? sellPrice : config.clearingRule === "buyer" ? buyPrice : Math.floor((buyPrice + sellPrice) / 2);
  const quantityWh = Math.min(buy.quantityWh, sell.quantityWh);
  return {
    buyLevel: buy.priceLevel,
    sellLevel: sell.priceLevel,
    clearingRule: config.clearingRule,
    priceMicroPerKWh,
    quantityWh,
    remainderWh: { buy: buy.quantityWh - quantityWh, sell: sell.quantityWh - quantityWh },
  };
}
