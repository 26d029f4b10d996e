// The gateway's v2 placements (PROTOCOL §5 v2) on the real slot market (local chain, real pairings) with the DSO's
// hints (its certifier, in process, over a real SQLite file and real epoch keys): batches of one slot in flight
// together, every bid placed once, the books as the plaintext reference; a book changed behind the gateway's back
// makes entries stale, and they are re-hinted and placed, never twice.
import { randomBytes } from "node:crypto";
import { Wallet, hexlify, type ContractTransactionResponse } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Certifier, CertifiedTicket } from "../../actors/dso/certifier.ts";
import { createSlotPlacer, type SlotPlacer } from "../../actors/gateway/slotPlacer.ts";
import { publicHintSource } from "../../actors/gateway/publicHints.ts";
import { bidTuple, placeSlotBids, readBook, slotBatchResults, type CertifiedBid, type SlotHint, type SlotMarketHandle } from "../../contracts/client/v2/slotMarket.ts";
import { SlotBooks } from "../../protocol/book/slotBooks.ts";
import { V2_CALENDAR, V2_GAS, startV2Market, type V2Market } from "../dso/v2Market.ts";
import { mulberry32 } from "../../actors/runtime/mulberry32.ts";

const calendar = V2_CALENDAR;
const GAS = V2_GAS;
let v2: V2Market;
let market: SlotMarketHandle;
let certifier: Certifier;
let now: number;
let firstSlot: number;
const levels = new Map<string, number>();

beforeAll(async () => {
  v2 = await startV2Market({ marketId: "placer", meters: [{ meterId: "house-1", key: Wallet.createRandom() }] });
  ({ market, certifier, now } = v2);
  firstSlot = v2.slot;
}, 60_000);

afterAll(async () => {
  await v2?.close();
});

async function certified(slot: number, side: 0 | 1, level: number): Promise<CertifiedTicket> {
  const bidder = Wallet.createRandom().address;
  levels.set(bidder.toLowerCase(), level);
  const opening = { side, slot, priceLevel: level, quantityWh: 500, salt: hexlify(randomBytes(32)) as `0x${string}`, seed: new Uint8Array(randomBytes(32)) };
  return certifier.certify({ meterId: "house-1", bidder, opening, notAfter: now + 1_800 }, now);
}

/** Transactions are handed to the node one after another (nonce order); their receipts are awaited together. */
function pipelinedSend() {
  let handOver: Promise<unknown> = Promise.resolve();
  return async (entries: readonly { bid: CertifiedBid; hint: SlotHint }[]) => {
    const sent = handOver.then(() => market.contract.getFunction("placeBids")(entries.map((entry) => bidTuple(entry.bid, entry.hint)), GAS) as Promise<ContractTransactionResponse>);
    handOver = sent.catch(() => undefined);
    const receipt = await (await sent).wait();
    return slotBatchResults(market, entries.map((entry) => entry.bid.bidder), receipt!.logs).entries;
  };
}

const placerWith = (send = pipelinedSend()): SlotPlacer =>
  createSlotPlacer({
    hints: async (slot, lists, bidders, at) => certifier.hintsFor(slot, lists, bidders, at),
    readLists: async (slot) => ({ buy: await readBook(market, slot, "buy"), sell: await readBook(market, slot, "sell") }),
    send,
    now: () => now,
    attempts: 3,
  });

async function chainLists(slot: number) {
  return { buy: (await readBook(market, slot, "buy")).map((a) => a.toLowerCase()), sell: (await readBook(market, slot, "sell")).map((a) => a.toLowerCase()) };
}

