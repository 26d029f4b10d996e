// Integration (real nats-server, EDR chain, pairings): a batch larger than `txMaxBids` goes out as several pipelined
// transactions (consecutive nonces, consecutive blocks, each bid placed once), also when one of them runs out of gas.
import { describe, expect, it } from "vitest";
import { getBidCount } from "../../contracts/client/index.ts";
import type { BatchMinedEvent } from "../../actors/gateway/submitter.ts";
import type { GatewayRuntime, GatewayRuntimeOptions } from "../../actors/gateway/runtime.ts";
import { createMarket, environmentPerFile, until, type Environment, type Market } from "./fixture.ts";

let env: Environment;
environmentPerFile((started) => (env = started));

/**
 * `count` resting sells published before a gateway with `overrides` starts; resolves once all are placed, acked and
 * reported, with the gateway (still running, for its counters) and its transactions' reports.
 */
async function placeAll(m: Market, count: number, overrides: Partial<GatewayRuntimeOptions>): Promise<{ gateway: GatewayRuntime; batches: BatchMinedEvent[] }> {
  const bids = await Promise.all(Array.from({ length: count }, (_, i) => m.makeBid({ side: 1, priceLevel: 1 + (i % 3) })));
  for (const made of bids) await m.publish(made.submission);
  const gateway = await m.startGateway(await m.dataDir(), overrides);
  const batches: BatchMinedEvent[] = [];
  gateway.events.on("batch", (batch) => batches.push(batch));
  try {
    await until(async () => (await getBidCount(m.market)) === BigInt(count), 60_000, `${count} placements`);
    await until(() => m.bidsIdle(), 10_000, "every delivery acked");
    await until(() => batches.reduce((sum, batch) => sum + batch.placed, 0) === count || undefined, 10_000, "the transaction reports");
  } catch (error) {
    await gateway.stop();
    throw error;
  }
  return { gateway, batches };
}

describe("gateway pipelined transactions", () => {
  it("sends one batch as several transactions of at most txMaxBids bids, in nonce order, each bid placed once", async () => {
    const m = await createMarket(env, "pipeline");
    const { gateway, batches } = await placeAll(m, 7, { txMaxBids: 2 });
    try {
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
    // Room for about two resting bids per transaction at this dimension: chunks of four do not fit.
    const { gateway, batches } = await placeAll(m, 8, { txMaxBids: 4, gasLimit: 3_000_000n });
    try {
      expect(gateway.counters()).toMatchObject({ bidsPlaced: 8, rejected: 0, duplicates: 0 });
      expect(Math.max(...batches.map((batch) => batch.bids))).toBeLessThan(4);
    } finally {
      await gateway.stop();
      await m.cleanup();
    }
  });
});
