// Integration (real nats-server with JetStream, real EDR chain, real pairings): the meter runtime against minimal DSO
// and gateway stand-ins (test/meter/harness.ts) — enrolment, bids, openings, counterpart checks, re-bids, faults.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BidStatus, getBid, getBidIdOf } from "../../contracts/client/index.ts";
import { sealTradeMessage } from "../../actors/secure/sealedRpc.ts";
import { Wallet } from "ethers";
import type { MeterRuntime } from "../../actors/meter/runtime.ts";
import type { BidSessionSnapshot } from "../../machines/bidSession.ts";
import { LEVELS, createTestMarket, startEnvironment, until, type Environment, type TestMarket } from "./harness.ts";
import { type Address, type Hex } from "../../protocol/base/hex.ts";
import { publishDeduplicated } from "../../actors/nats/jetstream.ts";
import { matchEventSchema } from "../../protocol/wire/schemas.ts";

let env: Environment;

beforeAll(async () => {
  env = await startEnvironment();
});

afterAll(async () => {
  await env?.close();
});

async function withMarket(run: (market: TestMarket) => Promise<void>, options: Parameters<typeof createTestMarket>[1] = {}) {
  const market = await createTestMarket(env, options);
  try {
    await run(market);
  } finally {
    await market.close();
  }
}

const outcomesOf = (meter: MeterRuntime) => meter.actor.getSnapshot().context.outcomes;
const runningSessions = (meter: MeterRuntime) => Object.values(meter.actor.getSnapshot().context.sessions);
/** The opening a running session holds (what its bid was encrypted from). */
function openingOfSession(meter: MeterRuntime, sessionId: string) {
  const child = meter.actor.getSnapshot().children[sessionId] as { getSnapshot(): BidSessionSnapshot } | undefined;
  return child?.getSnapshot().context.opening ?? null;
}

