// A day of 96 delivery slots per meter (version 2's demo day): PV surplus sold around midday, demand bought in the
// evening, nothing sold at night, every bid in its slot of the day and within the market's levels.
import { describe, expect, it } from "vitest";
import { buildDayPlans } from "../../actors/meter/profiles.ts";

describe("day plans", () => {
  const day = 20_429;
  const plans = buildDayPlans({ meters: 10, levels: 1024, seed: 5, day, slotsPerDay: 96 });
  const bids = plans.flatMap((plan) => plan.bids.map((bid) => ({ ...bid, hour: (bid.slot - day * 96) / 4 })));

  it("puts every bid in one slot of the day, at most one per meter and slot, within the levels", () => {
    for (const plan of plans) {
      const slots = plan.bids.map((bid) => bid.slot);
      expect(new Set(slots).size).toBe(slots.length);
      for (const bid of plan.bids) {
        expect(bid.slot).toBeGreaterThanOrEqual(day * 96);
        expect(bid.slot).toBeLessThan((day + 1) * 96);
        expect(bid.planId).toBe(`s${bid.slot}`);
        expect(bid.priceLevel).toBeGreaterThanOrEqual(0);
        expect(bid.priceLevel).toBeLessThan(1024);
      }
    }
  });

  it("sells PV surplus around midday and never at night; buys most in the evening", () => {
    const sells = bids.filter((bid) => bid.side === "sell");
    expect(sells.length).toBeGreaterThan(0);
    for (const sell of sells) {
      expect(sell.hour).toBeGreaterThanOrEqual(6);
      expect(sell.hour).toBeLessThan(20);
    }
    const sellWh = (from: number, to: number) => sells.filter((bid) => bid.hour >= from && bid.hour < to).reduce((sum, bid) => sum + bid.quantityWh, 0);
    expect(sellWh(11, 15)).toBeGreaterThan(sellWh(6, 10));
    expect(sellWh(11, 15)).toBeGreaterThan(sellWh(16, 20));
    const buys = bids.filter((bid) => bid.side === "buy");
    const buyWh = (from: number, to: number) => buys.filter((bid) => bid.hour >= from && bid.hour < to).reduce((sum, bid) => sum + bid.quantityWh, 0);
    expect(buyWh(17, 21)).toBeGreaterThan(buyWh(1, 5));
    expect(buyWh(17, 21)).toBeGreaterThan(buyWh(11, 15));
  });

  it("is the same for the same seed and refuses a malformed day", () => {
    expect(buildDayPlans({ meters: 10, levels: 1024, seed: 5, day, slotsPerDay: 96 })).toEqual(plans);
    expect(() => buildDayPlans({ meters: 1, levels: 1024, seed: 5, day, slotsPerDay: 0 })).toThrow(/slotsPerDay/);
    expect(() => buildDayPlans({ meters: 1, levels: 1024, seed: 5, day: -1, slotsPerDay: 96 })).toThrow(/day/);
  });
});
