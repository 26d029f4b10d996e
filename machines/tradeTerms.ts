// Pure trade arithmetic shared by the DSO's tradeSettlement and the meter's check of the terms it receives:
// trade terms from two openings (PROTOCOL §5 trading, step 3) and double-entry settlement (step 7).
import type { ClearingRule, MarketConfig, PriceLevels } from "./config.ts";
import type { Address, LedgerEntry, Opening, Settlement, TradeTerms } from "./types.ts";

/** Price of a level index in millionths of the currency unit per kWh. */
export function priceOfLevel(levels: PriceLevels, level: number): number {
  return levels.firstPriceMicroPerKWh + level * levels.stepMicroPerKWh;
}

/**
 * The market's clearing rule (PROTOCOL §5 step 3). `midpoint` rounds down to a whole micro-unit (in the buyer's
 * favour, by at most one micro-unit per kWh) so every price is an integer.
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

export type FixTermsResult =
  | { ok: true; terms: TradeTerms }
  | { ok: false; reason: "levelOrder" | "buyLevelOutOfRange" | "sellLevelOutOfRange" };

/** Terms from two verified openings: `buyLevel ≥ sellLevel`, `quantity = min(qBuy, qSell)`, price by the rule. */
export function fixTradeTerms(args: {
  matchId: string;
  buyBidder: Address;
  sellBidder: Address;
  buyOpening: Opening;
  sellOpening: Opening;
  priceLevels: PriceLevels;
  clearingRule: ClearingRule;
}): FixTermsResult {
  const { buyOpening, sellOpening, priceLevels } = args;
  if (buyOpening.priceLevel >= priceLevels.count) return { ok: false, reason: "buyLevelOutOfRange" };
  if (sellOpening.priceLevel >= priceLevels.count) return { ok: false, reason: "sellLevelOutOfRange" };
  if (buyOpening.priceLevel < sellOpening.priceLevel) return { ok: false, reason: "levelOrder" };
  return {
    ok: true,
    terms: {
      matchId: args.matchId,
      buyBidder: args.buyBidder,
      sellBidder: args.sellBidder,
      buyLevel: buyOpening.priceLevel,
      sellLevel: sellOpening.priceLevel,
      quantityWh: Math.min(buyOpening.quantityWh, sellOpening.quantityWh),
      priceMicroPerKWh: clearingPrice(buyOpening.priceLevel, sellOpening.priceLevel, priceLevels, args.clearingRule),
      clearingRule: args.clearingRule,
    },
  };
}

/** Field-by-field equality of two terms (a meter recomputes the terms and compares). */
export function sameTerms(a: TradeTerms, b: TradeTerms): boolean {
  return (
    a.matchId === b.matchId &&
    a.buyBidder.toLowerCase() === b.buyBidder.toLowerCase() &&
    a.sellBidder.toLowerCase() === b.sellBidder.toLowerCase() &&
    a.buyLevel === b.buyLevel &&
    a.sellLevel === b.sellLevel &&
    a.quantityWh === b.quantityWh &&
    a.priceMicroPerKWh === b.priceMicroPerKWh &&
    a.clearingRule === b.clearingRule
  );
}

/** `rate × energy` in micro-units, rounded down to a whole micro-unit: `rate[µ/kWh] · wh / 1000`. */
export function amountMicro(rateMicroPerKWh: number, wh: number): bigint {
  return (BigInt(rateMicroPerKWh) * BigInt(wh)) / 1000n;
}

export type Tariffs = Pick<
  MarketConfig,
  "retailTariffMicroPerKWh" | "imbalanceRateMicroPerKWh" | "networkFeeMicroPerKWh" | "feePayer"
>;

/**
 * Settlement rule (PROTOCOL §5 step 7; decisions written down in docs/machines.md):
 * - delivered = min(quantity, seller's reading); a missing seller reading counts as 0 delivered (the seller could
 *   not show it fed anything). The buyer's reading is recorded for audit and does not change the amounts.
 * - shortfall = quantity − delivered: the DSO supplies it to the buyer at the retail tariff and charges the seller
 *   the imbalance rate on it.
 * - buyer → seller: price × delivered; network fee × delivered → DSO, paid by `feePayer` (buyer, seller, or
 *   split with the seller's half rounded down).
 * Every line has a mirror line, so the entries sum to exactly zero; zero-amount lines are left out.
 */
export function settleTrade(args: {
  terms: TradeTerms;
  buyReadingWh: number | null;
  sellReadingWh: number | null;
  tariffs: Tariffs;
}): Settlement {
  const { terms, tariffs } = args;
  const deliveredWh = Math.min(terms.quantityWh, Math.max(0, args.sellReadingWh ?? 0));
  const shortfallWh = terms.quantityWh - deliveredWh;
  const buyer = { kind: "bidder", bidder: terms.buyBidder } as const;
  const seller = { kind: "bidder", bidder: terms.sellBidder } as const;
  const entries: LedgerEntry[] = [];
  const pair = (
    from: LedgerEntry["account"],
    to: LedgerEntry["account"],
    amount: bigint,
    kind: LedgerEntry["kind"],
  ): void => {
    if (amount === 0n) return;
    entries.push({ account: from, amountMicro: (-amount).toString(), kind });
    entries.push({ account: to, amountMicro: amount.toString(), kind });
  };
  pair(buyer, seller, amountMicro(terms.priceMicroPerKWh, deliveredWh), "energy");
  const fee = amountMicro(tariffs.networkFeeMicroPerKWh, deliveredWh);
  const sellerFee = tariffs.feePayer === "seller" ? fee : tariffs.feePayer === "buyer" ? 0n : fee / 2n;
  pair(buyer, { kind: "dso", book: "networkFees" }, fee - sellerFee, "networkFee");
  pair(seller, { kind: "dso", book: "networkFees" }, sellerFee, "networkFee");
  pair(buyer, { kind: "dso", book: "retailSupply" }, amountMicro(tariffs.retailTariffMicroPerKWh, shortfallWh), "shortfallSupply");
  pair(seller, { kind: "dso", book: "imbalance" }, amountMicro(tariffs.imbalanceRateMicroPerKWh, shortfallWh), "imbalance");
  return {
    matchId: terms.matchId,
    quantityWh: terms.quantityWh,
    deliveredWh,
    shortfallWh,
    buyReadingWh: args.buyReadingWh,
    sellReadingWh: args.sellReadingWh,
    priceMicroPerKWh: terms.priceMicroPerKWh,
    entries,
  };
}

/** Sum of a settlement's lines (zero for every settlement `settleTrade` produces). */
export function entriesSum(entries: readonly LedgerEntry[]): bigint {
  return entries.reduce((sum, entry) => sum + BigInt(entry.amountMicro), 0n);
}
