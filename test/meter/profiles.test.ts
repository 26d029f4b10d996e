// Prosumer profiles (pure): deterministic per seed, plausible (PV sells around midday, levels in range, realistic Wh).
import { describe, expect, it } from "vitest";
import { plannedBidSchema } from "../../machines/meter.ts";
import {
  MAX_BID_WH,
  MIN_BID_WH,
  bidsOfRound,
  buildProfiles,
  priceBands,
  pvOutputFraction,
  roundHour,
} from "../../actors/meter/profiles.ts";

describe("prosumer profiles", () => {
  it("are deterministic for a seed and differ between seeds", () => {
    const a = buildProfiles({ meters: 12, rounds: 6, levels: 10, seed: 7 });
    const b = buildProfiles({ meters: 12, rounds: 6, levels: 10, seed: 7 });
    const c = buildProfiles({ meters: 12, rounds: 6, levels: 10, seed: 8 });
    expect(a).toEqual(b);
    expect(c).not.toEqual(a);
    expect(a.map((p) => p.meterId)).toEqual(Array.from({ length: 12 }, (_, i) => `meter-${String(i + 1).padStart(3, "0")}`));
  });

  it("produce bids in the meter machine's plan format: unique plan ids, levels 0..n-1, hundreds of Wh to a few kWh", () => {
    for (const levels of [2, 4, 10, 50]) {
      const profiles = buildProfiles({ meters: 20, rounds: 8, levels, seed: 3 });
      for (const profile of profiles) {
        const planIds = profile.bids.map((bid) => bid.planId);
        expect(new Set(planIds).size).toBe(planIds.length);
        for (const bid of profile.bids) {
          expect(plannedBidSchema.safeParse(bid).success).toBe(true);
          expect(bid.priceLevel).toBeGreaterThanOrEqual(0);
          expect(bid.priceLevel).toBeLessThan(levels);
          expect(bid.quantityWh).toBeGreaterThanOrEqual(MIN_BID_WH);
          expect(bid.quantityWh).toBeLessThanOrEqual(MAX_BID_WH);
          expect(bid.quantityWh % 10).toBe(0);
        }
      }
    }
  });

  it("PV households sell only while the sun shines, most around midday; consumers always buy", () => {
    const rounds = 8;
    const profiles = buildProfiles({ meters: 30, rounds, levels: 10, seed: 11 });
    const sellWhByRound = Array.from({ length: rounds }, () => 0);
    for (const profile of profiles) {
      for (const bid of profile.bids) {
        const hour = roundHour(bid.round, rounds);
        if (bid.side === "sell") {
          expect(profile.kind).not.toBe("consumer");
          expect(pvOutputFraction(hour)).toBeGreaterThan(0);
          sellWhByRound[bid.round] = (sellWhByRound[bid.round] ?? 0) + bid.quantityWh;
        }
        if (profile.kind === "pv-household") expect(bid.side).toBe("sell");
        if (profile.kind === "consumer") expect(bid.side).toBe("buy");
      }
      if (profile.kind === "consumer") expect(profile.bids).toHaveLength(rounds);
    }
    const peakRound = sellWhByRound.indexOf(Math.max(...sellWhByRound));
    expect(roundHour(peakRound, rounds)).toBeGreaterThanOrEqual(11);
    expect(roundHour(peakRound, rounds)).toBeLessThanOrEqual(15);
    // Prosumers switch sides with the time of day.
    const prosumerSides = profiles.filter((p) => p.kind === "prosumer").map((p) => new Set(p.bids.map((b) => b.side)).size);
    expect(prosumerSides.some((sides) => sides === 2)).toBe(true);
  });

  it("spread prices so that most but not all buy/sell pairs of a round cross", () => {
    const levels = 10;
    const bands = priceBands(levels);
    expect(bands.sell[0]).toBeLessThan(bands.buy[0]);
    expect(bands.sell[1]).toBeGreaterThanOrEqual(bands.buy[0]);
    const rounds = 6;
    const profiles = buildProfiles({ meters: 40, rounds, levels, seed: 5 });
    let crossing = 0;
    let pairs = 0;
    for (let round = 0; round < rounds; round++) {
      const bids = bidsOfRound(profiles, round).map((entry) => entry.bid);
      for (const buy of bids.filter((bid) => bid.side === "buy"))
        for (const sell of bids.filter((bid) => bid.side === "sell")) {
          pairs += 1;
          if (buy.priceLevel >= sell.priceLevel) crossing += 1;
        }
    }
    expect(pairs).toBeGreaterThan(100);
    expect(crossing / pairs).toBeGreaterThan(0.6);
    expect(crossing).toBeLessThan(pairs);
  });

  it("two meters already make a seller and a buyer; bad sizes are refused", () => {
    const [first, second] = buildProfiles({ meters: 2, rounds: 3, levels: 4, seed: 1 });
    expect(first?.kind).toBe("pv-household");
    expect(second?.kind).toBe("consumer");
    expect(() => buildProfiles({ meters: 2, rounds: 0, levels: 4, seed: 1 })).toThrow(RangeError);
    expect(() => buildProfiles({ meters: 2, rounds: 2, levels: 1, seed: 1 })).toThrow(RangeError);
  });
});