describe("the gateway's v2 placements", () => {
  it("places batches of three slots, several in flight per slot: every bid once, the books as the reference, matches as predicted", async () => {
    const random = mulberry32(13);
    const slots = [firstSlot, firstSlot + 1, firstSlot + 2];
    const reference = new SlotBooks(calendar);
    const batches: { slot: number; bids: CertifiedTicket[] }[] = [];
    for (let b = 0; b < 9; b++) {
      const slot = slots[b % 3]!;
      const bids = [];
      for (let i = 0; i < 4; i++) bids.push(await certified(slot, random() < 0.5 ? 0 : 1, 400 + Math.floor(random() * 200)));
      batches.push({ slot, bids });
    }
    const placer = placerWith();
    const results = await Promise.all(batches.map((batch) => placer.place(batch.slot, batch.bids)));
    // The reference, in the order batches were handed over (per slot, the order of `place` calls); each bid's match.
    const matchOf = new Map<string, string | null>();
    for (const batch of batches)
      for (const bid of batch.bids) {
        const placement = reference.place({ bidder: bid.bidder, side: bid.side, slot: batch.slot, level: levels.get(bid.bidder.toLowerCase())!, notAfter: bid.notAfter }, now);
        matchOf.set(bid.bidder.toLowerCase(), placement.ok && placement.matchedWith !== null ? reference.bid(placement.matchedWith)!.bidder.toLowerCase() : null);
      }
    const all = results.flat();
    expect(all).toHaveLength(36);
    expect(all.every((result) => result.outcome === "placed" && result.attempts === 1)).toBe(true);
    for (const result of all) expect(result.outcome === "placed" ? (result.matchedWith?.toLowerCase() ?? null) : "not placed", result.bidder).toBe(matchOf.get(result.bidder.toLowerCase()));
    expect(placer.counters()).toMatchObject({ transactions: 9, stale: 0, resyncs: 3 });
    for (const slot of slots) {
      const expected = { buy: reference.book(slot, "buy").map((id) => reference.bid(id)!.bidder.toLowerCase()), sell: reference.book(slot, "sell").map((id) => reference.bid(id)!.bidder.toLowerCase()) };
      expect(await chainLists(slot), `slot ${slot}`).toEqual(expected);
    }
    expect([...matchOf.values()].filter((match) => match !== null).length).toBeGreaterThan(2);
  });

  it("re-hints entries that went stale when the book changed behind its back, and places each once", async () => {
    const slot = firstSlot + 3;
    const placer = placerWith();
    // The placer learns the slot (two resting sells), then another party places a better sell directly.
    await placer.place(slot, [await certified(slot, 1, 700), await certified(slot, 1, 710)]);
    const intruder = await certified(slot, 1, 650);
    const direct = certifier.hintsFor(slot, { buy: [], sell: await readBook(market, slot, "sell") }, [intruder.bidder], now);
    await placeSlotBids(market, [{ bid: intruder, hint: direct.hints[0]!.hint }], GAS);
    // Sells that belong after the intruder's and a buy that now meets it: hinted against the old lists, stale on chain.
    const batch = [await certified(slot, 1, 680), await certified(slot, 1, 705), await certified(slot, 0, 660)];
    const results = await placer.place(slot, batch);
    expect(results.every((result) => result.outcome === "placed")).toBe(true);
    expect(Math.max(...results.map((result) => result.attempts))).toBe(2);
    expect(placer.counters().stale).toBeGreaterThan(0);
    // The buy met the intruder's sell (the best), not a stale head.
    const buy = results[2]!;
    expect(buy.outcome === "placed" && buy.matchedWith?.toLowerCase()).toBe(intruder.bidder.toLowerCase());
    const sells = (await chainLists(slot)).sell;
    expect(sells.map((bidder) => levels.get(bidder))).toEqual([680, 700, 705, 710]);
    // Sent again (twice in one call): single-use bidders, the contract refuses each, each reported in its place.
    const again = await placer.place(slot, [batch[0]!, batch[0]!]);
    expect(again).toMatchObject([
      { outcome: "rejected", reason: "BidderAlreadyUsed" },
      { outcome: "rejected", reason: "BidderAlreadyUsed" },
    ]);
  });

  it("a transaction that fails leaves its bids unknown (never lost), and the next batch reads the books once the slot is quiet", async () => {
    const slot = firstSlot + 4;
    let failNext = false;
    const send = pipelinedSend();
    const placer = placerWith(async (entries) => {
      if (failNext) {
        failNext = false;
        throw new Error("node unreachable");
      }
      return send(entries);
    });
    await placer.place(slot, [await certified(slot, 1, 500)]);
    failNext = true;
    const lost = [await certified(slot, 1, 510), await certified(slot, 0, 400)];
    const failed = await placer.place(slot, lost);
    expect(failed.map((result) => result.outcome)).toEqual(["unknown", "unknown"]);
    // Sent again: placed once; the books were read again first.
    const resyncs = placer.counters().resyncs;
    const retried = await placer.place(slot, lost);
    expect(retried.map((result) => result.outcome)).toEqual(["placed", "placed"]);
    expect(placer.counters().resyncs).toBe(resyncs + 1);
    expect((await chainLists(slot)).sell.map((bidder) => levels.get(bidder))).toEqual([500, 510]);
  });

  it("from public data alone (zero tests on the ciphertexts), hints a batch exactly as the DSO does, and the placer lands it", async () => {
    const slot = firstSlot + 6;
    const known = new Map<string, CertifiedTicket>();
    const make = async (side: 0 | 1, level: number) => {
      const ticket = await certified(slot, side, level);
      known.set(ticket.bidder.toLowerCase(), ticket);
      return ticket;
    };
    const source = publicHintSource({ bidOf: (bidder) => known.get(bidder.toLowerCase()), params: v2.params, calendar });
    // Resting bids first (through the DSO's hints), then one batch both ways.
    await placerWith().place(slot, [await make(1, 520), await make(1, 560), await make(0, 480), await make(0, 450)]);
    const batch = [await make(0, 530), await make(1, 470), await make(1, 560), await make(0, 455), await make(0, 600), await make(1, 300)];
    const lists = { buy: await readBook(market, slot, "buy"), sell: await readBook(market, slot, "sell") };
    const fromDso = certifier.hintsFor(slot, lists, batch.map((bid) => bid.bidder), now);
    const fromPublic = await source(slot, lists, batch.map((bid) => bid.bidder), now);
    expect(fromPublic.hints.map((entry) => entry.outcome)).toEqual(fromDso.hints.map((entry) => entry.outcome));
    expect(fromPublic.hints.map((entry) => entry.hint)).toEqual(fromDso.hints.map((entry) => entry.hint));
    expect(fromPublic.lists).toEqual(fromDso.lists);
    const placer = createSlotPlacer({ hints: source, readLists: async (at) => ({ buy: await readBook(market, at, "buy"), sell: await readBook(market, at, "sell") }), send: pipelinedSend(), now: () => now, attempts: 1 });
    const results = await placer.place(slot, batch);
    expect(results.map((result) => result.outcome)).toEqual(batch.map(() => "placed"));
    expect(await chainLists(slot)).toEqual({ buy: fromDso.lists.buy.map((a) => a.toLowerCase()), sell: fromDso.lists.sell.map((a) => a.toLowerCase()) });
  });

  it("refuses hints that answer for other bids than asked, leaving the bids unknown", async () => {
    const slot = firstSlot + 5;
    const bids = [await certified(slot, 1, 500), await certified(slot, 1, 501)];
    const placer = createSlotPlacer({
      hints: async (at, lists, bidders, time) => {
        const answer = certifier.hintsFor(at, lists, bidders, time);
        return { ...answer, hints: [...answer.hints].reverse() };
      },
      readLists: async (at) => ({ buy: await readBook(market, at, "buy"), sell: await readBook(market, at, "sell") }),
      send: pipelinedSend(),
      now: () => now,
      attempts: 2,
    });
    const results = await placer.place(slot, bids);
    expect(results.map((result) => result.outcome)).toEqual(["unknown", "unknown"]);
    expect(results[0]!.outcome === "unknown" && String(results[0]!.error)).toMatch(/other bids than asked/);
    expect(await chainLists(slot)).toEqual({ buy: [], sell: [] });
  });
});
