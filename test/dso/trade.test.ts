// DSO runtime, trading stage (real nats-server, real local chain, real pairings, real SQLite file): two bids placed
// on chain by the test, the match on the matches stream, sealed openings, terms, readings, double-entry settlement;
// a forged opening voids and blames its side; a DSO stopped mid-trade resumes it from its data directory.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MSK_FILE_NAME } from "../../actors/dso/masterKey.ts";
import type { TradeSettledEvent, TradeVoidedEvent } from "../../actors/dso/runtime.ts";
import { Wallet } from "ethers";
import { openTradeMessage } from "../../actors/secure/sealedRpc.ts";
import { sealedTradeMessageSchema, settlementSchema } from "../../protocol/wire/schemas.ts";
import { streamNames } from "../../protocol/wire/subjects.ts";
import {
  closeMarket,
  matchBids,
  readSpans,
  setupMarket,
  startDso,
  startInfra,
  until,
  type DsoUnderTest,
  type Infra,
} from "./harness.ts";

let infra: Infra;

beforeAll(async () => {
  infra = await startInfra();
});

afterAll(async () => {
  await infra?.close();
});

const market = (marketId: string) => setupMarket(infra, marketId);
const match = matchBids;
const close = closeMarket;

describe("DSO runtime: trades", () => {
  it("verifies both openings, sends sealed terms with the counterpart's opening, and settles double-entry", async () => {
    const m = await market("dso-trade");
    const settled: TradeSettledEvent[] = [];
    m.dso.runtime.events.on("trade.settled", (event) => settled.push(event));
    try {
      const { tradeId, sellBid, buyBid } = await match(m, { level: 1, quantityWh: 1_000 }, { level: 3, quantityWh: 600 });
      const sellerOpening = await m.seller.open(tradeId, sellBid);
      const buyerOpening = await m.buyer.open(tradeId, buyBid);
      expect(sellerOpening.ack).toMatchObject({ status: "received", bidder: sellBid.bidder });
      expect(buyerOpening.ack.status).toBe("received");
      // Sent again (a lost ack): acknowledged as a duplicate, nothing changes.
      expect((await m.buyer.open(tradeId, buyBid)).ack.status).toBe("duplicate");

      const buyerTerms = await until(() => m.buyer.terms(tradeId), 15_000, "buyer's terms");
      const sellerTerms = await until(() => m.seller.terms(tradeId), 15_000, "seller's terms");
      // Levels 1 and 3 of 100 000 + 10 000·i µ/kWh: midpoint 120 000; quantity min(600, 1000).
      expect(buyerTerms).toMatchObject({ side: 0, bidder: buyBid.bidder, terms: { buyLevel: 3, sellLevel: 1, priceMicroPerKWh: 120_000, quantityWh: 600 } });
      expect(buyerTerms.counterpart).toEqual({
        bidder: sellBid.bidder,
        opening: {
          priceLevel: 1,
          quantityWh: 1_000,
          salt: sellBid.built.opening.salt,
          alpha: sellBid.built.opening.alpha.toString(),
          beta: sellBid.built.opening.beta.toString(),
        },
      });
      expect(sellerTerms).toMatchObject({ side: 1, bidder: sellBid.bidder, counterpart: { bidder: buyBid.bidder } });
      // Never the counterpart's identity: no permanent id anywhere in what a meter receives.
      expect(JSON.stringify(buyerTerms)).not.toContain(m.seller.meterId);
      expect(JSON.stringify(m.buyer.inbox)).not.toContain(m.seller.meterId);
      expect(m.dso.runtime.db.getTrade(tradeId)).toMatchObject({ stage: "termsFixed", buyerMeterId: m.buyer.meterId, sellerMeterId: m.seller.meterId });

      // Delivery: the seller fed 500 of 600 Wh.
      await m.seller.reportReading(infra.client.js, tradeId, sellBid, 500);
      await m.buyer.reportReading(infra.client.js, tradeId, buyBid, 500);
      await until(() => settled.length > 0, 15_000, "settlement");
      expect(settled[0]).toMatchObject({ tradeId, buyerMeterId: m.buyer.meterId, sellerMeterId: m.seller.meterId });
      expect(settled[0]?.settlement).toMatchObject({ quantityWh: 600, deliveredWh: 500, shortfallWh: 100, priceMicroPerKWh: 120_000 });

      const db = m.dso.runtime.db;
      await until(() => db.getTrade(tradeId)?.closedAt !== null, 5_000, "trade closed");
      expect(db.getTrade(tradeId)?.stage).toBe("settled");
      const entries = db.ledgerEntries({ tradeId });
      expect(entries.reduce((sum, entry) => sum + entry.amountMicro, 0)).toBe(0);
      expect(db.ledgerTotal()).toBe(0);
      expect(db.unbalancedTrades()).toEqual([]);
      for (const bill of db.bills()) {
        expect(bill.totalMicro).toBe(bill.entries.reduce((sum, entry) => sum + entry.amountMicro, 0));
      }
      // Energy 500 Wh × 120 000 µ/kWh = 60 000 µ; shortfall 100 Wh at retail 300 000 (30 000) and imbalance 200 000
      // (20 000); fee 500 Wh × 20 000 = 10 000 paid by the buyer.
      const buyerBill = db.bills().find((bill) => bill.meterId === m.buyer.meterId);
      const sellerBill = db.bills().find((bill) => bill.meterId === m.seller.meterId);
      expect(buyerBill?.totalMicro).toBe(-(60_000 + 30_000 + 10_000));
      expect(sellerBill?.totalMicro).toBe(60_000 - 20_000);

      // Each meter is told its own lines; the settlement goes to the settlements stream.
      const buyerNotice = await until(() => m.buyer.notices("settled")[0], 5_000, "buyer's notice");
      expect(buyerNotice).toMatchObject({ tradeId, bidder: buyBid.bidder, netMicro: -100_000, deliveredWh: 500, quantityWh: 600 });
      const sellerNotice = await until(() => m.seller.notices("settled")[0], 5_000, "seller's notice");
      expect(sellerNotice).toMatchObject({ bidder: sellBid.bidder, netMicro: 40_000 });
      const jsm = await jetstreamManager(infra.client.nc);
      const stored = await jsm.streams.getMessage(streamNames("dso-trade").settlements, { last_by_subj: "gridveil.dso-trade.dso.settled" });
      // Sealed to the DSO's own key: nothing of it in clear on the stream.
      expect(stored?.string()).not.toMatch(/deliveredWh|postings|meter:/);
      const sealedSettlement = sealedTradeMessageSchema.parse(stored?.json());
      const settlement = openTradeMessage(
        "gridveil.dso-trade.dso.settled",
        sealedSettlement,
        settlementSchema,
        (payload) => payload.tradeId,
        infra.chain.accountKeys[0] as string,
        m.dso.runtime.dso.address,
      ).payload;
      expect(settlement).toMatchObject({ tradeId, deliveredWh: 500, shortfallWh: 100 });
      expect(m.dso.runtime.counters()).toMatchObject({ settled: 1, tradesStarted: 1, tradesInFlight: 0 });

      // Tracing: one dso.trade span linking both bid sessions, its steps as children, nothing secret in attributes.
      const spans = await until(async () => {
        const all = await readSpans(infra);
        return all.some((span) => span.name === "dso.trade" && span.attributes["gridveil.trade.id"] === tradeId) ? all : undefined;
      }, 5_000, "trade span");
      const tradeSpan = spans.find((span) => span.name === "dso.trade" && span.attributes["gridveil.trade.id"] === tradeId)!;
      expect(tradeSpan.service).toBe("gridveil-dso");
      expect(tradeSpan.attributes["gridveil.trade.outcome"]).toBe("settled");
      expect(tradeSpan.links.map((link) => link.spanId).sort()).toEqual(
        [sellerOpening.span.spanContext().spanId, buyerOpening.span.spanContext().spanId].sort(),
      );
      expect(tradeSpan.events.some((event) => event.name === "machine.transition" && event.attributes.to === "settled")).toBe(true);
      const children = spans.filter((span) => span.parentSpanId === tradeSpan.spanId).map((span) => span.name);
      expect(children.filter((name) => name === "dso.verify")).toHaveLength(2);
      expect(children.filter((name) => name === "dso.terms")).toHaveLength(2);
      expect(children).toContain("dso.settlement");
      const openings = spans.filter((span) => span.name === "dso.opening" && span.attributes["gridveil.trade.id"] === tradeId);
      expect(openings.map((span) => span.parentSpanId)).toContain(buyerOpening.span.spanContext().spanId);
      const readings = spans.filter((span) => span.name === "dso.reading" && span.attributes["gridveil.trade.id"] === tradeId);
      expect(readings).toHaveLength(2);
      const settlementSpan = spans.find((span) => span.name === "dso.settlement" && span.parentSpanId === tradeSpan.spanId)!;
      expect(settlementSpan.attributes).toMatchObject({ "gridveil.settlement.postings": entries.length, "gridveil.trade.status": "settled" });
      const secrets = [sellBid, buyBid].flatMap((bid) => [bid.built.opening.salt, bid.built.opening.alpha.toString(), bid.built.opening.beta.toString()]);
      const dsoSpans = JSON.stringify(spans.filter((span) => span.service === "gridveil-dso"));
      for (const secret of secrets) expect(dsoSpans).not.toContain(secret);
      for (const span of spans.filter((one) => one.service === "gridveil-dso"))
        expect(Object.keys(span.attributes).filter((key) => /price|quantity|level|salt|alpha|beta|msk|key/i.test(key))).toEqual([]);
    } finally {
      close(m);
      await m.dso.runtime.stop();
    }
  });

  it("voids a match whose seller's opening does not verify, blames the seller, and tells both meters", async () => {
    const m = await market("dso-forged");
    const voided: TradeVoidedEvent[] = [];
    m.dso.runtime.events.on("trade.voided", (event) => voided.push(event));
    try {
      const { tradeId, sellBid, buyBid } = await match(m, { level: 2, quantityWh: 400 }, { level: 2, quantityWh: 400 });
      // The seller claims a lower price level than it encrypted: the re-encryption does not reproduce the chain's.
      await m.seller.open(tradeId, sellBid, (opening) => ({ ...opening, priceLevel: 0 }));
      await m.buyer.open(tradeId, buyBid);
      await until(() => voided.length > 0, 15_000, "void");
      expect(voided[0]).toMatchObject({ tradeId, reason: "openingInvalid", blamedBidders: [sellBid.bidder] });
      expect(m.dso.runtime.db.getTrade(tradeId)).toMatchObject({ stage: "voided", voidReason: "openingInvalid" });
      expect(m.dso.runtime.db.ledgerEntries({ tradeId })).toEqual([]);
      for (const meter of [m.buyer, m.seller]) {
        const notice = await until(() => meter.notices("voided")[0], 5_000, "voided notice");
        expect(notice).toMatchObject({ type: "trade.voided", tradeId, reason: "openingInvalid", blamedBidders: [sellBid.bidder] });
      }
      expect(m.buyer.terms(tradeId)).toBeUndefined();
      const verify = (await readSpans(infra)).filter((span) => span.name === "dso.verify" && span.attributes["gridveil.trade.id"] === tradeId);
      expect(verify.map((span) => span.attributes["gridveil.opening.valid"]).sort()).toEqual([false, true]);
      expect(verify.find((span) => span.attributes["gridveil.opening.valid"] === false)?.attributes["gridveil.reason"]).toBe("commitment-mismatch");
    } finally {
      close(m);
      await m.dso.runtime.stop();
    }
  });

  it("stopped with a trade in flight and restarted on the same data directory, resumes and settles it", async () => {
    const m = await market("dso-restart");
    let second: DsoUnderTest | undefined;
    try {
      const { tradeId, sellBid, buyBid } = await match(m, { level: 0, quantityWh: 300 }, { level: 1, quantityWh: 300 });
      await m.seller.open(tradeId, sellBid);
      await m.buyer.open(tradeId, buyBid);
      await until(() => m.buyer.terms(tradeId) && m.seller.terms(tradeId), 15_000, "terms");
      const mskBefore = await readFile(join(m.dso.dataDir, MSK_FILE_NAME));
      const contractBefore = m.dso.runtime.market.contractAddress;
      // One reading arrives before the stop, one after the restart.
      await m.seller.reportReading(infra.client.js, tradeId, sellBid, 300);
      await until(() => m.dso.runtime.db.readingsOf(tradeId).sell, 10_000, "seller's reading stored");
      await m.dso.runtime.stop();
      await m.dso.runtime.stop(); // idempotent

      second = await startDso(infra, "dso-restart", [m.seller.provisioned, m.buyer.provisioned], { dataDir: m.dso.dataDir });
      const settled: TradeSettledEvent[] = [];
      second.runtime.events.on("trade.settled", (event) => settled.push(event));
      expect(second.runtime.market.contractAddress).toBe(contractBefore);
      expect(await readFile(join(m.dso.dataDir, MSK_FILE_NAME))).toEqual(mskBefore);
      expect(second.runtime.counters().tradesResumed).toBe(1);

      await m.buyer.reportReading(infra.client.js, tradeId, buyBid, 300);
      await until(() => settled.length > 0, 15_000, "settlement after restart");
      expect(settled[0]?.settlement).toMatchObject({ quantityWh: 300, deliveredWh: 300, buyReadingWh: 300, sellReadingWh: 300 });
      const db = second.runtime.db;
      await until(() => db.getTrade(tradeId)?.closedAt !== null, 5_000, "trade closed");
      expect(db.getTrade(tradeId)?.stage).toBe("settled");
      expect(db.ledgerTotal()).toBe(0);
      // Enrolled meters keep working with the restarted DSO: a new ticket under the same contract.
      expect((await m.buyer.ticket(Wallet.createRandom(), 0)).type).toBe("ticket.reply");
    } finally {
      close(m);
      await second?.runtime.stop();
      await m.dso.runtime.stop();
    }
  });
});
