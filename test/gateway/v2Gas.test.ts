// Measurement (the real EDR chain with the slot market, real pairings, the DSO's real certifier): how many version 2
// bids (n = 1,024, w = 1) one `placeBids` transaction holds under EIP-7825's per-transaction cap of 2^24 gas, in the
// worst case a placement has (every bid rests inside a list: three zero tests), and what a purge costs per bid. The
// gateway's defaults (`slotTxMaxBids`, `purgeMaxPerTx`) must stay below what fits, with room to spare.
import { randomBytes } from "node:crypto";
import { Wallet, ZeroAddress, hexlify } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EIP7825_TX_GAS_CAP } from "../../actors/chain/txGasCap.ts";
import { gatewayDefaults } from "../../actors/config/gateway.ts";
import type { CertifiedTicket } from "../../actors/dso/certifier.ts";
import { bidTuple, placeSlotBids, purgeSlot, readBook, type SlotHint } from "../../contracts/client/v2/slotMarket.ts";
import { gateClosureOf } from "../../protocol/book/slotBooks.ts";
import { V2_CALENDAR, startV2Market, type V2Market } from "../dso/v2Market.ts";
import { mulberry32 } from "../../actors/runtime/mulberry32.ts";

let v2: V2Market;

beforeAll(async () => {
  v2 = await startV2Market({ marketId: "gas", meters: [{ meterId: "house-1", key: Wallet.createRandom() }] });
}, 60_000);

afterAll(async () => {
  await v2?.close();
});

async function certified(slot: number, side: 0 | 1, level: number): Promise<CertifiedTicket> {
  const opening = { side, slot, priceLevel: level, quantityWh: 500, salt: hexlify(randomBytes(32)) as `0x${string}`, seed: new Uint8Array(randomBytes(32)) };
  return v2.certifier.certify({ meterId: "house-1", bidder: new Wallet(hexlify(randomBytes(32))).address, opening, notAfter: v2.now + 1_800 }, v2.now);
}

describe("version 2 gas per transaction (n = 1,024, w = 1)", () => {
  it("fits the gateway's default batch of resting bids, each with three zero tests, under 2^24 gas; and purges cheaply", async () => {
    expect(v2.params).toMatchObject({ levels: 1024, width: 1 });
    const { market, certifier, slot, now } = v2;
    // A sell above every new buy (each buy proves b < s), and buys above and below them: each new buy rests inside the
    // buy list, after a `prev` it proves it does not beat and before a `next` it beats — the three zero tests.
    const frame = [await certified(slot, 1, 1_000), await certified(slot, 0, 900), await certified(slot, 0, 100)];
    const framed = certifier.hintsFor(slot, { buy: [], sell: [] }, frame.map((bid) => bid.bidder), now);
    await placeSlotBids(market, frame.map((bid, index) => ({ bid, hint: framed.hints[index]!.hint })), { gasLimit: EIP7825_TX_GAS_CAP });
    const random = mulberry32(7);
    const fresh: CertifiedTicket[] = [];
    for (let i = 0; i < gatewayDefaults.slotTxMaxBids + 10; i++) fresh.push(await certified(slot, 0, 101 + Math.floor(random() * 798)));
    const lists = { buy: await readBook(market, slot, "buy"), sell: await readBook(market, slot, "sell") };
    const hinted = certifier.hintsFor(slot, lists, fresh.map((bid) => bid.bidder), now);
    expect(hinted.hints.every((entry) => entry.outcome.placed && entry.outcome.matchedWith === null && entry.hint.prev !== ZeroAddress && entry.hint.next !== ZeroAddress)).toBe(true);
    const entries = fresh.map((bid, index) => bidTuple(bid, hinted.hints[index]!.hint as SlotHint));
    const placeBids = market.contract.getFunction("placeBids");

    // The gas a transaction of n of them must be given (what the node's estimator finds), until it passes the cap.
    const needed = new Map<number, bigint>();
    let fits = 0;
    for (let n = gatewayDefaults.slotTxMaxBids; n <= entries.length; n++) {
      const gas = (await placeBids.estimateGas(entries.slice(0, n), { gasLimit: EIP7825_TX_GAS_CAP }).catch(() => null)) as bigint | null;
      if (gas === null || gas > EIP7825_TX_GAS_CAP) break;
      needed.set(n, gas);
      fits = n;
    }
    const atDefault = needed.get(gatewayDefaults.slotTxMaxBids)!;
    console.info(
      `v2 gas (n = 1,024, w = 1), resting placements with three zero tests: ${gatewayDefaults.slotTxMaxBids} need ${atDefault} gas ` +
        `(${Math.round(Number(atDefault) / gatewayDefaults.slotTxMaxBids)} per bid); ${fits} fit under 2^24 (${EIP7825_TX_GAS_CAP})`,
    );
    expect(atDefault).toBeLessThanOrEqual((EIP7825_TX_GAS_CAP * 85n) / 100n);
    expect(fits).toBeGreaterThan(gatewayDefaults.slotTxMaxBids);

    // The default batch, sent with the cap as its gas limit: every entry placed.
    const batch = fresh.slice(0, gatewayDefaults.slotTxMaxBids);
    const placed = await placeSlotBids(market, batch.map((bid, index) => ({ bid, hint: hinted.hints[index]!.hint })), { gasLimit: EIP7825_TX_GAS_CAP });
    expect(placed.entries.every((entry) => entry.ok)).toBe(true);

    // Past the slot's gate closure one purge unlinks the whole buy list; its gas per bid bounds `purgeMaxPerTx`.
    const resting = (await readBook(market, slot, "buy")).length;
    await v2.provider.send("evm_increaseTime", [gateClosureOf(slot, V2_CALENDAR) - now + 1]);
    await v2.provider.send("evm_mine", []);
    const tx = await market.contract.getFunction("purge")(slot, 0, resting, { gasLimit: EIP7825_TX_GAS_CAP });
    const receipt = await tx.wait();
    expect(await readBook(market, slot, "buy")).toEqual([]);
    const perBid = (receipt!.gasUsed - 21_000n) / BigInt(resting);
    console.info(`v2 purge: ${resting} bids for ${receipt!.gasUsed} gas (${perBid} per bid)`);
    expect(BigInt(gatewayDefaults.purgeMaxPerTx) * perBid * 2n).toBeLessThan(EIP7825_TX_GAS_CAP);
    // `purgeSlot` (the client) reports the expiries it caused; the sell list goes the same way.
    expect((await purgeSlot(market, slot, "sell", gatewayDefaults.purgeMaxPerTx, { gasLimit: EIP7825_TX_GAS_CAP })).filter((event) => event.type === "expired")).toHaveLength(1);
  });
});
