// The v2 trading stage's first step (PROTOCOL §5 trading steps 2–3, no opening round trip), all real: two certified
// bids placed with the DSO's hints match on the slot market; from the chain's `Matched` the DSO fixes the terms out of
// its certified openings, and each meter's payload carries the counterpart's opening, which verifies against the
// commitment and root the chain published for that bid.
import { randomBytes } from "node:crypto";
import { Wallet, hexlify } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SlotTradeError } from "../../actors/dso/errors.ts";
import { slotTradeOf } from "../../actors/dso/slotTrades.ts";
import { placeSlotBids, readBook, type SlotMarketEvent } from "../../contracts/client/v2/slotMarket.ts";
import { clearingPrice } from "../../protocol/clearing.ts";
import { parseMarketConfig } from "../../protocol/marketConfig.ts";
import { verifySlotOpening } from "../../protocol/verifyOpening.ts";
import { epochOfSlot } from "../../protocol/epochs.ts";
import { V2_CALENDAR, V2_GAS, startV2Market, type V2Market } from "./v2Market.ts";

let v2: V2Market;
const market = { ...parseMarketConfig({ priceLevels: { count: 1024, firstPriceMicroPerKWh: 0, stepMicroPerKWh: 500 } }) };

beforeAll(async () => {
  v2 = await startV2Market({ marketId: "slot-trades", meters: [{ meterId: "pv-1", key: Wallet.createRandom() }, { meterId: "flat-2", key: Wallet.createRandom() }] });
}, 60_000);

afterAll(async () => {
  await v2?.close();
});

async function certify(meterId: string, side: 0 | 1, priceLevel: number, quantityWh: number) {
  const opening = { side, slot: v2.slot, priceLevel, quantityWh, salt: hexlify(randomBytes(32)) as `0x${string}`, seed: new Uint8Array(randomBytes(32)) };
  return v2.certifier.certify({ meterId, bidder: Wallet.createRandom().address, opening, notAfter: v2.now + 1_800 }, v2.now);
}

async function place(bid: Awaited<ReturnType<typeof certify>>): Promise<SlotMarketEvent[]> {
  const lists = { buy: await readBook(v2.market, v2.slot, "buy"), sell: await readBook(v2.market, v2.slot, "sell") };
  const { hints } = v2.certifier.hintsFor(v2.slot, lists, [bid.bidder], v2.now);
  return (await placeSlotBids(v2.market, [{ bid, hint: hints[0]!.hint }], V2_GAS)).events;
}

describe("v2 trades from certified openings", () => {
  it("fixes the terms at the Matched, and each side's counterpart opening verifies against what the chain published", async () => {
    const sell = await certify("pv-1", 1, 610, 2_400);
    const buy = await certify("flat-2", 0, 640, 1_500);
    const placed = (await place(sell)).find((event) => event.type === "placed");
    const matched = (await place(buy)).find((event) => event.type === "matched");
    expect(placed?.type === "placed" && matched?.type === "matched").toBe(true);
    if (placed?.type !== "placed" || matched?.type !== "matched") return;
    const txHash = (await v2.provider.getLogs({ address: v2.market.address, fromBlock: 0 })).at(-1)!.transactionHash;
    const trade = slotTradeOf(v2.db, { buyBidder: matched.buyBidder, sellBidder: matched.sellBidder, txHash, slot: matched.slot }, market);
    expect(trade.terms).toMatchObject({ buyLevel: 640, sellLevel: 610, quantityWh: 1_500, priceMicroPerKWh: clearingPrice(640, 610, market.priceLevels, "midpoint") });
    expect(trade.remainderWh).toEqual({ buy: 0, sell: 900 });
    expect(trade.buyer.meterId).toBe("flat-2");
    expect(trade.seller.meterId).toBe("pv-1");

    // What each meter checks (PROTOCOL §5 trading step 3): the counterpart's opening against the chain's commitment,
    // and in meter mode, with the epoch key, against the chain's root.
    const epochKey = v2.vault.load(epochOfSlot(v2.slot, V2_CALENDAR));
    const seedOf = (hex: string) => new Uint8Array(Buffer.from(hex.slice(2), "hex"));
    const toBuyer = trade.payloads.buy.counterpart;
    expect(toBuyer.bidder).toBe(sell.bidder);
    const sellOnChain = { commitment: placed.commitment, ciphertextRoot: placed.ciphertextRoot };
    expect(verifySlotOpening(toBuyer.bidder, 1, sellOnChain, { ...toBuyer.opening, seed: seedOf(toBuyer.opening.seed) }, { epochKey, params: v2.params })).toEqual({ ok: true });
    const toSeller = trade.payloads.sell.counterpart;
    const buyOnChain = { commitment: matched.commitment, ciphertextRoot: matched.ciphertextRoot };
    expect(verifySlotOpening(toSeller.bidder, 0, buyOnChain, { ...toSeller.opening, seed: seedOf(toSeller.opening.seed) }, { epochKey, params: v2.params })).toEqual({ ok: true });
    // Neither payload names a meter.
    expect(JSON.stringify(trade.payloads)).not.toMatch(/pv-1|flat-2/);
  });

  it("refuses a match of a bidder it never certified, or two of one side", async () => {
    const a = await certify("pv-1", 1, 100, 100);
    const b = await certify("pv-1", 1, 101, 100);
    const txHash = `0x${"ab".repeat(32)}`;
    expect(() => slotTradeOf(v2.db, { buyBidder: Wallet.createRandom().address, sellBidder: a.bidder, txHash, slot: v2.slot }, market)).toThrow(SlotTradeError);
    expect(() => slotTradeOf(v2.db, { buyBidder: b.bidder, sellBidder: a.bidder, txHash, slot: v2.slot }, market)).toThrow(/one buy and one sell/);
    expect(() => slotTradeOf(v2.db, { buyBidder: a.bidder, sellBidder: b.bidder, txHash, slot: v2.slot + 1 }, market)).toThrow(/one buy and one sell|another slot/);
  });
});
