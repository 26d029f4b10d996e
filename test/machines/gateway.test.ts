// gateway: batching (size and delay), acks on receipt only, retry with backoff, duplicate ack for a reused bidder,
// cancels relayed, and chain following from the last processed block (PROTOCOL §5 bidding, §6 messaging).
import { describe, expect, it } from "vitest";
import { SimulatedClock, createActor } from "xstate";
import { bidProblem, gateway, logIdOf, noticesOf, provideGateway } from "../../machines/gateway.ts";
import type { ChainEvent, FollowChainInput, FollowerEvent, GatewayAckParams, GatewayNakParams, LoadCursorOutput, NotifyBidRejectedParams, PublishNoticesInput, SaveCursorInput, SubmitBidsInput, SubmitBidsOutput, SubmitCancelInput, SubmitCancelOutput } from "../../machines/gateway.ts";
import type { MachineConfig } from "../../machines/config.ts";
import { address, bytes32, config, DIMENSION, fake, flush, leafPaths, runsOf, signature, signedBid, started } from "./helpers.ts";

const cfg = config({ gateway: { batchMaxSize: 3, batchMaxDelayMs: 200 } });

function minedAll(input: SubmitBidsInput): SubmitBidsOutput {
  return { kind: "mined", txHash: bytes32(0xaa), results: input.bids.map((bid) => ({ bidder: bid.bidder, status: "placed" })) };
}

function fakes(cursor: number | null = null) {
  const follower = {
    calls: [] as FollowChainInput[],
    stops: 0,
    sendBack: (_event: FollowerEvent) => undefined as void,
  };
  return {
    submitBids: fake<SubmitBidsOutput, SubmitBidsInput>(minedAll),
    submitCancel: fake<SubmitCancelOutput, SubmitCancelInput>(() => ({ kind: "mined" })),
    loadCursor: fake<LoadCursorOutput, Record<string, never>>(() => ({ lastProcessedBlock: cursor })),
    publishNotices: fake<void, PublishNoticesInput>(() => undefined),
    saveCursor: fake<void, SaveCursorInput>(() => undefined),
    follower,
    followChain: (input: FollowChainInput, sendBack: (event: FollowerEvent) => void) => {
      follower.calls.push(input);
      follower.sendBack = sendBack;
      return () => {
        follower.stops += 1;
      };
    },
  };
}
type Fakes = ReturnType<typeof fakes>;

async function start(options: { fakes?: Fakes; config?: MachineConfig; startBlock?: number } = {}) {
  const f = options.fakes ?? fakes();
  const acks: GatewayAckParams[] = [];
  const naks: GatewayNakParams[] = [];
  const rejections: NotifyBidRejectedParams[] = [];
  const { follower: _follower, followChain, ...promises } = f;
  const machine = provideGateway(
    { ...runsOf(promises), followChain },
    {
      ackMessages: (params) => void acks.push(params),
      nakMessages: (params) => void naks.push(params),
      notifyBidRejected: (params) => void rejections.push(params),
    },
  );
  const run = await started(machine, { config: options.config ?? cfg, dimension: DIMENSION, startBlock: options.startBlock ?? 10 });
  const { actor, send } = run;
  const bid = (n: number, messageId = `js:${n}`) => send({ type: "BID.RECEIVED", messageId, bid: signedBid(n) });
  const chain = async (fromBlock: number, toBlock: number, events: ChainEvent[] = []) => {
    f.follower.sendBack({ type: "CHAIN.EVENTS.RECEIVED", fromBlock, toBlock, events });
    await flush();
  };
  const intake = () => leafPaths(actor.getSnapshot().value).find((p) => p.startsWith("running.intake.")) ?? "";
  return { ...run, f, acks, naks, rejections, bid, chain, intake };
}

const log = (blockNumber: number, logIndex: number) => ({ blockNumber, logIndex, txHash: bytes32(blockNumber) });
const at = log;

