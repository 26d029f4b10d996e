// The DSO reconciles with the chain (real nats-server, real local chain, real pairings, real SQLite file): a match
// whose notice never reaches the DSO over NATS is found in the market's Matched logs, recorded, and settled like any
// other; a match that did come over NATS is not recorded twice.
import { JsonRpcProvider } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TradeSettledEvent } from "../../actors/dso/runtime.ts";
import { CHAIN_MATCHES_CURSOR } from "../../actors/dso/chainMatches.ts";
import { closeMarket, matchBids, setupMarket, startInfra, until, type Infra } from "./harness.ts";

let infra: Infra;

beforeAll(async () => {
  infra = await startInfra();
});

afterAll(async () => {
  await infra?.close();
});

describe("DSO runtime: matches from the chain", () => {
  it("settles a match whose notice was lost, once, and records a noticed one only once", async () => {
    const m = await setupMarket(infra, "dso-chain-matches");
    const settled: TradeSettledEvent[] = [];
    m.dso.runtime.events.on("trade.settled", (event) => settled.push(event));
    try {
      // The notice is dropped on purpose: only the chain knows of this match.
      const lost = await matchBids(m, { level: 1, quantityWh: 1_000 }, { level: 3, quantityWh: 600 }, { dropNotice: true });
      expect(m.dso.runtime.counters()).toMatchObject({ matchesReceived: 0, matchesFromChain: 1 });
      await m.seller.open(lost.tradeId, lost.sellBid);
      await m.buyer.open(lost.tradeId, lost.buyBid);
      await until(() => m.buyer.terms(lost.tradeId), 15_000, "buyer's terms");
      await until(() => m.seller.terms(lost.tradeId), 15_000, "seller's terms");
      await m.seller.reportReading(infra.client.js, lost.tradeId, lost.sellBid, 600);
      await m.buyer.reportReading(infra.client.js, lost.tradeId, lost.buyBid, 600);
      await until(() => settled.some((event) => event.tradeId === lost.tradeId), 15_000, "the lost match's settlement");
      expect(m.dso.runtime.db.getTrade(lost.tradeId)).toMatchObject({ stage: "settled" });

      // A match that did come as a notice: the chain read finds it known and leaves it alone.
      const noticed = await matchBids(m, { level: 0, quantityWh: 500 }, { level: 2, quantityWh: 500 });
      const provider = new JsonRpcProvider(infra.chain.rpcUrl, undefined, { staticNetwork: true });
      const head = await provider.getBlockNumber().finally(() => provider.destroy());
      const cursor = () => (m.dso.runtime.db.getSetting(CHAIN_MATCHES_CURSOR) as { nextBlock: number } | undefined)?.nextBlock ?? 0;
      await until(() => (cursor() > head ? true : undefined), 10_000, "the chain read past the noticed match");
      expect(m.dso.runtime.counters()).toMatchObject({ matchesReceived: 1, matchesFromChain: 1 });
      expect(m.dso.runtime.db.listTrades().filter((trade) => trade.tradeId === noticed.tradeId)).toHaveLength(1);
    } finally {
      closeMarket(m);
      await m.dso.runtime.stop();
    }
  });
});
