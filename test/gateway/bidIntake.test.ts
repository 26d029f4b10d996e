// The bid intake on its own (real nats-server and durable consumer, real FHIPE bids; the machine is the stand-in a
// unit test isolates): a delivery it holds open is kept alive only while the machine holds it. One the machine lost
// is handed to it again; one a stopped machine cannot take goes back to the queue. Before, such a delivery was kept
// alive for good: never placed, never redelivered.
import { trace } from "@opentelemetry/api";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { startBidIntake, type BidDelivery } from "../../actors/gateway/bidIntake.ts";
import { unaryBidReader } from "../../actors/gateway/bidWire.ts";
import { ensureDurableConsumer } from "../../actors/nats/jetstream.ts";
import { DURABLES } from "../../protocol/wire/subjects.ts";
import { SideCode } from "../../protocol/domain.ts";
import { createMarket, environmentPerFile, until, type Environment } from "./fixture.ts";

let env: Environment;
environmentPerFile((started) => (env = started));

const ACK_WAIT_MS = 1_500;

async function intakeOn(name: string, machine: { deliver(delivery: BidDelivery, count: number): void; holds(messageId: string): boolean }) {
  const m = await createMarket(env, name);
  await ensureDurableConsumer(env.jsm, m.streams.bids, DURABLES.gatewayBids, { filterSubject: m.s.gateway.submit, ackWaitMs: ACK_WAIT_MS });
  const deliveries: BidDelivery[] = [];
  const intake = await startBidIntake({
    js: env.js,
    stream: m.streams.bids,
    durable: DURABLES.gatewayBids,
    tracer: trace.getTracer("intake-test"),
    logger: pino({ level: process.env.GRIDVEIL_LOG_LEVEL ?? "silent" }),
    marketId: m.marketId,
    maxOutstanding: 8,
    fetchExpiresMs: 1_000,
    readBid: unaryBidReader({ checkPoints: true }),
    deliver: (delivery) => {
      deliveries.push(delivery);
      machine.deliver(delivery, deliveries.length);
    },
    holds: (messageId) => machine.holds(messageId),
    refused: async () => undefined,
  });
  const consumer = () => env.jsm.consumers.info(m.streams.bids, DURABLES.gatewayBids);
  return { m, intake, deliveries, consumer };
}

describe("gateway bid intake", () => {
  it("hands a delivery the machine lost to it again, and keeps it alive only once the machine holds it", async () => {
    const held = new Set<string>();
    const { m, intake, deliveries, consumer } = await intakeOn("intake-lost", {
      // The first hand-over is lost (as a machine event dropped on the way would be); later ones are taken.
      deliver: (delivery, count) => {
        if (count > 1) held.add(delivery.messageId);
      },
      holds: (messageId) => held.has(messageId),
    });
    try {
      const bid = await m.makeBid({ side: SideCode.Sell, priceLevel: 1 });
      await m.publish(bid.submission);
      await until(() => deliveries.length >= 2, 10_000, "the delivery handed over again");
      expect(deliveries[1]?.messageId).toBe(deliveries[0]?.messageId);
      expect(deliveries[1]?.bid.bidder).toBe(bid.submission.bidder);
      // Held now: kept alive past several ack waits, not redelivered by the server.
      await new Promise((resolve) => setTimeout(resolve, ACK_WAIT_MS * 2));
      expect(deliveries).toHaveLength(2);
      expect((await consumer()).num_redelivered).toBe(0);
      await intake.settle([deliveries[0]!.messageId], "ack", "placed");
      await until(async () => ((await consumer()).num_ack_pending === 0 ? true : undefined), 5_000, "the ack");
    } finally {
      await intake.stopPulling();
      intake.releaseAll();
      await m.cleanup();
    }
  });

  it("gives a delivery back to the queue when the machine cannot take it (not running), so the server redelivers it", async () => {
    const { m, intake, deliveries, consumer } = await intakeOn("intake-stopped", { deliver: () => undefined, holds: () => false });
    try {
      const bid = await m.makeBid({ side: SideCode.Buy, priceLevel: 2 });
      await m.publish(bid.submission);
      await until(() => deliveries.length >= 3, 10_000, "deliveries after the nak");
      expect((await consumer()).num_redelivered).toBeGreaterThan(0);
      expect(new Set(deliveries.map((delivery) => delivery.messageId)).size).toBe(1);
    } finally {
      await intake.stopPulling();
      intake.releaseAll();
      await m.cleanup();
    }
  });
});
