// Clearing rules and market configuration: exact integer prices, quantities, remainders, and rejected inputs.
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../protocol/base/errors.ts";
import {
  InvalidQuantityError,
  LevelsNotCrossedError,
  PriceLevelOutOfRangeError,
  clearTrade,
} from "../../protocol/clearing.ts";
import { parseMachineConfig } from "../../machines/config.ts";
import { billingPeriodOf, defaultMarketConfig, parseMarketConfig, priceOfLevel, priceTable } from "../../protocol/marketConfig.ts";

const config = parseMarketConfig({ priceLevels: { firstPriceMicroPerKWh: 100_000, stepMicroPerKWh: 15_001, count: 10 } });

describe("clearTrade", () => {
  it("uses the midpoint by default, rounded down, and the smaller quantity", () => {
    const terms = clearTrade({ priceLevel: 6, quantityWh: 2_500 }, { priceLevel: 3, quantityWh: 1_000 }, config);
    // p6 = 190006, p3 = 145003 → (335009) / 2 = 167504.5 → 167504
    expect(terms).toEqual({
      buyLevel: 6,
      sellLevel: 3,
      clearingRule: "midpoint",
      priceMicroPerKWh: 167_504,
      quantityWh: 1_000,
      remainderWh: { buy: 1_500, sell: 0 },
    });
  });

  it("applies the seller's or the buyer's level when configured", () => {
    const seller = clearTrade({ priceLevel: 6, quantityWh: 700 }, { priceLevel: 3, quantityWh: 900 }, { ...config, clearingRule: "seller" });
    const buyer = clearTrade({ priceLevel: 6, quantityWh: 700 }, { priceLevel: 3, quantityWh: 900 }, { ...config, clearingRule: "buyer" });
    expect(seller).toMatchObject({ priceMicroPerKWh: 145_003, quantityWh: 700, remainderWh: { buy: 0, sell: 200 } });
    expect(buyer.priceMicroPerKWh).toBe(190_006);
  });

  it("accepts equal levels and equal quantities (full fill, no remainder)", () => {
    expect(clearTrade({ priceLevel: 0, quantityWh: 5 }, { priceLevel: 0, quantityWh: 5 }, config)).toMatchObject({
      priceMicroPerKWh: 100_000,
      remainderWh: { buy: 0, sell: 0 },
    });
  });

  it("rejects a buy level below the sell level", () => {
    expect(() => clearTrade({ priceLevel: 2, quantityWh: 5 }, { priceLevel: 3, quantityWh: 5 }, config)).toThrow(LevelsNotCrossedError);
  });

  it("rejects levels outside [0, n) and non-positive or fractional quantities", () => {
    expect(() => clearTrade({ priceLevel: 10, quantityWh: 5 }, { priceLevel: 3, quantityWh: 5 }, config)).toThrow(PriceLevelOutOfRangeError);
    expect(() => clearTrade({ priceLevel: 5, quantityWh: 5 }, { priceLevel: -1, quantityWh: 5 }, config)).toThrow(PriceLevelOutOfRangeError);
    expect(() => clearTrade({ priceLevel: 5, quantityWh: 0 }, { priceLevel: 1, quantityWh: 5 }, config)).toThrow(InvalidQuantityError);
    expect(() => clearTrade({ priceLevel: 5, quantityWh: 5 }, { priceLevel: 1, quantityWh: 2.5 }, config)).toThrow(InvalidQuantityError);
  });
});

describe("market configuration", () => {
  it("has documented defaults: ten levels from 0.10 €/kWh, below retail", () => {
    const defaults = defaultMarketConfig();
    expect(defaults).toMatchObject({ currency: "EUR", clearingRule: "midpoint", feePayer: "buyer", billingPeriod: "month" });
    expect(priceTable(defaults.priceLevels)).toEqual([100_000, 110_000, 120_000, 130_000, 140_000, 150_000, 160_000, 170_000, 180_000, 190_000]);
    expect(priceOfLevel(defaults.priceLevels, 9)).toBeLessThan(defaults.retailTariffMicroPerKWh);
  });

  it("uses the same field names and defaults as the machines' market configuration", () => {
    const machines = parseMachineConfig({}).market;
    const ours = defaultMarketConfig();
    expect({ ...ours, priceLevels: { ...ours.priceLevels } }).toMatchObject(machines);
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
