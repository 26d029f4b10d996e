// Clearing (PROTOCOL §5 trading step 2) and market configuration: exact integer prices, quantities, remainders,
// the three rules, and the openings that make no trade.
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../protocol/base/errors.ts";
import { clearingPrice, fixTradeTerms, sameTerms, type TradeTerms } from "../../protocol/clearing.ts";
import { parseMachineConfig } from "../../machines/config.ts";
import { billingPeriodOf, defaultMarketConfig, parseMarketConfig, priceOfLevel, priceTable } from "../../protocol/marketConfig.ts";
import { address, market, opening } from "../machines/helpers.ts";

const levels = market.priceLevels;
const BUYER = address(1);
const SELLER = address(2);
const base = { matchId: "m", buyBidder: BUYER, sellBidder: SELLER };

function terms(quantityWh: number, priceMicroPerKWh = 150_000): TradeTerms {
  return { ...base, buyLevel: 6, sellLevel: 4, quantityWh, priceMicroPerKWh, clearingRule: "midpoint" };
}

describe("clearing rules", () => {
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
});

describe("fixTradeTerms", () => {
  const config = parseMarketConfig({ priceLevels: { firstPriceMicroPerKWh: 100_000, stepMicroPerKWh: 15_001, count: 10 } });
  const fix = (buy: { priceLevel: number; quantityWh: number }, sell: { priceLevel: number; quantityWh: number }, rule = config.clearingRule) =>
    fixTradeTerms({ ...base, buyOpening: buy, sellOpening: sell, priceLevels: config.priceLevels, clearingRule: rule });

  it("uses the midpoint by default, rounded down, and the smaller quantity; the larger side keeps a remainder", () => {
    // p6 = 190006, p3 = 145003 → (335009) / 2 = 167504.5 → 167504
    expect(fix({ priceLevel: 6, quantityWh: 2_500 }, { priceLevel: 3, quantityWh: 1_000 })).toEqual({
      ok: true,
      terms: { ...base, buyLevel: 6, sellLevel: 3, clearingRule: "midpoint", priceMicroPerKWh: 167_504, quantityWh: 1_000 },
      remainderWh: { buy: 1_500, sell: 0 },
    });
  });

  it("applies the seller's or the buyer's level when configured", () => {
    expect(fix({ priceLevel: 6, quantityWh: 700 }, { priceLevel: 3, quantityWh: 900 }, "seller")).toMatchObject({
      terms: { priceMicroPerKWh: 145_003, quantityWh: 700 },
      remainderWh: { buy: 0, sell: 200 },
    });
    expect(fix({ priceLevel: 6, quantityWh: 700 }, { priceLevel: 3, quantityWh: 900 }, "buyer")).toMatchObject({ terms: { priceMicroPerKWh: 190_006 } });
  });

  it("accepts equal levels and equal quantities (full fill, no remainder)", () => {
    expect(fix({ priceLevel: 0, quantityWh: 5 }, { priceLevel: 0, quantityWh: 5 })).toMatchObject({
      terms: { priceMicroPerKWh: 100_000 },
      remainderWh: { buy: 0, sell: 0 },
    });
  });

  it("fixes quantity = min and refuses buy < sell or out-of-range levels (market defaults)", () => {
    const fixed = fixTradeTerms({ ...base, buyOpening: opening(6, 1000), sellOpening: opening(4, 600), priceLevels: levels, clearingRule: "midpoint" });
    expect(fixed).toEqual({ ok: true, terms: terms(600), remainderWh: { buy: 400, sell: 0 } });
    const defaults = { ...base, priceLevels: levels, clearingRule: "midpoint" as const };
    expect(fixTradeTerms({ ...defaults, buyOpening: opening(5, 1000), sellOpening: opening(5, 600) }).ok).toBe(true);
    expect(fixTradeTerms({ ...defaults, buyOpening: opening(3, 1000), sellOpening: opening(4, 600) })).toEqual({ ok: false, reason: "levelOrder" });
    expect(fixTradeTerms({ ...defaults, buyOpening: opening(10, 1), sellOpening: opening(4, 1) })).toEqual({ ok: false, reason: "buyLevelOutOfRange" });
    expect(fixTradeTerms({ ...defaults, buyOpening: opening(9, 1), sellOpening: opening(12, 1) })).toEqual({ ok: false, reason: "sellLevelOutOfRange" });
  });

  it("refuses a buy level below the sell level", () => {
    expect(fix({ priceLevel: 2, quantityWh: 5 }, { priceLevel: 3, quantityWh: 5 })).toEqual({ ok: false, reason: "levelOrder" });
  });

  it("refuses levels outside [0, n) and non-positive or fractional quantities", () => {
    expect(fix({ priceLevel: 10, quantityWh: 5 }, { priceLevel: 3, quantityWh: 5 })).toEqual({ ok: false, reason: "buyLevelOutOfRange" });
    expect(fix({ priceLevel: 5, quantityWh: 5 }, { priceLevel: -1, quantityWh: 5 })).toEqual({ ok: false, reason: "sellLevelOutOfRange" });
    expect(fix({ priceLevel: 5, quantityWh: 0 }, { priceLevel: 1, quantityWh: 5 })).toEqual({ ok: false, reason: "buyQuantityInvalid" });
    expect(fix({ priceLevel: 5, quantityWh: 5 }, { priceLevel: 1, quantityWh: 2.5 })).toEqual({ ok: false, reason: "sellQuantityInvalid" });
  });

  it("compares terms field by field, ignoring address case", () => {
    const a = terms(600);
    expect(sameTerms(a, { ...a, buyBidder: a.buyBidder.toUpperCase().replace("0X", "0x") as TradeTerms["buyBidder"] })).toBe(true);
    expect(sameTerms(a, { ...a, priceMicroPerKWh: 150_001 })).toBe(false);
  });
});

