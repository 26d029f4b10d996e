// Real chain, real pairings: the contract's matches, expiries and heaps equal the plaintext reference book's, step for step.
import { describe, expect, it } from "vitest";
import type { Wallet } from "ethers";
import { BUY, heapViolations, ReferenceOrderBook, SELL, type BookSide } from "../../protocol/book/referenceOrderBook.ts";
import { cancelBid, MarketRevertError, placeBids, purgeExpired, signCancel, type MarketEvent } from "../../contracts/client/index.ts";
import { suiteMarketFixture, randomInt, seededRandom, TX_GAS, type MadeBid, type MarketFixture } from "./marketFixture.ts";
import { type SideCode } from "../../protocol/domain.ts";

/** One comparable line per event, contract and reference alike. */
type Step =
  | { type: "placed"; bidId: number; side: number }
  | { type: "matched"; buyId: number; sellId: number }
  | { type: "expired"; bidId: number; side: number }
  | { type: "cancelled"; bidId: number; side: number }
  | { type: "rejected"; index: number; reason: string | undefined };

function contractSteps(events: readonly MarketEvent[]): Step[] {
  return events.map((event): Step => {
    switch (event.type) {
      case "BidPlaced":
        return { type: "placed", bidId: Number(event.bidId), side: event.side };
      case "Matched":
        return { type: "matched", buyId: Number(event.buyId), sellId: Number(event.sellId) };
      case "BidExpired":
        return { type: "expired", bidId: Number(event.bidId), side: event.side };
      case "BidCancelled":
        return { type: "cancelled", bidId: Number(event.bidId), side: event.side };
      case "BidRejected":
        return { type: "rejected", index: event.index, reason: event.reasonName };
    }
  });
}

type SequenceOptions = {
  seed: number;
  bids: number;
  maxBatch: number;
  /** Per step: probability of a cancel, and of a purge (otherwise a batch of bids). */
  cancelRate: number;
  purgeRate: number;
  /** Bid lifetimes in seconds; steps advance the clock by 1..maxStepSeconds. */
  lifetime: [number, number];
  maxStepSeconds: number;
};

type MadeEntry = { side: BookSide; priceLevel: number; notAfter: number; bid: MadeBid };

/** Places a batch on chain and in the reference; "out-of-gas" when the batch reverted as a whole (state checked). */
async function placeBatch(
  fixture: MarketFixture,
  reference: ReferenceOrderBook,
  keyOf: Map<number, Wallet>,
  made: readonly MadeEntry[],
  now: number,
): Promise<{ actual: MarketEvent[]; expected: Step[] } | "out-of-gas"> {
  const before = await fixture.marketState();
  let actual: MarketEvent[];
  try {
    actual = (await placeBids(fixture.market, made.map((entry) => entry.bid.bid), TX_GAS)).events;
  } catch (error) {
    if (!(error instanceof MarketRevertError) || error.errorName !== "BatchEntryOutOfGas") throw error;
    expect(await fixture.marketState()).toEqual(before);
    return "out-of-gas";
  }
  const expected: Step[] = [];
  made.forEach((entry, index) => {
    const result = reference.place({ side: entry.side, priceLevel: entry.priceLevel, notAfter: entry.notAfter }, now);
    if (result.ok) {
      keyOf.set(result.bidId, entry.bid.oneTimeKey);
      expected.push(...result.events.map((event) => ({ ...event }) as Step));
    } else {
      expected.push({ type: "rejected", index, reason: result.reason });
    }
  });
  return { actual, expected };
}

type SequenceStats = {
  placed: number;
  matched: number;
  expired: number;
  cancelled: number;
  rejected: Record<string, number>;
  splitBatches: number;
  txs: number;
};