describe("gateway: batching", () => {
  it("flushes a batch as soon as it is full, and acks every bid only after the receipt", async () => {
    const g = await start();
    await g.bid(1);
    await g.bid(2);
    expect(g.f.submitBids.calls).toHaveLength(0);
    expect(g.intake()).toBe("running.intake.collecting");
    await g.bid(3);
    expect(g.f.submitBids.calls).toHaveLength(1);
    expect(g.f.submitBids.calls[0]?.bids.map((b) => b.bidder)).toEqual([address(1), address(2), address(3)]);
    expect(g.acks).toEqual([{ messageIds: ["js:1", "js:2", "js:3"], disposition: "placed" }]);
    expect(g.context().stats).toMatchObject({ batches: 1, placed: 3 });
    expect(g.intake()).toBe("running.intake.idle");
  });

  it("flushes a partial batch after the batch delay", async () => {
    const g = await start();
    await g.bid(1);
    await g.advance(100);
    await g.bid(2);
    await g.advance(99);
    expect(g.f.submitBids.calls).toHaveLength(0);
    await g.advance(1); // 200 ms after the first bid
    expect(g.f.submitBids.calls[0]?.bids).toHaveLength(2);
    expect(g.acks).toEqual([{ messageIds: ["js:1", "js:2"], disposition: "placed" }]);
  });

  it("queues bids that arrive during a submission for the next batch", async () => {
    const f = fakes();
    let release: () => void = () => undefined;
    f.submitBids.respond = (input, call) =>
      call === 0 ? new Promise((resolve) => (release = () => resolve(minedAll(input)))) : minedAll(input);
    const g = await start({ fakes: f });
    await g.bid(1);
    await g.bid(2);
    await g.bid(3);
    await g.bid(4);
    expect(g.context().pending.map((p) => p.bidder)).toEqual([address(4)]);
    release();
    await flush();
    expect(g.intake()).toBe("running.intake.collecting");
    await g.advance(cfg.gateway.batchMaxDelayMs);
    expect(f.submitBids.calls[1]?.bids.map((b) => b.bidder)).toEqual([address(4)]);
  });

  it("merges redeliveries of the same bidder (queued or in flight): one placement, every delivery acked", async () => {
    const f = fakes();
    let release: () => void = () => undefined;
    f.submitBids.respond = (input) => new Promise((resolve) => (release = () => resolve(minedAll(input))));
    const g = await start({ fakes: f });
    await g.bid(1, "js:1");
    await g.bid(1, "js:1-redelivered");
    await g.advance(cfg.gateway.batchMaxDelayMs);
    await g.bid(1, "js:1-again-in-flight");
    release();
    await flush();
    expect(f.submitBids.calls).toHaveLength(1);
    expect(f.submitBids.calls[0]?.bids).toHaveLength(1);
    expect(g.acks).toEqual([{ messageIds: ["js:1", "js:1-redelivered", "js:1-again-in-flight"], disposition: "placed" }]);
  });
});