describe("meter runtime", () => {
  it("enrols and its bid reaches the bids stream with a valid ticket and bidder signature (the contract places it)", async () => {
    await withMarket(async (market) => {
      const meter = await market.startMeter("pv-1", [{ planId: "p1", side: "sell", priceLevel: 1, quantityWh: 800 }]);
      const { inboxId, market: description } = await meter.enrolled;
      expect(inboxId).toBe("inbox-pv-1");
      expect(description).toMatchObject({ fhipe: { dimension: LEVELS + 1 }, contractAddress: market.description.contractAddress });

      const bidder = await until(() => market.gateway.placed[0], 20_000, "bid placed on chain");
      const submission = market.gateway.submissionOf(bidder);
      expect(submission.msgId).toBe(bidder); // PROTOCOL §6: deduplicated by the bidder
      expect(market.dso.ticketsIssued).toContain(bidder);
      expect(submission.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      // Nothing in clear: the submission carries no level, quantity or meter id.
      const wire = JSON.stringify(submission);
      expect(wire).not.toMatch(/priceLevel|quantityWh|pv-1/);
      const bidId = await getBidIdOf(market.handle, bidder);
      expect(bidId).toBeDefined();
      const onChain = await getBid(market.handle, bidId as bigint);
      expect(onChain).toMatchObject({ side: 1, status: BidStatus.Open, commitment: submission.commitment });
      await until(() => meter.counters().bids === 1);
      expect(runningSessions(meter)[0]).toMatchObject({ planId: "p1", bidder });
    });
  });

  it("a matched pair opens sealed to the DSO (openings verify against the chain), checks the terms, reports readings and settles; every step is traced", async () => {
    await withMarket(async (market) => {
      const seller = await market.startMeter("pv-2", [{ planId: "s", side: "sell", priceLevel: 1, quantityWh: 1_000 }]);
      const buyer = await market.startMeter("flat-2", [{ planId: "b", side: "buy", priceLevel: 3, quantityWh: 1_000 }]);
      await until(() => market.dso.openings.length === 2, 30_000, "both openings");
      for (const opening of market.dso.openings) {
        expect(opening.check).toEqual({ ok: true });
        expect(opening.traceparent).toBeDefined();
      }
      await until(() => seller.counters().settled === 1 && buyer.counters().settled === 1, 30_000, "both settled");
      for (const [meter, side] of [
        [seller, 1],
        [buyer, 0],
      ] as const) {
        const [record] = outcomesOf(meter);
        expect(record?.outcome).toMatchObject({ kind: "settled", filledWh: 1_000, remainderWh: 0, measuredWh: 1_000 });
        const settlement = record?.outcome.kind === "settled" ? record.outcome.settlement : null;
        // Midpoint of levels 1 and 3: (110 000 + 130 000) / 2 µ/kWh.
        expect(settlement).toMatchObject({ quantityWh: 1_000, deliveredWh: 1_000, shortfallWh: 0, priceMicroPerKWh: 120_000 });
        expect(market.dso.readings.find((r) => r.side === side)?.energyWh).toBe(1_000);
      }
      expect(market.dso.disputes).toHaveLength(0);
      expect(seller.counters()).toMatchObject({ bids: 1, fills: 1, settled: 1, rebids: 0, voids: 0, disputes: 0 });
      // The notice came first: nothing was taken from the chain.
      expect(seller.counters().eventsFromChain).toBe(0);
      expect(buyer.counters().eventsFromChain).toBe(0);

      // Traces: one trace per bid rooted at meter.bid, every step a child of it, transitions recorded.
      const all = await market.spans();
      const names = new Set(all.map((span) => span.name));
      for (const name of [
        "meter.enrol",
        "meter.bid",
        "meter.ticket",
        "meter.encrypt",
        "meter.submit",
        "meter.match",
        "meter.opening",
        "meter.verify",
        "meter.delivery",
        "meter.reading",
        "meter.settled",
      ])
        expect(names, name).toContain(name);
      const bids = all.filter((span) => span.name === "meter.bid");
      expect(bids).toHaveLength(2);
      for (const bid of bids) {
        expect(bid.parentSpanId).toBeNull();
        expect(bid.attributes["gridveil.bid.outcome"]).toBe("settled");
        expect(bid.events.filter((event) => event.name === "machine.transition").length).toBeGreaterThan(8);
        const steps = all.filter((span) => span.traceId === bid.traceId && span.name !== "meter.bid");
        expect(steps.length).toBeGreaterThanOrEqual(9);
        for (const step of steps) expect(step.parentSpanId).toBe(bid.spanId);
      }
      expect(new Set(bids.map((bid) => bid.traceId)).size).toBe(2);
      // The submission and the opening carry the context of their own spans in the NATS headers.
      const submits = all.filter((span) => span.name === "meter.submit").map((span) => span.spanId);
      for (const submission of market.gateway.submissions) expect(submits).toContain(submission.traceparent?.split("-")[2]);
      const openings = all.filter((span) => span.name === "meter.opening").map((span) => span.spanId);
      for (const opening of market.dso.openings) expect(openings).toContain(opening.traceparent?.split("-")[2]);
      // No secret in any attribute: no salt, α, β, level or quantity.
      const attributes = JSON.stringify(all.map((span) => [span.attributes, span.events.map((event) => event.attributes)]));
      for (const opening of market.dso.openings) {
        expect(attributes).not.toContain(opening.opening.salt.slice(2));
        expect(attributes).not.toContain(opening.opening.alpha);
        expect(attributes).not.toContain(opening.opening.beta);
      }
      expect(attributes).not.toMatch(/price|quantity|salt|alpha|beta|msk|"1000"|:1000[,}]/i);
    });
  });

  it("takes a match whose notice never arrives from the chain: both sides open, trade and settle once", async () => {
    await withMarket(async (market) => {
      market.gateway.dropMatchNotices = true;
      const fast = { chainReconcileIntervalMs: 300 };
      const seller = await market.startMeter("pv-lost", [{ planId: "s", side: "sell", priceLevel: 1, quantityWh: 800 }], fast);
      const buyer = await market.startMeter("flat-lost", [{ planId: "b", side: "buy", priceLevel: 2, quantityWh: 800 }], fast);
      await until(() => seller.counters().settled === 1 && buyer.counters().settled === 1, 30_000, "both settled without a match notice");
      expect(market.dso.openings).toHaveLength(2);
      for (const meter of [seller, buyer]) {
        expect(meter.counters()).toMatchObject({ fills: 1, settled: 1, voids: 0, eventsFromChain: 1 });
        expect(outcomesOf(meter)[0]?.outcome).toMatchObject({ kind: "settled", filledWh: 800 });
      }
    });
  });

  it("detects a forged counterpart opening sent by the DSO and reports a dispute; the counterpart re-bids after the disputed notice", async () => {
    await withMarket(
      async (market) => {
        const seller = await market.startMeter("pv-3", [{ planId: "s", side: "sell", priceLevel: 0, quantityWh: 700 }]);
        const buyer = await market.startMeter("flat-3", [{ planId: "b", side: "buy", priceLevel: 2, quantityWh: 700 }]);
        const dispute = await until(() => market.dso.disputes[0], 30_000, "dispute");
        const buyBidder = outcomesOf(buyer)[0]?.bidder ?? (await until(() => outcomesOf(buyer)[0]?.bidder));
        expect(dispute).toMatchObject({ bidder: buyBidder, code: "commitment-mismatch" });
        expect(dispute.auth.signer).toBe(buyBidder); // signed by the bid's one-time key
        await until(() => outcomesOf(buyer).length === 1);
        expect(outcomesOf(buyer)[0]?.outcome).toMatchObject({ kind: "disputed", raisedBy: "self" });
        expect(market.dso.readings.filter((r) => r.side === 0)).toHaveLength(0);

        // The DSO tells the seller the trade is disputed: not settled, so it re-bids its whole quantity, under a new id.
        const sellBidder = market.dso.openings.find((o) => o.side === 1)?.bidder as Address;
        market.dso.sendDisputed(dispute.tradeId, sellBidder, "commitment-mismatch");
        await until(() => outcomesOf(seller).length === 1, 10_000, "seller's session ended");
        expect(outcomesOf(seller)[0]?.outcome).toMatchObject({ kind: "disputed", raisedBy: "counterpart" });
        const rebid = await until(() => runningSessions(seller).find((s) => s.attempt === 2 && s.bidder), 20_000, "re-bid");
        expect(rebid).toMatchObject({ planId: "s", quantityWh: 700 });
        expect(rebid.bidder).not.toBe(sellBidder);
        await until(() => market.gateway.submissions.some((s) => s.bidder === rebid.bidder), 20_000, "re-bid submitted");
        expect(buyer.counters().disputes).toBe(1);
        const spans = await market.spans();
        expect(spans.some((span) => span.name === "meter.dispute" && span.attributes["gridveil.reason"] === "commitment-mismatch")).toBe(true);
      },
      { dso: { forgeCounterpartFor: 0, autoSettle: false } },
    );
  });

  it("a partial fill re-bids its remainder under a new one-time id", async () => {
    await withMarket(async (market) => {
      const seller = await market.startMeter("pv-4", [{ planId: "s", side: "sell", priceLevel: 1, quantityWh: 1_000 }]);
      const buyer = await market.startMeter("flat-4", [{ planId: "b", side: "buy", priceLevel: 2, quantityWh: 600 }]);
      await until(() => outcomesOf(seller).length === 1 && outcomesOf(buyer).length === 1, 30_000, "first trade settled");
      const first = outcomesOf(seller)[0];
      expect(first?.outcome).toMatchObject({ kind: "settled", filledWh: 600, remainderWh: 400 });
      const rebid = await until(() => runningSessions(seller).find((s) => s.attempt === 2 && s.bidder), 20_000, "re-bid");
      expect(rebid).toMatchObject({ planId: "s", quantityWh: 400 });
      expect(rebid.bidder).not.toBe(first?.bidder);
      // The remainder is what the new bid encrypts and commits to, and it is on chain under the new id.
      expect(await until(() => openingOfSession(seller, rebid.sessionId), 20_000, "re-bid encrypted")).toMatchObject({
        priceLevel: 1,
        quantityWh: 400,
      });
      await until(() => market.gateway.placed.includes(rebid.bidder as Address), 20_000, "re-bid placed");
      expect(seller.counters()).toMatchObject({ fills: 1, rebids: 1, bids: 2 });
      expect(buyer.counters()).toMatchObject({ fills: 1, rebids: 0 });
    });
  });

  it("a voided notice makes the unblamed side re-bid its whole quantity with a new id; the blamed side abandons", async () => {
    await withMarket(
      async (market) => {
        const seller = await market.startMeter("pv-5", [{ planId: "s", side: "sell", priceLevel: 1, quantityWh: 500 }]);
        const buyer = await market.startMeter("flat-5", [{ planId: "b", side: "buy", priceLevel: 3, quantityWh: 900 }]);
        await until(() => market.dso.openings.length === 2, 30_000, "openings");
        const [tradeId] = [...market.dso.trades.keys()] as Hex[];
        const sellBidder = market.dso.openings.find((o) => o.side === 1)?.bidder as Address;
        const buyBidder = market.dso.openings.find((o) => o.side === 0)?.bidder as Address;
        market.dso.sendVoided(tradeId as Hex, sellBidder, "openingTimeout", [buyBidder]);
        market.dso.sendVoided(tradeId as Hex, buyBidder, "openingTimeout", [buyBidder]);
        await until(() => outcomesOf(seller).length === 1 && outcomesOf(buyer).length === 1, 10_000, "voided");
        expect(outcomesOf(seller)[0]?.outcome).toMatchObject({ kind: "voided", reason: "openingTimeout", blamedSelf: false });
        expect(outcomesOf(buyer)[0]?.outcome).toMatchObject({ kind: "voided", blamedSelf: true });
        const rebid = await until(() => runningSessions(seller).find((s) => s.attempt === 2 && s.bidder), 20_000, "re-bid");
        expect(rebid).toMatchObject({ planId: "s", quantityWh: 500 });
        expect(rebid.bidder).not.toBe(sellBidder);
        expect(await until(() => openingOfSession(seller, rebid.sessionId), 20_000, "re-bid encrypted")).toMatchObject({ quantityWh: 500 });
        await until(() => market.gateway.placed.includes(rebid.bidder as Address), 20_000, "re-bid placed");
        expect(buyer.actor.getSnapshot().context.abandoned).toHaveLength(1);
        expect(runningSessions(buyer)).toHaveLength(0);
        expect(seller.counters()).toMatchObject({ voids: 1, rebids: 1 });
      },
      { dso: { autoTerms: false } },
    );
  });

  it("faults: a forged opening fails the DSO's check, a withheld one never arrives; each meter takes the blame the DSO's void gives it", async () => {
    await withMarket(
      async (market) => {
        const seller = await market.startMeter("pv-6", [{ planId: "s", side: "sell", priceLevel: 0, quantityWh: 300 }], {
          faults: { forgeOpening: true },
        });
        const buyer = await market.startMeter("flat-6", [{ planId: "b", side: "buy", priceLevel: 3, quantityWh: 300 }], {
          faults: { neverOpen: true },
        });
        const forged = await until(() => market.dso.openings[0], 30_000, "seller's opening");
        expect(forged.side).toBe(1);
        expect(forged.check).toMatchObject({ ok: false, reason: "ciphertext-mismatch" });
        await new Promise((resolve) => setTimeout(resolve, 500));
        expect(market.dso.openings).toHaveLength(1); // the buyer withholds its opening
        const tradeId = forged.tradeId;
        const buyBidder = [...market.dso.trades.values()][0]?.buyId as Address;
        // As the DSO decides them: the forger is blamed for the invalid opening, the silent buyer for the timeout.
        market.dso.sendVoided(tradeId, forged.bidder, "openingInvalid", [forged.bidder]);
        market.dso.sendVoided(tradeId, buyBidder, "openingTimeout", [buyBidder]);
        await until(() => outcomesOf(seller).length === 1 && outcomesOf(buyer).length === 1, 10_000, "voided");
        expect(outcomesOf(seller)[0]?.outcome).toMatchObject({ kind: "voided", reason: "openingInvalid", blamedSelf: true });
        expect(outcomesOf(buyer)[0]?.outcome).toMatchObject({ kind: "voided", reason: "openingTimeout", blamedSelf: true });
        expect(seller.actor.getSnapshot().context.abandoned).toHaveLength(1);
        expect(buyer.actor.getSnapshot().context.abandoned).toHaveLength(1);
      },
      { dso: { autoTerms: false } },
    );
  });

  it("malformed, unsigned or foreign messages on the meter's inbox are refused and the meter keeps trading", async () => {
    await withMarket(async (market) => {
      const seller = await market.startMeter("pv-7", [], {});
      const { inboxId } = await seller.enrolled;
      const s = market.subjects;
      const { nc } = market.clients;
      const encoder = new TextEncoder();
      // Garbage, and a request so the error reply can be read.
      nc.publish(s.meter.trade(inboxId), encoder.encode("{not json"));
      const reply = await nc.request(s.meter.voided(inboxId), encoder.encode(JSON.stringify({ type: "trade.voided", tradeId: "0x12" })), {
        timeout: 2_000,
      });
      expect(JSON.parse(new TextDecoder().decode(reply.data))).toMatchObject({ type: "error", code: "bad-message" });
      // Well-formed terms sealed by someone who is not the DSO.
      const intruder = Wallet.createRandom();
      const tradeId = `0x${"77".repeat(32)}` as Hex;
      const meterRecord = market.dso.meters.get("pv-7");
      const forged = sealTradeMessage(s.meter.trade(inboxId), tradeId, { type: "trade.terms" }, { wallet: intruder, recipientPublicKey: meterRecord?.publicKey as string });
      const refused = await nc.request(s.meter.trade(inboxId), encoder.encode(JSON.stringify(forged)), {
        timeout: 2_000,
      });
      expect(JSON.parse(new TextDecoder().decode(refused.data))).toMatchObject({ type: "error", code: "unauthorized" });
      // Notices for bidders that are not this meter's are ignored.
      nc.publish(
        s.meter.settled(inboxId),
        encoder.encode(JSON.stringify({ type: "settlement.notice", tradeId, bidder: intruder.address, period: "2026-11", postings: [], netMicro: 0 })),
      );
      nc.publish(s.market.matched, encoder.encode("garbage on the market events"));
      await nc.flush();

      // Still alive: it bids and trades.
      expect(seller.actor.getSnapshot().status).toBe("active");
      seller.plan([{ planId: "later", side: "sell", priceLevel: 0, quantityWh: 250 }]);
      // A match notice for its resting bid that the chain does not hold (the gateway's claim, false) is ignored.
      const resting = await until(() => market.gateway.placed[0], 20_000, "the seller's bid placed");
      const falseMatch = { type: "market.matched" as const, buyId: intruder.address as Address, sellId: resting as Address, txHash: `0x${"66".repeat(32)}` as Hex, blockNumber: 1, logIndex: 0, observedAt: Date.now() };
      await publishDeduplicated(market.clients.js, s.market.matched, matchEventSchema, falseMatch, "false-match");
      await until(() => seller.counters().matchNoticesRefused === 1, 10_000, "the false match notice refused").catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const sessionStates = () => {
        const snapshot = seller.actor.getSnapshot();
        const children = snapshot.children as Record<string, { getSnapshot(): { value: unknown } } | undefined>;
        return Object.values(snapshot.context.sessions).map((session) => JSON.stringify(children[session.sessionId]?.getSnapshot().value ?? null));
      };
      // Its session still waits for a match: it did not start trading on the false notice (nor void it and re-bid).
      expect(sessionStates().some((state) => state.includes("trading"))).toBe(false);
      expect(seller.counters()).toMatchObject({ voids: 0, rebids: 0, matchNoticesRefused: 1 });
      await market.startMeter("flat-7", [{ planId: "b", side: "buy", priceLevel: 1, quantityWh: 250 }]);
      await until(() => seller.counters().settled === 1, 30_000, "trade after the bad messages");
      expect(seller.actor.getSnapshot().context.errors.filter((e) => e.kind === "malformedEvent")).toHaveLength(0);
    });
  });

  it("stop() withdraws a bid still waiting for a match (cancelled on chain) and shuts down within its timeout", async () => {
    await withMarket(async (market) => {
      const meter = await market.startMeter("pv-8", [{ planId: "s", side: "sell", priceLevel: 3, quantityWh: 400 }]);
      const bidder = await until(() => market.gateway.placed[0], 20_000, "bid placed");
      const started = Date.now();
      await meter.stop();
      expect(Date.now() - started).toBeLessThan(5_000);
      const bidId = await getBidIdOf(market.handle, bidder);
      expect((await getBid(market.handle, bidId as bigint)).status).toBe(BidStatus.Cancelled);
      expect(meter.counters().cancelled).toBe(1);
      expect(meter.actor.getSnapshot().status).not.toBe("active");
      await meter.stop(); // idempotent
    });
  });
});