async function runRandomSequence(fixture: MarketFixture, options: SequenceOptions): Promise<SequenceStats> {
  const random = seededRandom(options.seed);
  const reference = new ReferenceOrderBook();
  const keyOf = new Map<number, Wallet>();
  const stats: SequenceStats = { placed: 0, matched: 0, expired: 0, cancelled: 0, rejected: {}, splitBatches: 0, txs: 0 };
  const levels = fixture.levels;
  let now = (await fixture.latestTimestamp()) + 10;
  let attempted = 0;

  while (attempted < options.bids) {
    now += randomInt(random, 1, options.maxStepSeconds + 1);
    const open = [...reference.heap(BUY), ...reference.heap(SELL)];
    const action = random();
    let actual: MarketEvent[];
    let expected: Step[];

    if (action < options.cancelRate && open.length > 0) {
      const bidId = open[randomInt(random, 0, open.length)]!;
      const signature = await signCancel(keyOf.get(bidId)!, fixture.market.domain);
      await fixture.setNextTimestamp(now);
      actual = (await cancelBid(fixture.market, BigInt(bidId), signature, TX_GAS)).events;
      const event = reference.cancel(bidId);
      expected = [{ type: "cancelled", bidId, side: event.side }];
    } else if (action < options.cancelRate + options.purgeRate && open.length > 0) {
      // Some expired open bids (each removal costs ~log2(n) + 1 pairing checks, so purges come in chunks), plus an
      // open live one and bid 1 (closed by now) that the contract must skip.
      const ids = [...reference.expiredOpenBids(now).slice(0, 5), open[0]!, 1];
      await fixture.setNextTimestamp(now);
      const before = reference.events.length;
      actual = (await purgeExpired(fixture.market, ids.map(BigInt), TX_GAS)).expired;
      reference.purge(ids, now);
      expected = reference.events.slice(before).map((event) => ({ ...event }) as Step);
    } else {
      const batchSize = Math.min(randomInt(random, 1, options.maxBatch + 1), options.bids - attempted);
      const made: MadeEntry[] = [];
      for (let i = 0; i < batchSize; i++) {
        const side: BookSide = random() < 0.5 ? BUY : SELL;
        // Buys lean low and sells high so that the books grow as well as match.
        const spread = Math.max(1, Math.floor(levels * 0.2));
        const priceLevel = side === BUY ? randomInt(random, 0, levels - spread) : randomInt(random, spread, levels);
        const expiredTicket = random() < 0.04;
        const notAfter = expiredTicket ? now - 1 : now + randomInt(random, options.lifetime[0], options.lifetime[1]);
        made.push({ side, priceLevel, notAfter, bid: await fixture.makeBid({ side: side as SideCode, priceLevel, notAfter }) });
      }
      attempted += batchSize;
      await fixture.setNextTimestamp(now);
      const outcome = await placeBatch(fixture, reference, keyOf, made, now);
      if (outcome === "out-of-gas") {
        // As a gateway would: the whole batch reverted (nothing changed), so place the entries one per transaction.
        stats.splitBatches++;
        actual = [];
        expected = [];
        for (const entry of made) {
          now += 1;
          await fixture.setNextTimestamp(now);
          const single = await placeBatch(fixture, reference, keyOf, [entry], now);
          if (single === "out-of-gas") expect.fail(`a single bid ran out of a 30 M gas limit at t=${now}`);
          actual.push(...single.actual);
          expected.push(...single.expected);
        }
      } else {
        ({ actual, expected } = outcome);
      }
    }
    stats.txs++;

    const steps = contractSteps(actual);
    expect(steps, `step ${stats.txs} at t=${now} (seed ${options.seed})`).toEqual(expected);
    for (const step of steps) {
      if (step.type === "placed") stats.placed++;
      if (step.type === "expired") stats.expired++;
      if (step.type === "cancelled") stats.cancelled++;
      if (step.type === "rejected") stats.rejected[step.reason ?? "?"] = (stats.rejected[step.reason ?? "?"] ?? 0) + 1;
      if (step.type === "matched") {
        stats.matched++;
        // An expired bid never matches: both sides were live in this block.
        expect(reference.notAfter(step.buyId)).toBeGreaterThanOrEqual(now);
        expect(reference.notAfter(step.sellId)).toBeGreaterThanOrEqual(now);
        expect(reference.priceLevel(step.buyId)).toBeGreaterThanOrEqual(reference.priceLevel(step.sellId));
      }
    }
    const state = await fixture.marketState();
    expect(state.buyHeap.map(Number)).toEqual(reference.heap(BUY));
    expect(state.sellHeap.map(Number)).toEqual(reference.heap(SELL));
    expect(Number(state.bidCount)).toBe(reference.bidCount);
  }

  // The contract's heaps, decoded through the reference's clear levels, satisfy the heap property.
  const state = await fixture.marketState();
  expect(heapViolations(BUY, state.buyHeap.map(Number), (id) => reference.priceLevel(id))).toEqual([]);
  expect(heapViolations(SELL, state.sellHeap.map(Number), (id) => reference.priceLevel(id))).toEqual([]);
  expect(reference.matches().length).toBe(stats.matched);
  return stats;
}

/** Each run: the random sequence, and the counts it must exceed (a sequence that skips a path would prove little). */
const runs = [
  {
    levels: 10,
    title: "agrees pair for pair on 320 random bids with cancels, purges and lazy expiries",
    sequence: { seed: 0x5eed10, bids: 320, maxBatch: 4, cancelRate: 0.08, purgeRate: 0.05, lifetime: [20, 600] as [number, number], maxStepSeconds: 20 },
    exceeds: { placed: 280, matched: 60, expired: 10, cancelled: 5, TicketExpired: 3, ExpiredBacklog: 0 },
  },
  {
    levels: 50,
    title: "agrees pair for pair on 40 random bids",
    sequence: { seed: 0x5eed50, bids: 40, maxBatch: 2, cancelRate: 0.08, purgeRate: 0.05, lifetime: [10, 120] as [number, number], maxStepSeconds: 20 },
    exceeds: { placed: 30, matched: 3 },
  },
];

describe.each(runs)("contract vs reference order book, n = $levels", ({ levels, title, sequence, exceeds }) => {
  const fixture = suiteMarketFixture(levels);

  it(title, async () => {
    const stats = await runRandomSequence(fixture(), sequence);
    const { rejected, ...totals } = stats;
    const counts: Record<string, number | undefined> = { ...totals, ...rejected };
    for (const [count, bound] of Object.entries(exceeds)) expect(counts[count], count).toBeGreaterThan(bound);
  });
});
