// A bid's life on chain: events an observer follows, expiry, cancel and purge anywhere in a heap, and opening checks.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Wallet } from "ethers";
import { BUY, heapViolations, ReferenceOrderBook, SELL, type BookSide } from "../../protocol/book/referenceOrderBook.ts";
import { verifyOpening } from "../../protocol/verifyOpening.ts";
import {
  BidStatus,
  cancelBid,
  decodeMarketEvents,
  getBid,
  getBidCiphertext,
  getBidIdOf,
  placeBid,
  placeBids,
  purgeExpired,
  signCancel,
  type MarketHandle,
} from "../../contracts/client/index.ts";
import { createMarketFixture, suiteMarketFixture, randomInt, seededRandom, TX_GAS, type MarketFixture } from "./marketFixture.ts";

const LEVELS = 10;

describe("a matched pair, as observers see it", () => {
  let fixture: MarketFixture;
  let market: MarketHandle;
  beforeAll(async () => {
    fixture = await createMarketFixture(LEVELS);
    market = fixture.market;
  });
  afterAll(async () => fixture.close());

  it("BidPlaced and Matched carry ids, sides, bidders, commitments and ciphertext hashes; openings verify", async () => {
    const notAfter = (await fixture.latestTimestamp()) + 3600;
    const sell = await fixture.makeBid({ side: 1, priceLevel: 4, notAfter, quantityWh: 2500 });
    const buy = await fixture.makeBid({ side: 0, priceLevel: 6, notAfter, quantityWh: 1000 });
    const placedSell = await placeBid(market, sell.bid, TX_GAS);
    expect(placedSell.matched).toBeUndefined();
    expect(placedSell.events).toEqual([
      expect.objectContaining({
        type: "BidPlaced",
        bidId: 1n,
        side: 1,
        bidder: sell.bid.bidder,
        notAfter: BigInt(notAfter),
        commitment: sell.bid.commitment,
        ciphertextHash: sell.ciphertextHash,
      }),
    ]);
    const placedBuy = await placeBid(market, buy.bid, TX_GAS);
    expect(placedBuy.matched).toMatchObject({
      type: "Matched",
      buyId: 2n,
      sellId: 1n,
      buyBidder: buy.bid.bidder,
      sellBidder: sell.bid.bidder,
      buyCommitment: buy.bid.commitment,
      sellCommitment: sell.bid.commitment,
      buyCiphertextHash: buy.ciphertextHash,
      sellCiphertextHash: sell.ciphertextHash,
      transactionHash: placedBuy.receipt.hash,
    });
    // The same decoding from bare logs (an observer polling eth_getLogs).
    const logs = await fixture.provider.getLogs({ address: market.address, fromBlock: 0 });
    expect(decodeMarketEvents(logs).map((event) => event.type)).toEqual(["BidPlaced", "BidPlaced", "Matched"]);
    expect(decodeMarketEvents(logs, "0x000000000000000000000000000000000000dEaD")).toEqual([]);

    // PROTOCOL §5 trading steps 3–4: both openings verify against what the chain holds, and only those.
    for (const [made, bidId, side] of [[sell, 1n, 1], [buy, 2n, 0]] as const) {
      const info = await getBid(market, bidId);
      expect(info).toMatchObject({ bidder: made.bid.bidder, side, status: BidStatus.Matched, commitment: made.bid.commitment });
      expect(await getBidIdOf(market, made.bid.bidder)).toBe(bidId);
      const onChain = { ...(await getBidCiphertext(market, bidId)), commitment: info.commitment };
      expect(onChain.left).toEqual(made.bid.left);
      expect(verifyOpening(fixture.msk, LEVELS, info.bidder, side, onChain, made.opening)).toEqual({ ok: true });
      const lying = { ...made.opening, priceLevel: made.opening.priceLevel + 1 };
      expect(verifyOpening(fixture.msk, LEVELS, info.bidder, side, onChain, lying)).toMatchObject({ ok: false, reason: "commitment-mismatch" });
      const wrongAlpha = { ...made.opening, alpha: made.opening.alpha + 1n };
      expect(verifyOpening(fixture.msk, LEVELS, info.bidder, side, onChain, wrongAlpha)).toMatchObject({ ok: false, reason: "ciphertext-mismatch" });
    }
    expect(await getBidIdOf(market, fixture.dso.address)).toBeUndefined();
  });
});

