// The meter's edge conversions (pure): notices and terms to machine events, settlement figures, dispute codes, faults.
import { describe, expect, it } from "vitest";
import { FR_MODULUS, tradeIdOf, type SettlementNotice, type TradeTermsPayload } from "../../protocol/wire/schemas.ts";
import {
  disputeReasonOf,
  forgedOpening,
  settlementOf,
  termsEventOf,
  termsNameTheirTrade,
  voidedEventOf,
} from "../../actors/meter/wire.ts";
import type { Address, Hex } from "../../machines/types.ts";

const buyer = "0x1111111111111111111111111111111111111111" as Address;
const seller = "0x2222222222222222222222222222222222222222" as Address;
const txHash = `0x${"ab".repeat(32)}` as Hex;
const tradeId = tradeIdOf({ buyId: buyer, sellId: seller, txHash });
const opening = { priceLevel: 1, quantityWh: 500, salt: `0x${"cd".repeat(32)}` as Hex, alpha: "5", beta: "7" };

describe("meter wire conversions", () => {
  it("terms payloads become TERMS.RECEIVED and must name the trade their match derives", () => {
    const payload: TradeTermsPayload = {
      type: "trade.terms",
      tradeId,
      buyId: buyer,
      sellId: seller,
      txHash,
      side: 0,
      bidder: buyer,
      buyLevel: 3,
      sellLevel: 1,
      clearingRule: "midpoint",
      priceMicroPerKWh: 120_000,
      quantityWh: 500,
      counterpart: { bidder: seller, opening },
    };
    expect(termsNameTheirTrade(payload)).toBe(true);
    expect(termsNameTheirTrade({ ...payload, txHash: `0x${"ef".repeat(32)}` })).toBe(false);
    expect(termsEventOf(payload)).toEqual({
      type: "TERMS.RECEIVED",
      bidder: buyer,
      terms: { matchId: tradeId, buyBidder: buyer, sellBidder: seller, buyLevel: 3, sellLevel: 1, quantityWh: 500, priceMicroPerKWh: 120_000, clearingRule: "midpoint" },
      counterpartOpening: opening,
    });
  });

  it("a void names the blamed bidders; without a list the meter judges from its own opening", () => {
    const notice = { type: "trade.voided" as const, tradeId, bidder: buyer, reason: "openingTimeout" as const, blamedBidders: [seller] };
    expect(voidedEventOf(notice, { openingAccepted: false, openingForged: false }).blamedBidders).toEqual([seller]);
    const bare = { ...notice, blamedBidders: [] };
    expect(voidedEventOf(bare, { openingAccepted: true, openingForged: false }).blamedBidders).toEqual([]);
    expect(voidedEventOf(bare, { openingAccepted: false, openingForged: false }).blamedBidders).toEqual([buyer]);
    expect(voidedEventOf({ ...bare, reason: "openingInvalid" }, { openingAccepted: true, openingForged: true }).blamedBidders).toEqual([buyer]);
    expect(voidedEventOf({ ...bare, reason: "levelOrder" }, { openingAccepted: false, openingForged: true }).blamedBidders).toEqual([]);
  });

  it("settlement notices keep the meter's own lines; missing figures come from the terms and the energy line", () => {
    const notice: SettlementNotice = {
      type: "settlement.notice",
      tradeId,
      bidder: buyer,
      period: "2026-11",
      postings: [
        { account: "meter:flat-1", kind: "energy.buy", amountMicro: -48_000, memo: "" },
        { account: "meter:flat-1", kind: "fee.buyer", amountMicro: -8_000, memo: "" },
        { account: "meter:flat-1", kind: "shortfall.supply", amountMicro: -30_000, memo: "" },
        { account: "meter:flat-1", kind: "mystery", amountMicro: -1, memo: "" },
      ],
      netMicro: -86_001,
    };
    const settlement = settlementOf(notice, { side: "buy", quantityWh: 500, priceMicroPerKWh: 120_000, measuredWh: 500 });
    // 48 000 µ at 120 000 µ/kWh is 400 Wh delivered of 500.
    expect(settlement).toMatchObject({ matchId: tradeId, quantityWh: 500, deliveredWh: 400, shortfallWh: 100, buyReadingWh: 500, sellReadingWh: null });
    expect(settlement.entries.map((e) => e.kind)).toEqual(["energy", "networkFee", "shortfallSupply"]);
    expect(settlement.entries[0]).toEqual({ account: { kind: "bidder", bidder: buyer }, amountMicro: "-48000", kind: "energy" });
    const explicit = settlementOf({ ...notice, quantityWh: 500, deliveredWh: 450, shortfallWh: 50, priceMicroPerKWh: 110_000 }, {
      side: "buy",
      quantityWh: 0,
      priceMicroPerKWh: 0,
      measuredWh: null,
    });
    expect(explicit).toMatchObject({ quantityWh: 500, deliveredWh: 450, shortfallWh: 50, priceMicroPerKWh: 110_000 });
  });

  it("dispute reasons map to the wire's codes, the session's text going along as detail", () => {
    expect(disputeReasonOf("counterpartOpeningInvalid: ciphertext-mismatch")).toEqual({
      reason: "ciphertext-mismatch",
      detail: "counterpartOpeningInvalid: ciphertext-mismatch",
    });
    expect(disputeReasonOf("termsDoNotFollowFromOpenings").reason).toBe("terms-mismatch");
    expect(disputeReasonOf("counterpartUnverifiable: rpc down").reason).toBe("counterpart-unverifiable");
    expect(disputeReasonOf("counterpartOpeningInvalid").reason).toBe("malformed-opening");
  });

  it("the forged opening differs only in α and stays a valid scalar", () => {
    expect(forgedOpening(opening)).toEqual({ ...opening, alpha: "6" });
    expect(forgedOpening({ ...opening, alpha: (FR_MODULUS - 1n).toString() }).alpha).toBe("1");
  });
});
