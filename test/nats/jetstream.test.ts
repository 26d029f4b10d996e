// Integration (real nats-server with JetStream on a file store): streams, dedup, durable consumers, no loss on restart.
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Wallet } from "ethers";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consumeDurable, dedupIds, ensureDurableConsumer, ensureStreams, publishDeduplicated, publishDurable } from "../../actors/nats/jetstream.ts";
import { PermanentMessageError } from "../../actors/nats/errors.ts";
import { startNatsServer, type NatsServerHandle } from "../../actors/nats/server.ts";
import { setTracePropagation, headerRecord, noTracePropagation } from "../../actors/nats/tracing.ts";
import { bidSubmissionSchema, readingSchema } from "../../protocol/wire/schemas.ts";
import { DURABLES, marketSubjects, streamNames } from "../../protocol/wire/subjects.ts";
import { bidSubmission } from "../protocol/wire/fixtures.ts";

const MARKET = "js-test";
const subjects = marketSubjects(MARKET);
const streams = streamNames(MARKET);

const bid = bidSubmission;

async function until(predicate: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await sleep(20);
  }
}

let storeDir: string;
let server: NatsServerHandle;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;

beforeAll(async () => {
  storeDir = await mkdtemp(join(tmpdir(), "gridveil-js-store-"));
  server = await startNatsServer({ storeDir });
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  js = jetstream(nc);
  await ensureStreams(jsm, MARKET);
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
  await rm(storeDir, { recursive: true, force: true });
});

describe("ensureStreams", () => {
  it("creates the four streams with a dedup window, and is idempotent", async () => {
    expect(await ensureStreams(jsm, MARKET, { duplicateWindowMs: 120_000 })).toEqual(streams);
    const info = await jsm.streams.info(streams.bids);
    expect(info.config.subjects).toEqual([subjects.gateway.submit]);
    expect(info.config.duplicate_window).toBe(120_000 * 1_000_000);
    expect((await jsm.streams.info(streams.matches)).config.subjects).toEqual([subjects.market.events]);
    expect((await jsm.streams.info(streams.readings)).config.subjects).toEqual([subjects.meter.reading]);
    expect((await jsm.streams.info(streams.settlements)).config.subjects).toEqual([subjects.dso.settled]);
    await ensureStreams(jsm, MARKET);
    expect((await jsm.streams.info(streams.bids)).config.duplicate_window).toBe(60 * 60 * 1000 * 1_000_000);
  });
});

describe("publishDeduplicated", () => {
  it("stores a bid once per bidder, whatever the spelling, and says which publish was the duplicate", async () => {
    const bidder = Wallet.createRandom().address;
    const first = await publishDeduplicated(js, subjects.gateway.submit, bidSubmissionSchema, bid(bidder), dedupIds.bid(bidder));
    const again = await publishDeduplicated(js, subjects.gateway.submit, bidSubmissionSchema, bid(bidder), dedupIds.bid(bidder.toLowerCase()));
    expect(first.duplicate).toBe(false);
    expect(again).toEqual({ duplicate: true, seq: first.seq, stream: streams.bids });
  });

  it("refuses an invalid message before it reaches the stream", async () => {
    const before = (await jsm.streams.info(streams.bids)).state.messages;
    await expect(publishDurable(js, subjects.gateway.submit, bidSubmissionSchema, { ...bid("0x01"), side: 0 })).rejects.toThrow(/refusing/);
    expect((await jsm.streams.info(streams.bids)).state.messages).toBe(before);
  });
});