describe("gateway: failures, duplicates, rejections", () => {
  it("retries a failed transaction with exponential backoff, acking nothing before the receipt", async () => {
    const f = fakes();
    f.submitBids.respond = (input, call) => {
      if (call < 2) throw new Error("nonce too low");
      return minedAll(input);
    };
    const g = await start({ fakes: f });
    await g.bid(1);
    await g.bid(2);
    await g.bid(3);
    expect(g.intake()).toBe("running.intake.submitBackoff");
    expect(g.acks).toEqual([]);
    await g.advance(cfg.gateway.submitRetryBaseMs);
    expect(f.submitBids.calls).toHaveLength(2);
    await g.advance(2 * cfg.gateway.submitRetryBaseMs - 1);
    expect(f.submitBids.calls).toHaveLength(2);
    await g.advance(1);
    expect(f.submitBids.calls).toHaveLength(3);
    expect(f.submitBids.calls[2]).toEqual(f.submitBids.calls[0]);
    expect(g.acks).toEqual([{ messageIds: ["js:1", "js:2", "js:3"], disposition: "placed" }]);
  });

  it("hands the batch back to the durable queue (nak) after submitMaxAttempts", async () => {
    const f = fakes();
    f.submitBids.failAlways("rpc down");
    const g = await start({ fakes: f });
    await g.bid(1);
    await g.bid(2);
    await g.bid(3);
    await g.runFor(120_000);
    expect(f.submitBids.calls).toHaveLength(cfg.gateway.submitMaxAttempts);
    expect(g.naks).toEqual([{ messageIds: ["js:1", "js:2", "js:3"], delayMs: cfg.gateway.nakDelayMs }]);
    expect(g.acks).toEqual([]);
    expect(g.intake()).toBe("running.intake.idle");
  });

  it("acks a reused bidder as a duplicate, a refused bid as rejected (and tells its meter), naks an unreported one", async () => {
    const f = fakes();
    f.submitBids.respond = () => ({
      kind: "mined",
      txHash: bytes32(1),
      results: [
        { bidder: address(1), status: "placed" },
        { bidder: address(2), status: "rejected", reason: "BidderAlreadyUsed" },
        { bidder: address(3), status: "rejected", reason: "TicketExpired(123)" },
      ],
    });
    const g = await start({ fakes: f, config: config({ gateway: { batchMaxSize: 4, batchMaxDelayMs: 200 } }) });
    for (const n of [1, 2, 3, 4]) await g.bid(n);
    expect(g.acks).toEqual([
      { messageIds: ["js:1"], disposition: "placed" },
      { messageIds: ["js:2"], disposition: "duplicate" },
      { messageIds: ["js:3"], disposition: "rejected" },
    ]);
    expect(g.rejections).toEqual([{ bidder: address(3), rejection: { error: "TicketExpired(123)", detail: "" } }]);
    expect(g.naks).toEqual([{ messageIds: ["js:4"], delayMs: 0 }]);
    expect(g.context().stats).toMatchObject({ placed: 1, duplicates: 1, rejected: 1, naked: 1 });
  });

  it("after a whole-batch revert blamed on a reused bidder: acks it as duplicate and resubmits the rest at once", async () => {
    const f = fakes();
    f.submitBids.respond = (input, call) =>
      call === 0 ? { kind: "reverted", bidder: address(2), reason: "BidderAlreadyUsed" } : minedAll(input);
    const g = await start({ fakes: f });
    for (const n of [1, 2, 3]) await g.bid(n);
    expect(f.submitBids.calls.map((c) => c.bids.map((b) => b.bidder))).toEqual([
      [address(1), address(2), address(3)],
      [address(1), address(3)],
    ]);
    expect(g.acks).toEqual([
      { messageIds: ["js:2"], disposition: "duplicate" },
      { messageIds: ["js:1", "js:3"], disposition: "placed" },
    ]);
    expect(g.rejections).toEqual([]);
  });

  it("after a revert blamed on a bad bid: rejects it, tells its meter, resubmits the rest", async () => {
    const f = fakes();
    f.submitBids.respond = (input, call) =>
      call === 0 ? { kind: "reverted", bidder: address(3), reason: "BadBidderSignature" } : minedAll(input);
    const g = await start({ fakes: f });
    for (const n of [1, 2, 3]) await g.bid(n);
    expect(g.acks[0]).toEqual({ messageIds: ["js:3"], disposition: "rejected" });
    expect(g.rejections).toEqual([{ bidder: address(3), rejection: { error: "BadBidderSignature", detail: "" } }]);
    expect(g.acks[1]).toEqual({ messageIds: ["js:1", "js:2"], disposition: "placed" });
  });

  it("refuses a malformed bid before paying gas and acks it so it cannot poison the queue", async () => {
    const g = await start();
    const short = { ...signedBid(5), ciphertext: { left: ["1", "2"], right: ["1", "2", "3", "4"] } };
    await g.send({ type: "BID.RECEIVED", messageId: "js:bad", bid: short });
    await g.send({ type: "BID.RECEIVED", messageId: "js:worse", bid: { nonsense: true } });
    await g.send({ type: "BID.RECEIVED", bid: signedBid(6) }); // no message id: cannot be acked, only recorded
    await g.advance(cfg.gateway.batchMaxDelayMs);
    expect(g.f.submitBids.calls).toHaveLength(0);
    expect(g.acks).toEqual([
      { messageIds: ["js:bad"], disposition: "malformed" },
      { messageIds: ["js:worse"], disposition: "malformed" },
    ]);
    expect(g.rejections).toEqual([{ bidder: address(5), rejection: { error: "InvalidBid", detail: `left must have ${2 * DIMENSION} words` } }]);
    expect(g.context().errors.map((e) => e.kind)).toEqual(["rejected", "rejected", "malformedEvent"]);
  });
});

