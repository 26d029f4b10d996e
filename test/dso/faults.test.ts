// DSO runtime, unhappy paths (real nats-server, real local chain, real pairings, real SQLite file): an opening received
// before a restart is not lost, a dispute flags the trade, a meter that never opens voids it, and forged or stray
// messages get error replies (or are terminated) while the DSO keeps serving.
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TradeDisputedEvent, TradeSettledEvent, TradeVoidedEvent } from "../../actors/dso/runtime.ts";
import { publishDeduplicated } from "../../actors/nats/jetstream.ts";
import { matchEventSchema, sealedTradeMessageSchema, type Reading } from "../../protocol/wire/schemas.ts";
import { tradeIdOf } from "../../protocol/domain.ts";
import { sealTradeMessage } from "../../actors/secure/sealedRpc.ts";
import { marketSubjects } from "../../protocol/wire/subjects.ts";
import { describeDisputeClaim } from "../../protocol/reasons.ts";
import { signMessageFields } from "../../actors/secure/signed.ts";
import type { MachineConfigInput } from "../../machines/config.ts";
import { closeMarket, type DsoUnderTest, type Infra, matchBids, remoteError, setupMarket, startDso, startInfra, TEST_CONFIG, until } from "./harness.ts";

let infra: Infra;
const db = (m: { dso: DsoUnderTest }) => m.dso.runtime.db;

beforeAll(async () => {
  infra = await startInfra();
});

afterAll(async () => {
  await infra?.close();
});

const withDso = (dso: MachineConfigInput["dso"], meter: MachineConfigInput["meter"] = {}): MachineConfigInput => ({
  ...TEST_CONFIG,
  dso: { ...TEST_CONFIG.dso, ...dso },
  meter: { ...TEST_CONFIG.meter, ...meter },
});