describe("consumeDurable", () => {
  it("loses nothing and processes deduplicated submissions once when stopped mid-stream and restarted", async () => {
    const durable = "gateway-bids-restart";
    // A realistic ack wait: a message left in limbo at stop would take 30 s to come back and fail the test.
    await ensureDurableConsumer(jsm, streams.bids, durable, { filterSubject: subjects.gateway.submit });
    const startSeq = (await jsm.streams.info(streams.bids)).state.last_seq;
    const bidders = Array.from({ length: 40 }, () => Wallet.createRandom().address);
    // Every bid is submitted twice (a retrying meter), interleaved.
    const results = [];
    for (const b of bidders) results.push(await publishDeduplicated(js, subjects.gateway.submit, bidSubmissionSchema, bid(b), dedupIds.bid(b)));
    for (const b of bidders) results.push(await publishDeduplicated(js, subjects.gateway.submit, bidSubmissionSchema, bid(b), dedupIds.bid(b)));
    expect(results.filter((r) => r.duplicate)).toHaveLength(40);

    // Messages before this test belong to other tests; count only ours.
    const ours = new Set(bidders);
    const processed = new Map<string, number>();
    const record = (b: string): void => {
      if (ours.has(b)) processed.set(b, (processed.get(b) ?? 0) + 1);
    };

    // First run: stopped from inside the 12th handler, i.e. in the middle of the second fetched batch of 8, so the
    // rest of that batch is fetched but not started (never a race with a batch boundary).
    let stopping: Promise<void> | undefined;
    const first: Awaited<ReturnType<typeof consumeDurable>> = await consumeDurable(js, streams.bids, durable, {
      schema: bidSubmissionSchema,
      batch: 8,
      handler: async (value) => {
        await sleep(5);
        record(value.bidder);
        if (processed.size === 12 && stopping === undefined) stopping = first.stop();
      },
    });
    await until(() => stopping !== undefined);
    await stopping;
    const afterFirst = processed.size;
    expect(afterFirst).toBeGreaterThanOrEqual(12);
    expect(afterFirst).toBeLessThan(40);
    expect(first.stats().naked).toBeGreaterThan(0); // buffered messages handed back at stop

    // Restart on a fresh connection (a restarted process).
    const nc2 = await connect({ servers: server.url });
    const second = await consumeDurable(jetstream(nc2), streams.bids, durable, {
      schema: bidSubmissionSchema,
      handler: (value) => record(value.bidder),
    });
    await until(() => processed.size === 40);
    await sleep(300); // any stray redelivery would show up now
    await second.stop();
    await nc2.close();

    expect([...processed.values()].every((count) => count === 1)).toBe(true);
    const consumerInfo = await jsm.consumers.info(streams.bids, durable);
    expect(consumerInfo.num_ack_pending).toBe(0);
    expect(consumerInfo.delivered.stream_seq).toBeGreaterThanOrEqual(startSeq + 40);
  });

  it("redelivers after a transient failure, terminates bad and permanently failing messages", async () => {
    const durable = DURABLES.dsoReadings;
    await ensureDurableConsumer(jsm, streams.readings, durable, { ackWaitMs: 5_000 });
    const tradeId = `0x${"ab".repeat(32)}`;
    const signer = Wallet.createRandom().address;
    const reading = (side: 0 | 1, energyWh: number) => ({
      type: "reading" as const,
      tradeId,
      bidder: signer,
      side,
      energyWh,
      measuredAt: 1,
      auth: { signer, signature: `0x${"55".repeat(65)}`, issuedAt: 1 },
    });
    await publishDeduplicated(js, subjects.meter.reading, readingSchema, reading(0, 1000), dedupIds.reading(tradeId, 0));
    await js.publish(subjects.meter.reading, new TextEncoder().encode(JSON.stringify({ type: "reading", energyWh: -1 })));
    await publishDeduplicated(js, subjects.meter.reading, readingSchema, reading(1, 666), dedupIds.reading(tradeId, 1));

    const attempts = new Map<number, number>();
    const outcomes: string[] = [];
    const handle = await consumeDurable(js, streams.readings, durable, {
      schema: readingSchema,
      nakDelayMs: 50,
      handler: (value) => {
        const n = (attempts.get(value.side) ?? 0) + 1;
        attempts.set(value.side, n);
        if (value.side === 0 && n < 3) throw new Error("database busy");
        if (value.side === 1) throw new PermanentMessageError("reading signature does not verify");
      },
      onOutcome: (outcome) => outcomes.push(outcome),
    });
    await until(() => outcomes.length >= 5);
    await sleep(400);
    await handle.stop();
    expect(attempts.get(0)).toBe(3);
    expect(attempts.get(1)).toBe(1);
    expect(handle.stats()).toEqual({ acked: 1, naked: 2, termed: 2 });
    // Terminated for good: nothing left pending that ack_wait would bring back (nats-server 2.9 ignores "+TERM reason").
    const info = await jsm.consumers.info(streams.readings, durable);
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_pending).toBe(0);
  });

  it("carries trace headers from the publisher to the handler", async () => {
    const durable = "trace-check";
    await ensureDurableConsumer(jsm, streams.bids, durable, { filterSubject: subjects.gateway.submit });
    const info = await jsm.streams.info(streams.bids);
    const bidder = Wallet.createRandom().address;
    const previous = setTracePropagation({
      inject: (h) => h.set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
      extract: noTracePropagation.extract,
    });
    try {
      await publishDeduplicated(js, subjects.gateway.submit, bidSubmissionSchema, bid(bidder), dedupIds.bid(bidder));
    } finally {
      setTracePropagation(previous);
    }
    let traceparent = "";
    const handle = await consumeDurable(js, streams.bids, durable, {
      schema: bidSubmissionSchema,
      handler: (value, msg) => {
        if (value.bidder === bidder) traceparent = headerRecord(msg).traceparent ?? "";
      },
    });
    await until(() => handle.stats().acked >= info.state.messages + 1);
    await handle.stop();
    expect(traceparent).toMatch(/^00-4bf92f35/);
  });

  it("keeps streams and consumer positions across a server restart on the same store", async () => {
    const durable = DURABLES.dsoMatches;
    await ensureDurableConsumer(jsm, streams.bids, durable, { filterSubject: subjects.gateway.submit });
    const before = await jsm.consumers.info(streams.bids, durable);
    const pending = before.num_pending;
    expect(pending).toBeGreaterThan(0);

    await nc.close();
    await server.stop();
    server = await startNatsServer({ storeDir });
    nc = await connect({ servers: server.url });
    jsm = await jetstreamManager(nc);
    js = jetstream(nc);

    const after = await jsm.consumers.info(streams.bids, durable);
    expect(after.num_pending).toBe(pending);
    let count = 0;
    const handle = await consumeDurable(js, streams.bids, durable, { schema: bidSubmissionSchema, handler: () => void count++ });
    await until(() => count === pending);
    await handle.stop();
    expect((await jsm.consumers.info(streams.bids, durable)).num_pending).toBe(0);
  });
});