describe("gateway: cancels", () => {
  const cancel = (n: number) => ({ bidder: address(n), signature: signature(0xcc) });

  it("relays a cancel in its own transaction and acks it", async () => {
    const g = await start();
    await g.send({ type: "CANCEL.RECEIVED", messageId: "c:1", cancel: cancel(1) });
    expect(g.f.submitCancel.calls).toEqual([{ cancel: cancel(1) }]);
    expect(g.acks).toEqual([{ messageIds: ["c:1"], disposition: "cancelRelayed" }]);
    expect(g.context().stats.cancelsRelayed).toBe(1);
  });

  it("acks a cancel the contract refuses (e.g. already matched) without retrying", async () => {
    const f = fakes();
    f.submitCancel.respond = () => ({ kind: "reverted", reason: "UnknownBid" });
    const g = await start({ fakes: f });
    await g.send({ type: "CANCEL.RECEIVED", messageId: "c:1", cancel: cancel(1) });
    expect(g.acks).toEqual([{ messageIds: ["c:1"], disposition: "cancelRejected" }]);
    expect(f.submitCancel.calls).toHaveLength(1);
  });

  it("retries a failed cancel with backoff, then naks it", async () => {
    const f = fakes();
    f.submitCancel.failAlways("rpc");
    const g = await start({ fakes: f });
    await g.send({ type: "CANCEL.RECEIVED", messageId: "c:1", cancel: cancel(1) });
    await g.runFor(120_000);
    expect(f.submitCancel.calls).toHaveLength(cfg.gateway.submitMaxAttempts);
    expect(g.naks).toEqual([{ messageIds: ["c:1"], delayMs: cfg.gateway.nakDelayMs }]);
  });
});

