// Trade arithmetic: clearing rules, terms from openings, settlement lines that always sum to zero (PROTOCOL §5 steps 3, 7).
import { describe, expect, it } from "vitest";
import {
  amountMicro,
  clearingPrice,
  entriesSum,
  fixTradeTerms,
  priceOfLevel,
  sameTerms,
  settleTrade,
} from "../../machines/tradeTerms.ts";
import type { TradeTerms } from "../../machines/types.ts";
import { address, config, market, opening } from "./helpers.ts";

const levels = market.priceLevels;
const tariffs = config().market;
const BUYER = address(1);
const SELLER = address(2);

function terms(quantityWh: number, priceMicroPerKWh = 150_000): TradeTerms {
  return {
    matchId: "m",
    buyBidder: BUYER,
    sellBidder: SELLER,
    buyLevel: 6,
    sellLevel: 4,
    quantityWh,
    priceMicroPerKWh,
    clearingRule: "midpoint",
  };
}

describe("clearing", () => {
  it("prices levels linearly and applies the three rules", () => {
    expect(priceOfLevel(levels, 0)).toBe(100_000);
    expect(priceOfLevel(levels, 6)).toBe(160_000);
    expect(clearingPrice(6, 4, levels, "midpoint")).toBe(150_000);
    expect(clearingPrice(6, 4, levels, "seller")).toBe(140_000);
    expect(clearingPrice(6, 4, levels, "buyer")).toBe(160_000);
  });

  it("rounds an odd midpoint down to a whole micro-unit", () => {
    expect(clearingPrice(1, 0, { firstPriceMicroPerKWh: 0, stepMicroPerKWh: 3, count: 4 }, "midpoint")).toBe(1);
  });

  it("fixes quantity = min and refuses buy < sell or out-of-range levels", () => {
    const base = { matchId: "m", buyBidder: BUYER, sellBidder: SELLER, priceLevels: levels, clearingRule: "midpoint" as const };
    const fixed = fixTradeTerms({ ...base, buyOpening: opening(6, 1000), sellOpening: opening(4, 600) });
    expect(fixed).toEqual({ ok: true, terms: terms(600) });
    expect(fixTradeTerms({ ...base, buyOpening: opening(5, 1000), sellOpening: opening(5, 600) }).ok).toBe(true);
    expect(fixTradeTerms({ ...base, buyOpening: opening(3, 1000), sellOpening: opening(4, 600) })).toEqual({
      ok: false,
      reason: "levelOrder",
    });
    expect(fixTradeTerms({ ...base, buyOpening: opening(10, 1), sellOpening: opening(4, 1) })).toEqual({
      ok: false,
      reason: "buyLevelOutOfRange",
    });
    expect(fixTradeTerms({ ...base, buyOpening: opening(9, 1), sellOpening: opening(12, 1) })).toEqual({
      ok: false,
      reason: "sellLevelOutOfRange",
    });
  });

  it("compares terms field by field, ignoring address case", () => {
    const a = terms(600);
    expect(sameTerms(a, { ...a, buyBidder: a.buyBidder.toUpperCase().replace("0X", "0x") as TradeTerms["buyBidder"] })).toBe(true);
    expect(sameTerms(a, { ...a, priceMicroPerKWh: 150_001 })).toBe(false);
  });
});

describe("settlement", () => {
  it("full delivery: energy buyer→seller and the fee buyer→DSO, nothing else", () => {
    const settlement = settleTrade({ terms: terms(600), buyReadingWh: 600, sellReadingWh: 600, tariffs });
    expect(settlement).toMatchObject({ deliveredWh: 600, shortfallWh: 0 });
    expect(settlement.entries).toEqual([
      { account: { kind: "bidder", bidder: BUYER }, amountMicro: "-90000", kind: "energy" },
      { account: { kind: "bidder", bidder: SELLER }, amountMicro: "90000", kind: "energy" },
      { account: { kind: "bidder", bidder: BUYER }, amountMicro: "-12000", kind: "networkFee" },
      { account: { kind: "dso", book: "networkFees" }, amountMicro: "12000", kind: "networkFee" },
    ]);
  });

  it("shortfall: supplied to the buyer at retail, charged to the seller as imbalance", () => {
    const settlement = settleTrade({ terms: terms(600), buyReadingWh: 600, sellReadingWh: 400, tariffs });
    expect(settlement).toMatchObject({ deliveredWh: 400, shortfallWh: 200 });
    const byKind = Object.fromEntries(settlement.entries.filter((e) => e.amountMicro.startsWith("-")).map((e) => [e.kind, e.amountMicro]));
    expect(byKind).toEqual({ energy: "-60000", networkFee: "-8000", shortfallSupply: "-60000", imbalance: "-40000" });
    expect(entriesSum(settlement.entries)).toBe(0n);
  });

  it("a missing seller reading counts as nothing delivered; the buyer's reading does not change amounts", () => {
    const missing = settleTrade({ terms: terms(600), buyReadingWh: 600, sellReadingWh: null, tariffs });
    expect(missing).toMatchObject({ deliveredWh: 0, shortfallWh: 600, buyReadingWh: 600, sellReadingWh: null });
    expect(missing.entries.map((e) => e.kind)).not.toContain("energy");
    const noBuyer = settleTrade({ terms: terms(600), buyReadingWh: null, sellReadingWh: 600, tariffs });
    expect(noBuyer.entries).toEqual(settleTrade({ terms: terms(600), buyReadingWh: 1, sellReadingWh: 600, tariffs }).entries);
  });

  it("charges the fee to the seller, or splits it with the seller's half rounded down", () => {
    const fees = (feePayer: "buyer" | "seller" | "split") =>
      settleTrade({ terms: terms(601), buyReadingWh: 601, sellReadingWh: 601, tariffs: { ...tariffs, feePayer, networkFeeMicroPerKWh: 15 } })
        .entries.filter((e) => e.kind === "networkFee" && e.account.kind === "bidder")
        .map((e) => [e.account.kind === "bidder" ? e.account.bidder : "", e.amountMicro]);
    expect(fees("buyer")).toEqual([[BUYER, "-9"]]);
    expect(fees("seller")).toEqual([[SELLER, "-9"]]);
    expect(fees("split")).toEqual([
      [BUYER, "-5"],
      [SELLER, "-4"],
    ]);
  });

  it("over-delivery is capped at the traded quantity", () => {
    expect(settleTrade({ terms: terms(600), buyReadingWh: 900, sellReadingWh: 900, tariffs }).deliveredWh).toBe(600);
  });

  it("every settlement sums to exactly zero (many quantities, prices, readings)", () => {
    for (let q = 1; q < 5000; q += 373)
      for (let price = 0; price < 400_000; price += 33_333)
        for (const reading of [null, 0, 1, q - 1, q, q + 7])
        for (const feePayer of ["buyer", "seller", "split"] as const) {
          const settlement = settleTrade({ terms: terms(q, price), buyReadingWh: q, sellReadingWh: reading, tariffs: { ...tariffs, feePayer } });
          expect(entriesSum(settlement.entries)).toBe(0n);
          expect(settlement.deliveredWh + settlement.shortfallWh).toBe(q);
        }
  });

  it("rounds amounts down to a whole micro-unit", () => {
    expect(amountMicro(1, 999)).toBe(0n);
    expect(amountMicro(150_000, 1)).toBe(150n);
  });
});
