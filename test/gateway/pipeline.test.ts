// Integration (real nats-server, EDR chain, pairings): a batch larger than `txMaxBids` goes out as several pipelined
// transactions (consecutive nonces, consecutive blocks, each bid placed once), also when one of them runs out of gas.
import { describe, expect, it } from "vitest";
import { getBidCount } from "../../contracts/client/index.ts";
import type { BatchMinedEvent } from "../../actors/gateway/submitter.ts";
import { createMarket, environmentPerFile, until, type Environment } from "./fixture.ts";

let env: Environment;
environmentPerFile((started) => (env = started));

describe("gateway pipelined transactions", () => {
  it("sends one batch as several transactions of at most txMaxBids bids, in nonce order, each bid placed once", async () => {
    const m = await createMarket(env, "pipeline");
    const bids = await Promise.all(Array.from({ length: 7 }, (_, i) => m.makeBid({ side: 1, priceLevel: 1 + (i % 3) })));
    for (const made of bids) await m.publish(made.submission);
    const gateway = await m.startGateway(await m.dataDir(), { txMaxBids: 2 });
    const batches: BatchMinedEvent[] = [];
    gateway.events.on("batch", (batch) => batches.push(batch));
    try {
      await until(async () => (await getBidCount(m.market)) === 7n, 60_000, "seven placements");
      await until(() => m.bidsIdle(), 10_000, "every delivery acked");
      await until(() => batches.reduce((sum, batch) => sum + batch.placed, 0) === 7 || undefined, 10_000, "the transaction reports");
      expect(gateway.counters()).toMatchObject({ bidsPlaced: 7, rejected: 0, duplicates: 0, batches: 1 });
      // One machine batch of 7: transactions of 2, 2, 2 and 1 bids, mined in consecutive blocks.
      expect(batches.map((batch) => batch.bids).sort()).toEqual([1, 2, 2, 2]);
      const blocks = batches.map((batch) => batch.blockNumber).sort((a, b) => a - b);
      expect(blocks.at(-1)! - blocks[0]!).toBe(blocks.length - 1);
    } finally {
      await gateway.stop();
      await m.cleanup();
    }
  });

  it("sends a transaction that ran out of gas again in smaller ones while the others of its wave go through", async () => {
    const m = await createMarket(env, "pipeline-split");
    const bids = await Promise.all(Array.from({ length: 8 }, (_, i) => m.makeBid({ side: 1, priceLevel: 1 + (i % 3) })));
    for (const made of bids) await m.publish(made.submission);
    // Room for about two resting bids per transaction at this dimension: chunks of four do not fit.
    const gateway = await m.startGateway(await m.dataDir(), { txMaxBids: 4, gasLimit: 3_000_000n });
    const batches: BatchMinedEvent[] = [];
    gateway.events.on("batch", (batch) => batches.push(batch));
    try {
      await until(async () => (await getBidCount(m.market)) === 8n, 60_000, "eight placements");
      await until(() => m.bidsIdle(), 10_000, "every delivery acked");
      await until(() => batches.reduce((sum, batch) => sum + batch.placed, 0) === 8 || undefined, 10_000, "the transaction reports");
      expect(gateway.counters()).toMatchObject({ bidsPlaced: 8, rejected: 0, duplicates: 0 });
      expect(Math.max(...batches.map((batch) => batch.bids))).toBeLessThan(4);
    } finally {
      await gateway.stop();
      await m.cleanup();
    }
  });
});