describe("gateway: following the chain", () => {
  it("starts at the start block without a cursor, publishes placements/matches/expiries/cancels, then saves the cursor", async () => {
    const g = await start({ startBlock: 10 });
    expect(g.f.follower.calls).toEqual([{ fromBlock: 10 }]);
    const events: ChainEvent[] = [
      { kind: "bidPlaced", bidder: address(1), side: "buy", ...log(11, 0) },
      { kind: "matched", buyBidder: address(1), sellBidder: address(2), ...log(11, 1) },
      { kind: "bidExpired", bidder: address(3), ...log(12, 0) },
      { kind: "bidCancelled", bidder: address(4), ...log(12, 1) },
    ];
    await g.chain(10, 12, events);
    expect(g.f.publishNotices.calls).toEqual([
      {
        notices: [
          { kind: "placed", noticeId: `${bytes32(11)}:0`, bidder: address(1), side: "buy", at: at(11, 0) },
          {
            kind: "match",
            noticeId: `${bytes32(11)}:1`,
            match: { matchId: `${bytes32(11)}:1`, buyBidder: address(1), sellBidder: address(2) },
            at: at(11, 1),
          },
          { kind: "expired", noticeId: `${bytes32(12)}:0`, bidder: address(3), at: at(12, 0) },
          { kind: "cancelled", noticeId: `${bytes32(12)}:1`, bidder: address(4), at: at(12, 1) },
        ],
      },
    ]);
    expect(g.f.saveCursor.calls).toEqual([{ lastProcessedBlock: 12 }]);
    expect(g.context().lastProcessedBlock).toBe(12);
    // A range without notices only moves the cursor.
    await g.chain(13, 15);
    expect(g.f.publishNotices.calls).toHaveLength(1);
    expect(g.f.saveCursor.calls.at(-1)).toEqual({ lastProcessedBlock: 15 });
  });

  it("restarts from the block after its stored cursor", async () => {
    const g = await start({ fakes: fakes(41), startBlock: 10 });
    expect(g.f.follower.calls).toEqual([{ fromBlock: 42 }]);
  });

  it("saves the cursor only after the notices are published (retrying the publish)", async () => {
    const f = fakes();
    f.publishNotices.failFirst(2, "stream unavailable");
    const g = await start({ fakes: f });
    await g.chain(10, 11, [{ kind: "matched", buyBidder: address(1), sellBidder: address(2), ...log(11, 0) }]);
    expect(f.saveCursor.calls).toHaveLength(0);
    await g.runFor(5_000);
    expect(f.publishNotices.calls).toHaveLength(3);
    expect(f.saveCursor.calls).toEqual([{ lastProcessedBlock: 11 }]);
  });

  it("restarts a failed follower from the block after the last one received (even if not yet published)", async () => {
    const f = fakes();
    f.publishNotices.respond = () => new Promise<void>(() => undefined); // still publishing block 20
    const g = await start({ fakes: f });
    await g.chain(10, 20, [{ kind: "bidExpired", bidder: address(1), ...log(20, 0) }]);
    g.f.follower.sendBack({ type: "CHAIN.FOLLOW.FAILED", error: "ws closed" });
    await flush();
    expect(g.f.follower.stops).toBe(1);
    await g.advance(cfg.gateway.followRetryBaseMs);
    expect(g.f.follower.calls).toEqual([{ fromBlock: 10 }, { fromBlock: 21 }]);
    expect(g.context().lastProcessedBlock).toBeNull();
  });

  it("treats a gap in the block ranges as a follower failure, and drops blocks it already has", async () => {
    const g = await start();
    await g.chain(10, 12);
    await g.chain(15, 16); // 13–14 missing
    expect(g.context().lastReceivedBlock).toBe(12);
    await g.advance(cfg.gateway.followRetryBaseMs);
    expect(g.f.follower.calls.at(-1)).toEqual({ fromBlock: 13 });
    // Overlap: 12 again plus 13 — only block 13's events are kept.
    await g.chain(12, 13, [
      { kind: "bidExpired", bidder: address(9), ...log(12, 0) },
      { kind: "bidExpired", bidder: address(8), ...log(13, 0) },
    ]);
    expect(g.f.publishNotices.calls.at(-1)?.notices.map((n) => (n.kind === "expired" ? n.bidder : ""))).toEqual([address(8)]);
  });

  it("after a crash, a redelivered bid that was already placed is acked as a duplicate, never placed twice", async () => {
    // First life: the transaction is sent but the gateway dies before the receipt: nothing is acked.
    const first = fakes();
    first.submitBids.respond = () => new Promise<SubmitBidsOutput>(() => undefined);
    const g1 = await start({ fakes: first });
    for (const n of [1, 2, 3]) await g1.bid(n);
    g1.actor.stop();
    expect(g1.acks).toEqual([]);
    // Second life: the durable consumer redelivers; the chain already holds bidder 1 and 2.
    const second = fakes(57);
    second.submitBids.respond = (input) => ({
      kind: "mined",
      txHash: bytes32(2),
      results: input.bids.map((bid) => ({
        bidder: bid.bidder,
        status: bid.bidder === address(3) ? ("placed" as const) : ("rejected" as const),
        reason: bid.bidder === address(3) ? undefined : "BidderAlreadyUsed",
      })),
    });
    const g2 = await start({ fakes: second });
    for (const n of [1, 2, 3]) await g2.bid(n, `js:${n}-redelivered`);
    expect(g2.acks).toEqual([
      { messageIds: ["js:3-redelivered"], disposition: "placed" },
      { messageIds: ["js:1-redelivered", "js:2-redelivered"], disposition: "duplicate" },
    ]);
    expect(second.follower.calls).toEqual([{ fromBlock: 58 }]);
  });
});

