// Integration (real nats-server, real EDR chain, real FHIPE pairings): the gateway runtime places batches, announces
// placements and matches once, treats replays as duplicates, isolates bad bids, survives malformed input, relays cancels.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { context, trace } from "@opentelemetry/api";
import { Wallet, hexlify, randomBytes } from "ethers";
import { describe, expect, it } from "vitest";
import { getBidCount, getBidIdOf, getHeapSizes, signCancel, BID_TYPES, ciphertextHash } from "../../contracts/client/index.ts";
import { RemoteError } from "../../actors/nats/errors.ts";
import { dedupIds } from "../../actors/nats/jetstream.ts";
import { answer, call, request } from "../../actors/nats/rpc.ts";
import { endpoints } from "../../protocol/wire/endpoints.ts";
import { cancelReplySchema, cancelRequestSchema, slotBidSubmissionSchema, type BidSubmission } from "../../protocol/wire/schemas.ts";
import { startInProcessTelemetry, spanFilePath } from "../../actors/telemetry/telemetry.ts";
import type { SpanRecord } from "../../actors/telemetry/spanRecord.ts";
import { ChainMismatchError } from "../../contracts/client/errors.ts";
import { ReferenceOrderBook } from "../../protocol/book/referenceOrderBook.ts";
import type { BatchMinedEvent } from "../../actors/gateway/submitter.ts";
import { createMarket, environmentPerFile, withGateway, until, type Environment } from "./fixture.ts";
import { tradeIdOf } from "../../protocol/domain.ts";