describe("expiry", () => {
  const fixture = suiteMarketFixture(LEVELS);

  it("an expired bid is never matched: it is dropped at the root and the newcomer matches the next live bid", async () => {
    const market = fixture().market;
    const now = (await fixture().latestTimestamp()) + 10;
    const cheapShortLived = await fixture().makeBid({ side: 1, priceLevel: 1, notAfter: now + 5 });
    const dearLongLived = await fixture().makeBid({ side: 1, priceLevel: 7, notAfter: now + 3600 });
    await fixture().setNextTimestamp(now);
    await placeBids(market, [cheapShortLived.bid, dearLongLived.bid], TX_GAS);
    // Still live at notAfter itself.
    const early = await fixture().makeBid({ side: 0, priceLevel: 2, notAfter: now + 3600 });
    await fixture().setNextTimestamp(now + 5);
    expect((await placeBid(market, early.bid, TX_GAS)).matched?.sellId).toBe(1n);
    // Re-place a short-lived cheap sell, let it expire, then send a buy that would have taken it.
    const stale = await fixture().makeBid({ side: 1, priceLevel: 0, notAfter: now + 20 });
    await fixture().setNextTimestamp(now + 10);
    const stalePlaced = await placeBid(market, stale.bid, TX_GAS);
    const buy = await fixture().makeBid({ side: 0, priceLevel: 9, notAfter: now + 3600 });
    await fixture().setNextTimestamp(now + 21);
    const result = await placeBid(market, buy.bid, TX_GAS);
    expect(result.events.map((event) => event.type)).toEqual(["BidPlaced", "BidExpired", "Matched"]);
    expect(result.events[1]).toMatchObject({ bidId: stalePlaced.bidId, side: 1, bidder: stale.bid.bidder });
    expect(result.matched).toMatchObject({ buyId: result.bidId, sellId: 2n });
    expect((await getBid(market, stalePlaced.bidId)).status).toBe(BidStatus.Expired);
  });
});

describe("cancel and purge anywhere in a heap keep both heaps valid", () => {
  const fixture = suiteMarketFixture(LEVELS);

  it("removes roots, leaves and inner nodes of both heaps and matches the reference after every step", async () => {
    const market = fixture().market;
    const random = seededRandom(0xc0ffee);
    const reference = new ReferenceOrderBook();
    const keyOf = new Map<number, Wallet>();
    let now = (await fixture().latestTimestamp()) + 10;

    // 48 resting bids (buys 0..4, sells 5..9 never cross), a third of them short-lived.
    for (let round = 0; round < 6; round++) {
      const made = [];
      for (let i = 0; i < 8; i++) {
        const side: BookSide = i % 2 === 0 ? BUY : SELL;
        const priceLevel = side === BUY ? randomInt(random, 0, 5) : randomInt(random, 5, 10);
        const notAfter = random() < 0.33 ? now + 30 : now + 100_000;
        made.push({ side, priceLevel, notAfter, bid: await fixture().makeBid({ side, priceLevel, notAfter }) });
      }
      await fixture().setNextTimestamp(now);
      await placeBids(market, made.map((entry) => entry.bid.bid), TX_GAS);
      for (const entry of made) {
        const result = reference.place(entry, now);
        if (!result.ok) expect.fail(`reference rejected a bid: ${result.reason}`);
        keyOf.set(result.bidId, entry.bid.oneTimeKey);
      }
      now += 1;
    }

    const check = async () => {
      const state = await fixture().marketState();
      expect(state.buyHeap.map(Number)).toEqual(reference.heap(BUY));
      expect(state.sellHeap.map(Number)).toEqual(reference.heap(SELL));
      expect(heapViolations(BUY, state.buyHeap.map(Number), (id) => reference.priceLevel(id))).toEqual([]);
      expect(heapViolations(SELL, state.sellHeap.map(Number), (id) => reference.priceLevel(id))).toEqual([]);
      for (const [position, bidId] of state.buyHeap.entries()) expect((await getBid(market, bidId)).heapPosition).toBe(position);
    };
    await check();

    const cancelAt = async (side: BookSide, pick: (size: number) => number) => {
      const heap = reference.heap(side);
      const bidId = heap[pick(heap.length)]!;
      now += 1;
      await fixture().setNextTimestamp(now);
      const { events } = await cancelBid(market, BigInt(bidId), await signCancel(keyOf.get(bidId)!, market.domain), TX_GAS);
      expect(events).toMatchObject([{ type: "BidCancelled", bidId: BigInt(bidId), side }]);
      reference.cancel(bidId);
      await check();
    };
    for (const side of [BUY, SELL]) {
      await cancelAt(side, () => 0); // root
      await cancelAt(side, (size) => size - 1); // last leaf
      await cancelAt(side, (size) => Math.floor(size / 2)); // a leaf in the middle
      await cancelAt(side, () => 1); // an inner node
      await cancelAt(side, () => 2);
    }

    // Purge in three chunks after the short-lived bids expired; live and unknown-to-purge ids are skipped.
    now += 60;
    const expired = reference.expiredOpenBids(now);
    expect(expired.length).toBeGreaterThan(6);
    for (let start = 0; start < expired.length; start += 6) {
      const chunk = [...expired.slice(start, start + 6), reference.heap(BUY)[0]!];
      await fixture().setNextTimestamp(now);
      const { expired: events } = await purgeExpired(market, chunk.map(BigInt), TX_GAS);
      expect(events.map((event) => Number(event.bidId))).toEqual(reference.purge(chunk, now));
      await check();
      now += 1;
    }
    expect(reference.expiredOpenBids(now)).toEqual([]);
    // Purging again changes nothing.
    await fixture().setNextTimestamp(now);
    expect((await purgeExpired(market, expired.map(BigInt), TX_GAS)).expired).toEqual([]);
  });
});