describe("gateway: shutdown and robustness", () => {
  it("on shutdown: submits what is pending at once, stops following, leaves later deliveries unacked, stops", async () => {
    const g = await start();
    await g.bid(1);
    await g.send({ type: "SHUTDOWN.REQUESTED" });
    expect(g.f.submitBids.calls).toHaveLength(1);
    expect(g.acks).toEqual([{ messageIds: ["js:1"], disposition: "placed" }]);
    await g.bid(2);
    expect(g.actor.getSnapshot().status).toBe("done");
    expect(g.acks).toHaveLength(1);
    expect(g.f.follower.stops).toBe(1);
  });

  it("finishes publishing received blocks before stopping", async () => {
    const f = fakes();
    let release: () => void = () => undefined;
    f.publishNotices.respond = () => new Promise<void>((resolve) => (release = resolve));
    const g = await start({ fakes: f });
    await g.chain(10, 11, [{ kind: "bidExpired", bidder: address(1), ...log(11, 0) }]);
    await g.send({ type: "SHUTDOWN.REQUESTED" });
    expect(g.actor.getSnapshot().status).toBe("active");
    release();
    await flush();
    expect(f.saveCursor.calls).toEqual([{ lastProcessedBlock: 11 }]);
    expect(g.actor.getSnapshot().status).toBe("done");
    expect(g.actor.getSnapshot().output).toMatchObject({ lastProcessedBlock: 11 });
  });

  it("records malformed follower output and keeps running", async () => {
    const g = await start();
    await g.send({ type: "CHAIN.EVENTS.RECEIVED", fromBlock: 10, toBlock: 11, events: [{ kind: "matched" }] });
    await g.send({ type: "CANCEL.RECEIVED", cancel: {} });
    expect(g.actor.getSnapshot().status).toBe("active");
    expect(g.context().errors.map((e) => e.source)).toEqual(["CHAIN.EVENTS.RECEIVED", "CANCEL.RECEIVED"]);
  });

  it("fails effects cleanly when the runtime provided nothing", async () => {
    const actor = createActor(gateway, { input: { config: cfg, dimension: DIMENSION, startBlock: 0 }, clock: new SimulatedClock() });
    actor.start();
    await flush();
    expect(actor.getSnapshot().status).toBe("active");
    expect(actor.getSnapshot().context.errors[0]?.detail).toContain("loadCursor");
  });

  it("pure helpers: log ids, notices, bid checks", () => {
    expect(logIdOf({ txHash: bytes32(1), logIndex: 4 })).toBe(`${bytes32(1)}:4`);
    expect(noticesOf([{ kind: "bidPlaced", bidder: address(1), side: "sell", ...log(1, 0) }])).toEqual([
      { kind: "placed", noticeId: `${bytes32(1)}:0`, bidder: address(1), side: "sell", at: at(1, 0) },
    ]);
    expect(bidProblem(signedBid(1), DIMENSION)).toBeNull();
    expect(bidProblem({ ...signedBid(1), ticket: { ...signedBid(1).ticket, bidder: address(2) } }, DIMENSION)).toBe(
      "ticket is for another bidder",
    );
  });
});