describe("DSO runtime: unhappy paths", () => {
  it("keeps an opening received before a restart: the resumed trade verifies once the other side opens", async () => {
    const m = await setupMarket(infra, "dso-early");
    let second: DsoUnderTest | undefined;
    try {
      const { tradeId, sellBid, buyBid } = await matchBids(m, { level: 1, quantityWh: 200 }, { level: 2, quantityWh: 200 });
      expect((await m.seller.open(tradeId, sellBid)).ack.status).toBe("received");
      await m.dso.runtime.stop();
      second = await startDso(infra, "dso-early", [m.seller.provisioned, m.buyer.provisioned], { dataDir: m.dso.dataDir });
      expect(second.runtime.counters().tradesResumed).toBe(1);
      // The seller had its ack and does not resend; only the buyer opens now.
      await m.buyer.open(tradeId, buyBid);
      const terms = await until(() => m.buyer.terms(tradeId), 15_000, "terms after restart");
      expect(terms.counterpart.bidder).toBe(sellBid.bidder);
      expect(second.runtime.db.getTrade(tradeId)?.stage).toBe("termsFixed");
    } finally {
      closeMarket(m);
      await second?.runtime.stop();
      await m.dso.runtime.stop();
    }
  });

  it("flags a trade disputed within the window: not settled, both meters told, a resent dispute acknowledged", async () => {
    const m = await setupMarket(infra, "dso-dispute", withDso({ disputeWindowMs: 4_000, readingTimeoutMs: 5_000 }, { settlementTimeoutMs: 6_000 }));
    const disputed: TradeDisputedEvent[] = [];
    const settled: TradeSettledEvent[] = [];
    m.dso.runtime.events.on("trade.disputed", (event) => disputed.push(event));
    m.dso.runtime.events.on("trade.settled", (event) => settled.push(event));
    try {
      const { tradeId, sellBid, buyBid } = await matchBids(m, { level: 0, quantityWh: 500 }, { level: 3, quantityWh: 500 });
      await m.seller.open(tradeId, sellBid);
      await m.buyer.open(tradeId, buyBid);
      await until(() => m.buyer.terms(tradeId), 15_000, "terms");
      // Only a party may dispute, signed with its one-time key.
      const forged = await remoteError(m.buyer.dispute(tradeId, buyBid, "ciphertext-mismatch", Wallet.createRandom()));
      expect(forged.code).toBe("unauthorized");
      expect((await m.buyer.dispute(tradeId, buyBid, "ciphertext-mismatch")).status).toBe("recorded");
      await until(() => disputed.length > 0, 10_000, "dispute outcome");
      expect(disputed[0]).toMatchObject({ tradeId, raisedBy: buyBid.bidder });
      expect(describeDisputeClaim(disputed[0]!.dispute)).toMatch(/^ciphertext-mismatch/);
      await until(() => m.dso.runtime.db.getTrade(tradeId)?.closedAt !== null, 5_000, "trade closed");
      expect(m.dso.runtime.db.getTrade(tradeId)).toMatchObject({ stage: "disputed", dispute: { side: 0 } });
      expect(m.dso.runtime.db.ledgerEntries({ tradeId })).toEqual([]);
      for (const meter of [m.buyer, m.seller]) {
        const notice = await until(() => meter.notices("disputed")[0], 5_000, "disputed notice");
        expect(notice).toMatchObject({ type: "trade.disputed", tradeId });
      }
      expect((await m.buyer.dispute(tradeId, buyBid, "ciphertext-mismatch")).status).toBe("duplicate");
      expect(settled).toEqual([]);
    } finally {
      closeMarket(m);
      await m.dso.runtime.stop();
    }
  });

  it("voids a match whose buyer never opens and blames only the buyer", async () => {
    const m = await setupMarket(infra, "dso-silent", withDso({ openingTimeoutMs: 1_500 }, { termsTimeoutMs: 2_000 }));
    const voided: TradeVoidedEvent[] = [];
    m.dso.runtime.events.on("trade.voided", (event) => voided.push(event));
    try {
      const { tradeId, sellBid, buyBid } = await matchBids(m, { level: 2, quantityWh: 100 }, { level: 2, quantityWh: 100 });
      await m.seller.open(tradeId, sellBid);
      await until(() => voided.length > 0, 10_000, "void on timeout");
      expect(voided[0]).toMatchObject({ tradeId, reason: "openingTimeout", blamedBidders: [buyBid.bidder] });
      const notice = await until(() => m.seller.notices("voided")[0], 5_000, "seller's notice");
      expect(notice).toMatchObject({ reason: "openingTimeout", blamedBidders: [buyBid.bidder] });
      // Too late: the window is closed and the trade is over.
      const late = await remoteError(m.buyer.open(tradeId, buyBid));
      expect(late.code).toBe("not-found");
      expect(m.dso.runtime.db.getTrade(tradeId)).toMatchObject({ stage: "voided", voidReason: "openingTimeout" });
    } finally {
      closeMarket(m);
      await m.dso.runtime.stop();
    }
  });

  it("refuses openings for unknown trades or from non-parties, terminates forged readings, and keeps serving", async () => {
    const m = await setupMarket(infra, "dso-stray");
    try {
      const { tradeId, sellBid, buyBid } = await matchBids(m, { level: 0, quantityWh: 100 }, { level: 1, quantityWh: 100 });
      const unknown = await remoteError(m.seller.open(`0x${"12".repeat(32)}`, sellBid));
      expect(unknown.code).toBe("not-found");
      expect(unknown.reply.message).toBe("unknownMatch");
      // A bid of another trade cannot open this one.
      const stranger = await m.seller.makeBid(1, 0, 50, m.contract);
      const notParty = await remoteError(m.seller.open(tradeId, stranger));
      expect(notParty.code).toBe("unauthorized");

      // A reading signed by someone else than the bidder is terminated, not stored.
      const s = marketSubjects("dso-stray");
      const forged = signMessageFields<Reading>(
        { type: "reading", tradeId: tradeId as `0x${string}`, bidder: sellBid.bidder, side: 1, energyWh: 100, measuredAt: Date.now() },
        Wallet.createRandom(),
        s.meter.reading,
      );
      const intruder = Wallet.createRandom();
      const dsoKey = { wallet: intruder, recipientPublicKey: m.seller.dsoPublicKey() };
      await publishDeduplicated(infra.client.js, s.meter.reading, sealedTradeMessageSchema, sealTradeMessage(s.meter.reading, tradeId, forged, dsoKey), "forged-reading");
      await until(() => m.dso.runtime.counters().readingsRejected >= 1, 10_000, "forged reading rejected");
      // Sealed to another key than the DSO's: unreadable, terminated too.
      const elsewhere = { wallet: intruder, recipientPublicKey: Wallet.createRandom().signingKey.publicKey };
      await publishDeduplicated(infra.client.js, s.meter.reading, sealedTradeMessageSchema, sealTradeMessage(s.meter.reading, tradeId, forged, elsewhere), "unreadable-reading");
      await until(() => m.dso.runtime.counters().readingsRejected >= 2, 10_000, "unreadable reading rejected");
      expect(m.dso.runtime.db.readingsOf(tradeId)).toEqual({});

      // A match notice for a Matched log the chain does not hold (real transaction, other bidders) starts no trade.
      const realTx = db(m).getTrade(tradeId)!.matchKey.split(":")[2] as `0x${string}`;
      const forgedMatch = { type: "market.matched" as const, buyId: stranger.bidder, sellId: buyBid.bidder, txHash: realTx, blockNumber: 1, logIndex: 0, observedAt: Date.now() };
      await publishDeduplicated(infra.client.js, s.market.matched, matchEventSchema, forgedMatch, "forged-match");
      await until(() => m.dso.runtime.counters().matchesRefused >= 1, 10_000, "forged match refused");
      expect(db(m).getTrade(tradeIdOf(forgedMatch))).toBeUndefined();

      // The trade itself still goes through.
      await m.seller.open(tradeId, sellBid);
      await m.buyer.open(tradeId, buyBid);
      await until(() => m.seller.terms(tradeId), 15_000, "terms");
      await m.seller.reportReading(infra.client.js, tradeId, sellBid, 100);
      await m.buyer.reportReading(infra.client.js, tradeId, buyBid, 100);
      await until(() => m.dso.runtime.db.getTrade(tradeId)?.stage === "settled", 15_000, "settled");
    } finally {
      closeMarket(m);
      await m.dso.runtime.stop();
    }
  });
});
