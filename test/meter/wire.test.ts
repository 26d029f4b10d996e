// The meter's edge conversions (pure): terms to the session's event, the trade the terms must name, faults.
import { describe, expect, it } from "vitest";
import { forgedOpening, termsEventOf } from "../../actors/meter/wire.ts";
import { type Address, type Hex } from "../../protocol/base/hex.ts";
import { tradeIdOf } from "../../protocol/domain.ts";
import { FR_ORDER } from "../../protocol/fhipe/order.ts";
import { termsNameTheirTrade, type TradeTermsPayload } from "../../protocol/wire/schemas.ts";

const buyer = "0x1111111111111111111111111111111111111111" as Address;
const seller = "0x2222222222222222222222222222222222222222" as Address;
const txHash = `0x${"ab".repeat(32)}` as Hex;
const tradeId = tradeIdOf({ buyId: buyer, sellId: seller, txHash });
const opening = { priceLevel: 1, quantityWh: 500, salt: `0x${"cd".repeat(32)}` as Hex, alpha: "5", beta: "7" };

describe("meter wire conversions", () => {
  it("terms payloads become TERMS.RECEIVED and must name the trade their match derives", () => {
    const terms = { matchId: tradeId, buyBidder: buyer, sellBidder: seller, buyLevel: 3, sellLevel: 1, quantityWh: 500, priceMicroPerKWh: 120_000, clearingRule: "midpoint" as const };
    const payload: TradeTermsPayload = { type: "trade.terms", terms, txHash, side: 0, bidder: buyer, counterpart: { bidder: seller, opening } };
    expect(termsNameTheirTrade(payload)).toBe(true);
    expect(termsNameTheirTrade({ ...payload, txHash: `0x${"ef".repeat(32)}` })).toBe(false);
    expect(termsEventOf(payload)).toEqual({ type: "TERMS.RECEIVED", bidder: buyer, terms, counterpartOpening: opening });
  });

  it("the forged opening differs only in α and stays a valid scalar", () => {
    expect(forgedOpening(opening)).toEqual({ ...opening, alpha: "6" });
    expect(forgedOpening({ ...opening, alpha: (FR_ORDER - 1n).toString() }).alpha).toBe("1");
  });
});
