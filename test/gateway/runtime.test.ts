// Integration (real nats-server, real EDR chain, real FHIPE pairings): the gateway runtime places batches, announces
// placements and matches once, treats replays as duplicates, isolates bad bids, survives malformed input, relays cancels.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { context, trace } from "@opentelemetry/api";
import { Wallet, hexlify, randomBytes } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getBidCount, getBidIdOf, getHeapSizes, signCancel, BID_TYPES, ciphertextHash } from "../../contracts/client/index.ts";
import { RemoteError } from "../../actors/nats/codec.ts";
import { dedupIds } from "../../actors/nats/jetstream.ts";
import { request, serve } from "../../actors/nats/rpc.ts";
import { injectHeaders } from "../../actors/nats/tracing.ts";
import {
  cancelReplySchema,
  cancelRequestSchema,
  marketInfoReplySchema,
  marketInfoRequestSchema,
  tradeIdOf,
  type BidSubmission,
} from "../../actors/protocol/schemas.ts";
import { startInProcessTelemetry, spanFilePath } from "../../actors/telemetry/telemetry.ts";
import type { SpanRecord } from "../../actors/telemetry/spanRecord.ts";
import { ChainMismatchError } from "../../actors/gateway/marketLookup.ts";
import type { BatchMinedEvent } from "../../actors/gateway/runtime.ts";
import { createMarket, startEnvironment, until, type Environment, type Market } from "./fixture.ts";

let env: Environment;

beforeAll(async () => {
  env = await startEnvironment();
});
afterAll(async () => {
  await env?.close();
});

async function consumerIdle(m: Market): Promise<boolean> {
  const info = await env.jsm.consumers.info(m.streams.bids, "gateway-bids");
  return info.num_pending === 0 && info.num_ack_pending === 0;
}

describe("gateway runtime", () => {
  it("places waiting bids in batches, announces each placement and one match for a crossing pair, with linked spans", async () => {
    const m = await createMarket(env, "batch");
    const dataDir = await m.dataDir();
    const telemetry = startInProcessTelemetry({ service: "gridveil-gateway", dataDir, attributes: { "gridveil.market.id": m.marketId } });
    const meterTelemetry = startInProcessTelemetry({ service: "gridveil-meter", dataDir });
    // Seven resting bids (sells at 2–3, buys at 0–1), published before the gateway starts: they wait together.
    const resting = await Promise.all(
      [
        [1, 2],
        [1, 3],
        [1, 3],
        [1, 2],
        [0, 0],
        [0, 1],
        [0, 1],
      ].map(([side, priceLevel]) => m.makeBid({ side: side as 0 | 1, priceLevel: priceLevel as number, format: side === 0 ? "hex" : "words" })),
    );
    // Each submission carries the trace context of a meter's `meter.submit` span, as a meter would send it.
    const submitSpans = new Map<string, string>();
    for (const made of resting) {
      const span = meterTelemetry.tracer.startSpan("meter.submit");
      submitSpans.set(made.submission.bidder, span.spanContext().spanId);
      await context.with(trace.setSpan(context.active(), span), () => m.publish(made.submission));
      span.end();
    }
    const gateway = await m.startGateway(dataDir, { tracer: telemetry.tracer });
    const batches: BatchMinedEvent[] = [];
    gateway.events.on("batch", (batch) => batches.push(batch));
    try {
      await until(async () => (await getBidCount(m.market)) === 7n, 30_000, "seven placements");
      expect(await getHeapSizes(m.market)).toEqual({ buys: 3, sells: 4 });
      expect(batches).toHaveLength(1);
      expect(batches[0]).toMatchObject({ bids: 7, placed: 7, rejected: 0 });

      const crossing = await m.makeBid({ side: 0, priceLevel: 3 });
      await m.publish(crossing.submission);
      await until(async () => (await m.marketEvents()).some((r) => r.event.type === "market.matched"), 30_000, "the match notice");
      await until(async () => (await m.marketEvents()).filter((r) => r.event.type === "market.placed").length === 8, 30_000, "8 placed");
      await until(() => consumerIdle(m), 10_000, "every delivery acked");

      const records = await m.marketEvents();
      const placed = records.filter((r) => r.event.type === "market.placed");
      expect(new Set(placed.map((r) => r.msgId))).toEqual(
        new Set([...resting, crossing].map((made) => dedupIds.marketEvent("placed", made.submission.bidder))),
      );
      const matches = records.flatMap((r) => (r.event.type === "market.matched" ? [{ ...r, event: r.event }] : []));
      expect(matches).toHaveLength(1);
      const match = matches[0]!;
      expect(match.event.buyId).toBe(crossing.submission.bidder);
      // The best sell (level 2) is one of the two level-2 sells.
      expect([resting[0]!.submission.bidder, resting[3]!.submission.bidder]).toContain(match.event.sellId);
      const tradeId = tradeIdOf({ buyId: match.event.buyId, sellId: match.event.sellId, txHash: match.event.txHash });
      expect(match.msgId).toBe(dedupIds.match(tradeId));
      expect(await getHeapSizes(m.market)).toEqual({ buys: 3, sells: 3 });
      const counters = gateway.counters();
      expect(counters).toMatchObject({ bidsPlaced: 8, duplicates: 0, rejected: 0, batches: 2, txs: 2 });
      expect(counters.gasUsed).toBeGreaterThan(0n);
    } finally {
      await gateway.stop();
      await telemetry.shutdown();
      await meterTelemetry.shutdown();
    }

    // Spans: bid ← meter.submit; batch links bids; chain.tx under batch; match links both bids. No clear values.
    const spans = (await readFile(spanFilePath(dataDir), "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as SpanRecord);
    const bidSpans = spans.filter((span) => span.name === "gateway.bid");
    expect(bidSpans).toHaveLength(8);
    for (const span of bidSpans.filter((b) => submitSpans.has(String(b.attributes["gridveil.bidder"])))) {
      expect(span.parentSpanId).toBe(submitSpans.get(String(span.attributes["gridveil.bidder"])));
      expect(span.service).toBe("gridveil-gateway");
    }
    const batchSpans = spans.filter((span) => span.name === "gateway.batch");
    expect(batchSpans[0]!.attributes["gridveil.batch.size"]).toBe(7);
    expect(batchSpans[0]!.links).toHaveLength(7);
    expect(batchSpans[0]!.events.some((event) => event.name === "machine.transition")).toBe(true);
    const txSpans = spans.filter((span) => span.name === "chain.tx");
    expect(txSpans[0]!.parentSpanId).toBe(batchSpans[0]!.spanId);
    expect(txSpans[0]!.attributes).toMatchObject({ "gridveil.tx.bids": 7 });
    expect(typeof txSpans[0]!.attributes["gridveil.gas.used"]).toBe("number");
    const matchSpan = spans.find((span) => span.name === "gateway.match")!;
    expect(matchSpan.links).toHaveLength(2);
    expect(matchSpan.attributes["gridveil.trade.id"]).toMatch(/^0x[0-9a-f]{64}$/);
    const forbidden = /price|quantity|salt|alpha|beta|msk|level|meter\.id/i;
    for (const span of spans.filter((s) => s.service === "gridveil-gateway")) {
      expect(Object.keys(span.attributes).filter((key) => forbidden.test(key))).toEqual([]);
    }
    await m.cleanup();
  });
});