let env: Environment;
environmentPerFile((started) => (env = started));

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
      await until(() => batches.length === 1, 10_000, "the batch report");
      expect(batches[0]).toMatchObject({ bids: 7, placed: 7, rejected: 0 });

      const crossing = await m.makeBid({ side: 0, priceLevel: 3 });
      await m.publish(crossing.submission);
      await until(async () => (await m.marketEvents()).some((r) => r.event.type === "market.matched"), 30_000, "the match notice");
      await until(async () => (await m.marketEvents()).filter((r) => r.event.type === "market.placed").length === 8, 30_000, "8 placed");
      await until(() => m.bidsIdle(), 10_000, "every delivery acked");

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
      await until(() => batches.length === 2, 10_000, "the second batch report");
      const counters = gateway.counters();
      expect(counters).toMatchObject({ bidsPlaced: 8, duplicates: 0, rejected: 0, batches: 2, txs: 2 });
      expect(counters.gasUsed).toBeGreaterThan(0n);
      // The Compare count from the call trace equals the reference book's order decisions plus the contract's
      // right-ciphertext validations (a sell meeting no buys, a buy resting in an empty buy heap).
      const reference = new ReferenceOrderBook();
      let validations = 0;
      for (const made of [...resting, crossing]) {
        const buysBefore = reference.heap(0).length;
        const result = reference.place({ side: made.side, priceLevel: made.priceLevel, notAfter: Number.MAX_SAFE_INTEGER }, 0);
        if (made.side === 1 && buysBefore === 0) validations += 1;
        if (made.side === 0 && result.ok && result.matchedWith === undefined && buysBefore === 0) validations += 1;
      }
      expect(batches.map((batch) => batch.compares)).toEqual([expect.any(Number), expect.any(Number)]);
      expect(counters.compares).toBe(reference.compareCount + validations);
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
    expect(txSpans[0]!.attributes).toMatchObject({ "gridveil.tx.bids": 7, "gridveil.tx.compares": batches[0]!.compares });
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

  it("acks a replayed submission (same bidder, another message id) as a duplicate and places it once", async () => {
    await withGateway(env, "replay", async (m, gateway) => {
      const made = await m.makeBid({ side: 1, priceLevel: 2 });
      expect((await m.publish(made.submission)).duplicate).toBe(false);
      // Within the dedup window the stream itself drops a retry with the same Nats-Msg-Id.
      expect((await m.publish(made.submission)).duplicate).toBe(true);
      await until(async () => (await getBidCount(m.market)) === 1n, 30_000, "the placement");
      await until(() => m.bidsIdle(), 10_000, "the first ack");
      // Beyond the window (here: another message id), the gateway gets it again: the contract says the bidder is used.
      expect((await m.publish(made.submission, `replay:${made.submission.bidder}`)).duplicate).toBe(false);
      await until(() => gateway.counters().duplicates === 1 || undefined, 30_000, "the duplicate ack");
      await until(() => m.bidsIdle(), 10_000, "the duplicate acked");
      expect(await getBidCount(m.market)).toBe(1n);
      expect(gateway.counters()).toMatchObject({ bidsPlaced: 1, duplicates: 1, rejected: 0 });
      const records = await m.marketEvents();
      expect(records.filter((r) => r.event.type === "market.placed")).toHaveLength(1);
      expect(records.filter((r) => r.event.type === "market.rejected")).toHaveLength(0);
    });
  });

  it("rejects a bid with a bad signature without blocking the others in its batch", async () => {
    const m = await createMarket(env, "badsig");
    const [first, forged, last] = await Promise.all([
      m.makeBid({ side: 1, priceLevel: 3 }),
      m.makeBid({ side: 1, priceLevel: 2 }),
      m.makeBid({ side: 0, priceLevel: 0 }),
    ]);
    // Signed by some other key: well-formed, but not the bidder's signature.
    const intruder = new Wallet(hexlify(randomBytes(32)));
    const words = forged.submission.ciphertext as { left: string[]; right: string[] };
    const badSignature = await intruder.signTypedData(m.market.domain, BID_TYPES, {
      side: forged.side,
      ciphertextHash: ciphertextHash(words.left.map(BigInt), words.right.map(BigInt)),
      commitment: forged.submission.commitment,
    });
    const tampered: BidSubmission = { ...forged.submission, bidSignature: badSignature as `0x${string}` };
    for (const submission of [first.submission, tampered, last.submission]) await m.publish(submission);
    const gateway = await m.startGateway(await m.dataDir());
    const batches: BatchMinedEvent[] = [];
    gateway.events.on("batch", (batch) => batches.push(batch));
    try {
      await until(async () => (await m.marketEvents()).some((r) => r.event.type === "market.rejected"), 30_000, "the rejection notice");
      await until(() => m.bidsIdle(), 10_000, "every delivery settled");
      await until(() => batches.length === 1, 10_000, "the batch report");
      expect(batches).toEqual([expect.objectContaining({ bids: 3, placed: 2, rejected: 1 })]);
      expect(await getBidIdOf(m.market, first.submission.bidder)).toBeDefined();
      expect(await getBidIdOf(m.market, last.submission.bidder)).toBeDefined();
      expect(await getBidIdOf(m.market, forged.submission.bidder)).toBeUndefined();
      const rejected = (await m.marketEvents()).flatMap((r) => (r.event.type === "market.rejected" ? [r.event] : []));
      expect(rejected).toEqual([expect.objectContaining({ bidder: forged.submission.bidder, error: "InvalidBidderSignature" })]);
      expect(gateway.counters()).toMatchObject({ bidsPlaced: 2, rejected: 1 });
    } finally {
      await gateway.stop();
      await m.cleanup();
    }
  });

  it("terminates malformed submissions, answers malformed cancels with an error, and keeps running", async () => {
    await withGateway(env, "malformed", async (m, gateway) => {
      // Not JSON; JSON of the wrong shape; a well-formed submission whose compact ciphertext does not decode.
      await env.js.publish(m.s.gateway.submit, new TextEncoder().encode("{not json"), { msgID: "garbage-1" });
      await env.js.publish(m.s.gateway.submit, new TextEncoder().encode(JSON.stringify({ type: "bid.submit", bidder: 7 })), { msgID: "garbage-2" });
      const broken = await m.makeBid({ side: 1, priceLevel: 1, format: "hex" });
      const hex = broken.submission.ciphertext as string;
      const corrupted: BidSubmission = { ...broken.submission, ciphertext: `${hex.slice(0, -4)}ffff` as `0x${string}` };
      await m.publish(corrupted);
      // The same in decimal words: a left-hand point moved off the curve (y + 1) is refused too, before any gas.
      const offCurve = await m.makeBid({ side: 1, priceLevel: 1, format: "words" });
      const words = offCurve.submission.ciphertext as { left: string[]; right: string[] };
      const left = [words.left[0]!, (BigInt(words.left[1]!) + 1n).toString(), ...words.left.slice(2)];
      await m.publish({ ...offCurve.submission, ciphertext: { left, right: words.right } });
      const cancelError = await request(
        env.nc,
        m.s.gateway.cancel,
        cancelRequestSchema.or(cancelReplySchema),
        {
          type: "bid.cancel.reply",
          bidder: broken.submission.bidder,
          status: "cancelled",
        },
        cancelReplySchema,
      ).catch((error: unknown) => error);
      expect(cancelError).toBeInstanceOf(RemoteError);
      expect((cancelError as RemoteError).code).toBe("bad-message");

      const good = await m.makeBid({ side: 1, priceLevel: 2 });
      await m.publish(good.submission);
      await until(async () => (await getBidIdOf(m.market, good.submission.bidder)) !== undefined, 30_000, "the good bid");
      await until(() => m.bidsIdle(), 10_000, "every delivery settled");
      expect(gateway.counters()).toMatchObject({ refused: 4, bidsPlaced: 1 });
      expect(gateway.actor.getSnapshot().status).toBe("active");
      // The undecodable bid names a bidder that is not on chain: its meter is told.
      const rejections = async () => (await m.marketEvents()).flatMap((r) => (r.event.type === "market.rejected" ? [r.event] : []));
      await until(async () => (await rejections()).length === 2, 10_000, "the rejections");
      expect(await rejections()).toEqual([
        expect.objectContaining({ bidder: broken.submission.bidder, error: "UndecodableCiphertext" }),
        expect.objectContaining({ bidder: offCurve.submission.bidder, error: "UndecodableCiphertext" }),
      ]);
      // Neither reached the chain: no transaction was spent on them.
      expect(await getBidIdOf(m.market, offCurve.submission.bidder)).toBeUndefined();
    });
  });

  it("refuses a version 2 submission (bid.submit.v2) in a version 1 market by name, before any gas", async () => {
    await withGateway(env, "otherdesign", async (m, gateway) => {
      const bidder = Wallet.createRandom().address as `0x${string}`;
      const v2 = slotBidSubmissionSchema.parse({
        type: "bid.submit.v2",
        bidder,
        side: 1,
        slot: 100,
        notAfter: 2 ** 31,
        commitment: `0x${"11".repeat(32)}`,
        ciphertext: ["1", "2", "3", "4", "5", "6"],
        ticketSignature: `0x${"22".repeat(65)}`,
        submittedAt: Date.now(),
      });
      await env.js.publish(m.s.gateway.submit, new TextEncoder().encode(JSON.stringify(v2)), { msgID: dedupIds.bid(bidder) });
      const rejected = await until(async () => (await m.marketEvents()).find((r) => r.event.type === "market.rejected"), 10_000, "the rejection");
      expect(rejected.event).toMatchObject({ bidder, error: "WrongDesign" });
      await until(() => m.bidsIdle(), 10_000, "terminated");
      expect(gateway.counters()).toMatchObject({ refused: 1, bidsPlaced: 0, batches: 0 });
      expect(await getBidCount(m.market)).toBe(0n);
    });
  });

  it("answers a cancel for a bidder that was never submitted at once with not-found, and stops relaying it", async () => {
    await withGateway(env, "unknowncancel", async (m, gateway) => {
      const never = await m.makeBid({ side: 1, priceLevel: 2 });
      const signature = await signCancel(never.oneTimeKey, m.market.domain);
      const error = await call(
        env.nc,
        m.s,
        endpoints.cancel,
        { type: "bid.cancel", bidder: never.submission.bidder, signature },
        { timeoutMs: 20_000 },
      ).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(RemoteError);
      expect((error as RemoteError).code).toBe("not-found");
      // Without the answer the relay retried until it gave up and answered "unavailable".
      expect(gateway.actor.getSnapshot().context.cancels).toEqual([]);
    });
  });

  it("relays a bidder's signed cancel, announces it, and answers not-open or an error afterwards", async () => {
    await withGateway(env, "cancel", async (m, gateway) => {
      const made = await m.makeBid({ side: 1, priceLevel: 2 });
      await m.publish(made.submission);
      const signature = await signCancel(made.oneTimeKey, m.market.domain);
      const cancel = () =>
        call(env.nc, m.s, endpoints.cancel, { type: "bid.cancel", bidder: made.submission.bidder, signature }, { timeoutMs: 20_000 });
      // Sent right away: the relay waits (retrying) until the bid is on chain.
      const reply = await cancel();
      expect(reply).toMatchObject({ status: "cancelled", bidder: made.submission.bidder });
      expect(reply.txHash).toMatch(/^0x[0-9a-f]{64}$/);
      expect(await getHeapSizes(m.market)).toEqual({ buys: 0, sells: 0 });
      await until(async () => (await m.marketEvents()).some((r) => r.event.type === "market.cancelled"), 10_000, "the cancel notice");
      const again = await cancel();
      expect(again.status).toBe("not-open");
      // Signed by someone else: the contract refuses (NotBidOwner), the requester gets an error reply.
      const other = await m.makeBid({ side: 0, priceLevel: 0 });
      await m.publish(other.submission);
      await until(async () => (await getBidIdOf(m.market, other.submission.bidder)) !== undefined, 30_000, "the second bid");
      const forged = await signCancel(new Wallet(hexlify(randomBytes(32))), m.market.domain);
      const refused = await call(
        env.nc,
        m.s,
        endpoints.cancel,
        { type: "bid.cancel", bidder: other.submission.bidder, signature: forged },
        {
          timeoutMs: 20_000,
        },
      ).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(RemoteError);
      expect((refused as RemoteError).code).toBe("rejected");
      expect((refused as RemoteError).message).toContain("NotBidOwner");
      expect(gateway.counters().cancelsRelayed).toBe(1);
    });
  });

  it("without --contract, asks the DSO until it answers, and refuses a description of another chain", async () => {
    const m = await createMarket(env, "lookup");
    const description = {
      marketId: m.marketId,
      chainId: Number(env.chain.chainId),
      contractAddress: m.market.address,
      ticketSigner: m.dso.address,
      fhipe: { curve: "BN254" as const, dimension: m.market.dim },
      priceLevels: { firstPriceMicroPerKWh: 100_000, stepMicroPerKWh: 10_000, count: m.market.dim - 1 },
      clearingRule: "midpoint" as const,
    };
    let asked = 0;
    let answerWith: typeof description | null = null;
    const dso = answer(env.nc, m.s, endpoints.marketInfo, () => {
      asked += 1;
      if (answerWith === null) throw new Error("not deployed yet");
      const identity = Wallet.createRandom();
      return { type: "market.info.reply" as const, market: answerWith, dso: { address: identity.address as `0x${string}`, publicKey: identity.signingKey.publicKey as `0x${string}` } };
    });
    await dso.ready;
    try {
      setTimeout(() => (answerWith = description), 600);
      const gateway = await m.startGateway(await m.dataDir(), { contractAddress: undefined });
      expect(asked).toBeGreaterThan(1);
      expect(gateway.contractAddress).toBe(m.market.address);
      const made = await m.makeBid({ side: 0, priceLevel: 1 });
      await m.publish(made.submission);
      await until(async () => (await getBidCount(m.market)) === 1n, 30_000, "a placement");
      await gateway.stop();

      answerWith = { ...description, chainId: description.chainId + 1 };
      await expect(m.startGateway(await m.dataDir(), { contractAddress: undefined })).rejects.toBeInstanceOf(ChainMismatchError);
    } finally {
      await dso.stop();
      await m.cleanup();
    }
  });

  it("resumes after a stop from its saved cursor: notices of new blocks only, earlier ones not repeated", async () => {
    const m = await createMarket(env, "cursor");
    const dataDir = await m.dataDir();
    const first = await m.startGateway(dataDir);
    const sell = await m.makeBid({ side: 1, priceLevel: 1 });
    const buy = await m.makeBid({ side: 0, priceLevel: 2 });
    await m.publish(sell.submission);
    await until(async () => (await getBidCount(m.market)) === 1n, 30_000, "the sell");
    await m.publish(buy.submission);
    await until(async () => (await m.marketEvents()).some((r) => r.event.type === "market.matched"), 30_000, "the match");
    await first.stop();
    const cursor = JSON.parse(await readFile(join(dataDir, "gateway-cursor.json"), "utf8")) as { lastProcessedBlock: number };
    expect(cursor.lastProcessedBlock).toBeGreaterThanOrEqual((await env.provider.getBlockNumber()) - 1);
    const before = await m.marketEvents();

    const second = await m.startGateway(dataDir);
    try {
      const next = await m.makeBid({ side: 1, priceLevel: 3 });
      await m.publish(next.submission);
      await until(async () => (await m.marketEvents()).length === before.length + 1, 30_000, "one new notice");
      const after = await m.marketEvents();
      expect(after.at(-1)).toMatchObject({ event: { type: "market.placed", bidder: next.submission.bidder } });
      expect(after.filter((r) => r.event.type === "market.matched")).toHaveLength(1);
    } finally {
      await second.stop();
      await m.cleanup();
    }
  });

  it("splits a batch that does not fit the gas limit (BatchEntryOutOfGas) and places every bid", async () => {
    const m = await createMarket(env, "split");
    const bids = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => m.makeBid({ side: 1, priceLevel: 1 + (i % 3) })));
    for (const made of bids) await m.publish(made.submission);
    // Room for about two resting bids per transaction at this dimension.
    const gateway = await m.startGateway(await m.dataDir(), { gasLimit: 3_000_000n });
    const batches: BatchMinedEvent[] = [];
    gateway.events.on("batch", (batch) => batches.push(batch));
    try {
      await until(async () => (await getBidCount(m.market)) === 6n, 60_000, "six placements");
      await until(() => m.bidsIdle(), 10_000, "every delivery acked");
      expect(gateway.counters()).toMatchObject({ bidsPlaced: 6, rejected: 0, duplicates: 0, batches: 1 });
      await until(() => batches.reduce((sum, batch) => sum + batch.placed, 0) === 6 || undefined, 10_000, "the batch reports");
      expect(batches.length).toBeGreaterThan(1);
    } finally {
      await gateway.stop();
      await m.cleanup();
    }
  });

  it("recovers its nonce when another sender used the account (the next transaction asks the node again)", async () => {
    await withGateway(env, "nonce", async (m, gateway) => {
      const first = await m.makeBid({ side: 1, priceLevel: 2 });
      await m.publish(first.submission);
      await until(async () => (await getBidCount(m.market)) === 1n, 30_000, "the first placement");
      // Someone else spends a nonce of the gateway's account: the gateway's local count is now stale.
      const sameAccount = new Wallet(env.chain.accountKeys[1] as string, env.provider);
      await (await sameAccount.sendTransaction({ to: sameAccount.address, value: 0n })).wait();
      const second = await m.makeBid({ side: 1, priceLevel: 3 });
      await m.publish(second.submission);
      await until(async () => (await getBidCount(m.market)) === 2n, 30_000, "the second placement");
      await until(() => m.bidsIdle(), 10_000, "every delivery acked");
      expect(gateway.counters()).toMatchObject({ bidsPlaced: 2, rejected: 0 });
      // The stale nonce did fail once (and was retried), rather than being silently right by luck.
      expect(gateway.actor.getSnapshot().context.errors.some((error) => error.source === "submitBids")).toBe(true);
    });
  });

  it("announces a bid the contract dropped as expired, with its side and ticket expiry", async () => {
    await withGateway(env, "expiry", async (m, gateway) => {
      const shortLived = await m.makeBid({ side: 1, priceLevel: 1, lifetimeSeconds: 60 });
      await m.publish(shortLived.submission);
      await until(async () => (await getBidCount(m.market)) === 1n, 30_000, "the sell");
      await env.provider.send("evm_increaseTime", [120]);
      await env.provider.send("evm_mine", []);
      // A crossing buy meets the expired root: the contract drops it (BidExpired) and the buy rests.
      const buy = await m.makeBid({ side: 0, priceLevel: 3 });
      await m.publish(buy.submission);
      const expired = await until(async () => (await m.marketEvents()).find((r) => r.event.type === "market.expired"), 30_000, "the expiry notice");
      expect(expired.event).toMatchObject({ bidder: shortLived.submission.bidder, side: 1, notAfter: shortLived.submission.ticket.notAfter });
      expect(expired.msgId).toBe(dedupIds.marketEvent("expired", shortLived.submission.bidder));
      expect((await m.marketEvents()).filter((r) => r.event.type === "market.matched")).toEqual([]);
      expect(await getHeapSizes(m.market)).toEqual({ buys: 1, sells: 0 });
    });
  });
});
