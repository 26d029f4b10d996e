// `gridveil bench throughput` end to end at a tiny size (real nats-server, EDR chain, DSO, gateway, meter, pairings):
// the structure, and that every bid of every setup is placed exactly once. Never timed: the machine is shared.
import { describe, expect, it } from "vitest";
import { benchBids, defaultBatchSize, runThroughputBench, THROUGHPUT_MODES } from "../../bench/throughput.ts";
import type { BenchProgress } from "../../bench/progress.ts";
import { renderThroughputTable } from "../../actors/cli/commands/benchThroughput.ts";
import { ReferenceOrderBook } from "../../protocol/book/referenceOrderBook.ts";

const BIDS = 20;

describe("bench throughput", () => {
  it("runs the three setups at n = 4 and places every bid exactly once", async () => {
    const progress: BenchProgress[] = [];
    const rows = await runThroughputBench({ levels: [4], bids: BIDS, meters: 2, seed: 7, onProgress: (step) => progress.push(step) });
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row.levels).toBe(4);
    expect(row.paperSingleMeterBidsPerS).toBeNull();
    const expectedMatches = matchesOf(benchBids(BIDS, 4, 7));
    for (const mode of THROUGHPUT_MODES) {
      const result = row.modes[mode]!;
      expect(result.bids).toBe(BIDS);
      // Every bid has its placed notice, exactly one each, and the contract holds exactly the bench's bids.
      expect(result.placed).toBe(BIDS);
      expect(result.placedNotices).toBe(BIDS);
      expect(result.onChainBids).toBe(BIDS);
      // Bids arrive in plan order in every setup, so the chain matches them as the plaintext order book does.
      expect(result.matches).toBe(expectedMatches);
      expect(result.txs).toBeGreaterThanOrEqual(1);
      expect(result.txs).toBeLessThanOrEqual(BIDS);
      expect(result.bidsPerS).toBeGreaterThan(0);
      expect(result.payloadBytes).toBeGreaterThan(0);
      expect(result.onChainShare).toBeGreaterThan(0);
      expect(result.onChainShare).toBeLessThanOrEqual(1);
      expect(result.stagesMs["chain.tx"]?.count).toBe(result.txs);
    }
    const { singleMeter, pregenerated, plaintext } = row.modes;
    expect(singleMeter!.bidLatencyMs).not.toBeNull();
    expect(singleMeter!.stagesMs["meter.encrypt"]?.count).toBe(BIDS);
    // One meter waits for each placement: one transaction per bid.
    expect(singleMeter!.txs).toBe(BIDS);
    // The same bids, so the same payload for both encrypted setups; the clear level is far smaller.
    expect(pregenerated!.payloadBytes).toBeGreaterThan(plaintext!.payloadBytes * 2);
    expect(Math.abs(singleMeter!.payloadBytes - pregenerated!.payloadBytes)).toBeLessThan(BIDS * 100);
    expect(row.singleMeterBidsPerS).toBe(singleMeter!.bidsPerS);
    expect(row.plaintextKbitPerS).toBe(plaintext!.kbitPerS);
    expect(pregenerated!.batchSize).toBe(defaultBatchSize(4));
    expect(progress.at(-1)).toMatchObject({ completed: progress.at(-1)!.total });
    const table = renderThroughputTable(rows, { bids: BIDS, meters: 2, batch: undefined });
    expect(table.split("\n")[2]).toMatch(/^4\s/);
    expect(table).toContain("plaintext");
  });
});

describe("bench throughput bids", () => {
  it("draws random sides and levels (some cross), or with `resting` bids that never match", () => {
    const random = benchBids(200, 10, 3);
    expect(random.every((bid) => bid.priceLevel >= 0 && bid.priceLevel < 10)).toBe(true);
    expect(matchesOf(random)).toBeGreaterThan(0);
    expect(benchBids(200, 10, 3)).toEqual(random);
    const resting = benchBids(200, 10, 3, true);
    expect(resting.filter((bid) => bid.side === 0).every((bid) => bid.priceLevel < 5)).toBe(true);
    expect(resting.filter((bid) => bid.side === 1).every((bid) => bid.priceLevel >= 5 && bid.priceLevel < 10)).toBe(true);
    expect(matchesOf(resting)).toBe(0);
  });
});

/** Matches of the plaintext reference order book (the contract's algorithm on clear levels), bids in plan order. */
function matchesOf(bids: readonly { side: 0 | 1; priceLevel: number }[]): number {
  const book = new ReferenceOrderBook();
  const now = Math.floor(Date.now() / 1000);
  return bids.filter((bid) => {
    const placed = book.place({ side: bid.side, priceLevel: bid.priceLevel, notAfter: now + 3_600 }, now);
    return placed.ok && placed.matchedWith !== undefined;
  }).length;
}