describe("market configuration", () => {
  it("has documented defaults: ten levels from 0.10 €/kWh, below retail", () => {
    const defaults = defaultMarketConfig();
    expect(defaults).toMatchObject({ currency: "EUR", clearingRule: "midpoint", feePayer: "buyer", billingPeriod: "month" });
    expect(priceTable(defaults.priceLevels)).toEqual([100_000, 110_000, 120_000, 130_000, 140_000, 150_000, 160_000, 170_000, 180_000, 190_000]);
    expect(priceOfLevel(defaults.priceLevels, 9)).toBeLessThan(defaults.retailTariffMicroPerKWh);
  });

  it("is the machines' market configuration: one schema, the same defaults", () => {
    const machines = parseMachineConfig({}).market;
    expect(machines).toEqual(defaultMarketConfig());
  });

  it("fills partial price-level settings with defaults", () => {
    expect(parseMarketConfig({ priceLevels: { count: 4 } }).priceLevels).toEqual({ firstPriceMicroPerKWh: 100_000, stepMicroPerKWh: 10_000, count: 4 });
  });

  it("rejects bad values with every problem listed", () => {
    try {
      parseMarketConfig({ priceLevels: { count: 1, stepMicroPerKWh: 0 }, clearingRule: "average", networkFeeMicroPerKWh: 1.5, extra: true });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as ConfigError).message;
      for (const path of ["priceLevels.count", "priceLevels.stepMicroPerKWh", "clearingRule", "networkFeeMicroPerKWh"]) expect(message).toContain(path);
      expect(message).toMatch(/extra/);
    }
  });

  it("names billing periods in UTC", () => {
    const moment = Date.UTC(2026, 0, 31, 23, 30);
    expect(billingPeriodOf({ billingPeriod: "month" }, moment)).toBe("2026-01");
    expect(billingPeriodOf({ billingPeriod: "day" }, moment)).toBe("2026-01-31");
  });
});
