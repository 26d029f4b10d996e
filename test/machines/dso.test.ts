// dso: setup with retries, enrolment and ticket requests, one tradeSettlement child per match, routing, and resume
// of in-flight trades from the database (PROTOCOL §4, §5). Real tradeSettlement children with fake effects.
import { describe, expect, it } from "vitest";
import { dso, provideDso, tradeChildId } from "../../machines/dso.ts";
import type { AuthenticateMeterInput, AuthenticateMeterOutput, DeployOrAttachContractInput, DeployOrAttachContractOutput, LoadInFlightTradesInput, LoadInFlightTradesOutput, PrepareMasterKeyInput, PrepareMasterKeyOutput, PublishMarketDescriptionInput, SealEnrolmentInput, SealEnrolmentOutput, SignTicketInput, SignTicketOutput, StoreIdentityPairInput, StoreIdentityPairOutput } from "../../machines/dso.ts";
import type { AckMessagesParams, ReplyToRequestParams, TradeRecord, TradeSettlementSnapshot } from "../../machines/tradeSettlement.ts";
import { freshRecord } from "../../machines/tradeSettlement/record.ts";
import { address, config, deferred, fake, flush, leafPath, market, midpointTerms, opening, runsOf, signature, started, tradeSettlementFakes } from "./helpers.ts";
import { type Match } from "../../protocol/domain.ts";

const cfg = config();
const BUYER = address(0xb1);
const SELLER = address(0x51);
const MATCH: Match = { matchId: "0xtx:9", buyBidder: BUYER, sellBidder: SELLER };

function record(overrides: Partial<TradeRecord> = {}): TradeRecord {
  return { ...freshRecord(MATCH), ...overrides };
}

function fakes() {
  return {
    prepareMasterKey: fake<PrepareMasterKeyOutput, PrepareMasterKeyInput>(() => ({ created: true })),
    deployOrAttachContract: fake<DeployOrAttachContractOutput, DeployOrAttachContractInput>(() => ({
      chainId: market.chainId,
      contractAddress: market.contractAddress,
      ticketSigner: market.ticketSigner,
      deployed: true,
    })),
    publishMarketDescription: fake<void, PublishMarketDescriptionInput>(() => undefined),
    loadInFlightTrades: fake<LoadInFlightTradesOutput, LoadInFlightTradesInput>(() => ({ trades: [] })),
    authenticateMeter: fake<AuthenticateMeterOutput, AuthenticateMeterInput>(() => ({ authentic: true })),
    sealEnrolment: fake<SealEnrolmentOutput, SealEnrolmentInput>(({ permanentId }) => ({
      sealedEnrolment: `sealed-for-${permanentId}`,
    })),
    storeIdentityPair: fake<StoreIdentityPairOutput, StoreIdentityPairInput>(() => ({ stored: true })),
    signTicket: fake<SignTicketOutput, SignTicketInput>(({ bidder }) => ({
      ticket: { bidder, notAfter: 2_000_000_000, signature: signature(0x51) },
    })),
    // tradeSettlement children
    ...tradeSettlementFakes(),
  };
}
type Fakes = ReturnType<typeof fakes>;

async function start(options: { fakes?: Fakes; config?: typeof cfg } = {}) {
  const f = options.fakes ?? fakes();
  const replies: ReplyToRequestParams[] = [];
  const acks: AckMessagesParams[] = [];
  const { registerMatch, saveTrade, verifyOpening, sendTerms, writeSettlement, publishTradeOutcome, ...own } = f;
  const machine = provideDso(
    {
      ...runsOf(own),
      tradeSettlement: runsOf({ registerMatch, saveTrade, verifyOpening, sendTerms, writeSettlement, publishTradeOutcome }),
    },
    {
      replyToRequest: (params) => void replies.push(params),
      ackMessages: (params) => void acks.push(params),
    },
  );
  const run = await started(machine, { config: options.config ?? cfg, marketId: "m1" });
  const { actor, send } = run;
  const trade = (matchId: string) =>
    (actor.getSnapshot().children as Record<string, { getSnapshot(): TradeSettlementSnapshot } | undefined>)[
      tradeChildId(matchId)
    ];
  const enrol = (requestId: string, permanentId = "meter-1") =>
    send({ type: "ENROLMENT.REQUESTED", requestId, permanentId, payload: "signed-enrolment", signature: signature(0xaa) });
  const ticket = (requestId: string, bidder = BUYER, lifetimeSeconds = 120) =>
    send({
      type: "TICKET.REQUESTED",
      requestId,
      permanentId: "meter-1",
      bidder,
      lifetimeSeconds,
      payload: "signed-ticket-request",
      signature: signature(0xbb),
    });
  return { ...run, f, replies, acks, trade, enrol, ticket };
}

describe("dso: setup", () => {
  it("prepares the master key, deploys or attaches the contract, publishes the market, resumes, serves", async () => {
    const d = await start();
    expect(d.f.prepareMasterKey.calls).toEqual([{ dimension: 11 }]);
    expect(d.f.deployOrAttachContract.calls).toEqual([{ marketId: "m1", dimension: 11 }]);
    expect(d.f.publishMarketDescription.calls).toEqual([{ market }]);
    expect(d.f.loadInFlightTrades.calls).toEqual([{ marketId: "m1" }]);
    expect(d.actor.getSnapshot().hasTag("serving")).toBe(true);
    expect(d.context().market).toEqual(market);
  });

  it("retries a failed step with backoff and resumes at that step, not from the start", async () => {
    const f = fakes();
    f.deployOrAttachContract.respond = (_input, call) => {
      if (call < 2) throw new Error("rpc not ready");
      return { chainId: market.chainId, contractAddress: market.contractAddress, ticketSigner: market.ticketSigner, deployed: false };
    };
    const d = await start({ fakes: f });
    expect(d.actor.getSnapshot().value).toBe("setupBackoff");
    await d.advance(cfg.dso.setupRetryBaseMs);
    expect(f.deployOrAttachContract.calls).toHaveLength(2);
    await d.advance(2 * cfg.dso.setupRetryBaseMs);
    expect(f.deployOrAttachContract.calls).toHaveLength(3);
    expect(f.prepareMasterKey.calls).toHaveLength(1);
    expect(d.actor.getSnapshot().hasTag("serving")).toBe(true);
  });

  it("gives up after setupMaxAttempts", async () => {
    const f = fakes();
    f.publishMarketDescription.failAlways("no nats");
    const d = await start({ fakes: f, config: config({ dso: { setupMaxAttempts: 3 } }) });
    await d.runFor(60_000);
    expect(f.publishMarketDescription.calls).toHaveLength(3);
    expect(d.actor.getSnapshot().value).toBe("failed");
  });

  it("answers requests that arrive before it serves with notReady", async () => {
    const f = fakes();
    const pending = deferred<PrepareMasterKeyOutput>();
    f.prepareMasterKey.respond = () => pending.promise;
    const d = await start({ fakes: f });
    await d.enrol("e1");
    await d.send({ type: "OPENING.RECEIVED", requestId: "o1", matchId: "x", bidder: BUYER, opening: opening(1, 1) });
    expect(d.replies.map((r) => [r.requestId, r.reply])).toEqual([
      ["e1", { status: "error", refusal: { reason: "notReady" } }],
      ["o1", { status: "error", refusal: { reason: "notReady" } }],
    ]);
    pending.resolve({ created: false });
  });
});

describe("dso: enrolment and tickets", () => {
  it("enrols an authenticated meter: sealed msk and the market description", async () => {
    const d = await start();
    await d.enrol("e1", "meter-42");
    expect(d.f.authenticateMeter.calls).toEqual([
      { purpose: "enrolment", permanentId: "meter-42", payload: "signed-enrolment", signature: signature(0xaa) },
    ]);
    expect(d.f.sealEnrolment.calls).toEqual([{ permanentId: "meter-42" }]);
    expect(d.replies).toEqual([
      {
        requestId: "e1",
        reply: { status: "ok", body: { kind: "enrolment", sealedEnrolment: "sealed-for-meter-42", market } },
      },
    ]);
    expect(d.context().stats.enrolments).toBe(1);
  });

  it("refuses a meter whose long-term signature does not verify against the registry", async () => {
    const f = fakes();
    f.authenticateMeter.respond = () => ({ authentic: false, reason: "unknownMeter" });
    const d = await start({ fakes: f });
    await d.enrol("e1");
    expect(d.replies).toEqual([{ requestId: "e1", reply: { status: "error", refusal: { reason: "unauthenticated", detail: "unknownMeter" } } }]);
    expect(f.sealEnrolment.calls).toHaveLength(0);
    expect(d.context().stats.requestsRefused).toBe(1);
  });

  it("issues a ticket: authenticates, stores (permanent id, bidder), signs with a capped lifetime", async () => {
    const d = await start();
    await d.ticket("t1", BUYER, 999_999);
    expect(d.f.authenticateMeter.calls[0]).toEqual({
      purpose: "ticket",
      permanentId: "meter-1",
      payload: "signed-ticket-request",
      signature: signature(0xbb),
      bidder: BUYER,
      lifetimeSeconds: 999_999,
    });
    expect(d.f.storeIdentityPair.calls).toEqual([{ permanentId: "meter-1", bidder: BUYER }]);
    expect(d.f.signTicket.calls).toEqual([{ bidder: BUYER, lifetimeSeconds: cfg.dso.maxTicketLifetimeSeconds }]);
    expect(d.replies).toEqual([
      {
        requestId: "t1",
        reply: { status: "ok", body: { kind: "ticket", ticket: { bidder: BUYER, notAfter: 2_000_000_000, signature: signature(0x51) } } },
      },
    ]);
  });

  it("refuses a ticket for a bidder already paired with another meter, without signing", async () => {
    const f = fakes();
    f.storeIdentityPair.respond = () => ({ stored: false });
    const d = await start({ fakes: f });
    await d.ticket("t1");
    expect(d.replies[0]?.reply).toEqual({ status: "error", refusal: { reason: "bidderTaken" } });
    expect(f.signTicket.calls).toHaveLength(0);
  });

  it("answers unavailable when an effect fails, and keeps serving", async () => {
    const f = fakes();
    f.storeIdentityPair.failFirst(1, "db locked");
    const d = await start({ fakes: f });
    await d.ticket("t1");
    await d.ticket("t2");
    expect(d.replies.map((r) => [r.requestId, r.reply.status])).toEqual([
      ["t1", "error"],
      ["t2", "ok"],
    ]);
    expect(d.context().errors.at(-1)?.source).toContain("storeIdentityPair");
  });

  it("handles requests one at a time, in arrival order", async () => {
    const f = fakes();
    const first = deferred<AuthenticateMeterOutput>();
    f.authenticateMeter.respond = (_input, call) => (call === 0 ? first.promise : { authentic: true });
    const d = await start({ fakes: f });
    await d.enrol("e1");
    await d.ticket("t1");
    await d.enrol("e2", "meter-2");
    expect(f.authenticateMeter.calls).toHaveLength(1);
    expect(d.context().requestQueue.map((r) => r.requestId)).toEqual(["t1", "e2"]);
    first.resolve({ authentic: true });
    await flush();
    expect(d.replies.map((r) => r.requestId)).toEqual(["e1", "t1", "e2"]);
  });

  it("answers busy when its request queue is full", async () => {
    const f = fakes();
    const hold = deferred<AuthenticateMeterOutput>();
    f.authenticateMeter.respond = () => hold.promise;
    const d = await start({ fakes: f, config: config({ dso: { requestQueueLimit: 1 } }) });
    await d.enrol("e1"); // being handled
    await d.enrol("e2"); // queued
    await d.enrol("e3"); // refused
    expect(d.replies).toEqual([{ requestId: "e3", reply: { status: "error", refusal: { reason: "busy" } } }]);
  });
});

describe("dso: trades", () => {
  it("spawns one tradeSettlement per match and runs it to settlement", async () => {
    const d = await start();
    await d.send({ type: "MATCH.RECEIVED", messageId: "js:1", match: MATCH });
    expect(d.f.registerMatch.calls).toEqual([{ match: MATCH }]);
    expect(d.acks).toEqual([{ messageIds: ["js:1"] }]);
    expect(d.context().trades).toEqual({ [MATCH.matchId]: { buyBidder: BUYER, sellBidder: SELLER } });
    await d.send({ type: "OPENING.RECEIVED", requestId: "o1", matchId: MATCH.matchId, bidder: BUYER, opening: opening(6, 1000) });
    await d.send({ type: "OPENING.RECEIVED", requestId: "o2", matchId: MATCH.matchId, bidder: SELLER, opening: opening(4, 600, 2) });
    expect(d.f.sendTerms.calls).toHaveLength(2);
    await d.send({ type: "READING.RECEIVED", messageId: "js:r1", matchId: MATCH.matchId, bidder: BUYER, measuredWh: 600 });
    await d.send({ type: "READING.RECEIVED", messageId: "js:r2", matchId: MATCH.matchId, bidder: SELLER, measuredWh: 600 });
    await d.advance(cfg.dso.disputeWindowMs);
    expect(d.f.writeSettlement.calls).toHaveLength(1);
    expect(d.context().trades).toEqual({});
    expect(d.context().stats).toMatchObject({ tradesStarted: 1, settled: 1 });
    expect(d.trade(MATCH.matchId)).toBeUndefined();
  });

  it("forwards a redelivered match to the running trade instead of starting a second one", async () => {
    const d = await start();
    await d.send({ type: "MATCH.RECEIVED", messageId: "js:1", match: MATCH });
    await d.send({ type: "MATCH.RECEIVED", messageId: "js:1b", match: MATCH });
    expect(d.f.registerMatch.calls).toHaveLength(1);
    expect(d.acks).toEqual([{ messageIds: ["js:1"] }, { messageIds: ["js:1b"] }]);
    expect(d.context().stats.tradesStarted).toBe(1);
  });

  it("answers openings and disputes for unknown matches, acks stray readings, and records them", async () => {
    const d = await start();
    await d.send({ type: "OPENING.RECEIVED", requestId: "o1", matchId: "nope", bidder: BUYER, opening: opening(1, 1) });
    await d.send({ type: "DISPUTE.RECEIVED", requestId: "d1", matchId: "nope", bidder: BUYER, dispute: { code: "terms-mismatch", detail: "x" } });
    await d.send({ type: "READING.RECEIVED", messageId: "js:r", matchId: "nope", bidder: BUYER, measuredWh: 1 });
    expect(d.replies.map((r) => [r.requestId, r.reply])).toEqual([
      ["o1", { status: "error", refusal: { reason: "unknownMatch" } }],
      ["d1", { status: "error", refusal: { reason: "unknownMatch" } }],
    ]);
    expect(d.acks).toEqual([{ messageIds: ["js:r"] }]);
    expect(d.context().errors.map((e) => e.kind)).toEqual(["unroutable", "unroutable", "unroutable"]);
  });

  it("voids through the child and counts it", async () => {
    const d = await start();
    await d.send({ type: "MATCH.RECEIVED", messageId: "js:1", match: MATCH });
    await d.advance(cfg.dso.openingTimeoutMs);
    expect(d.f.publishTradeOutcome.calls[0]?.outcome).toEqual({
      kind: "voided",
      reason: "openingTimeout",
      blamedBidders: [BUYER, SELLER],
    });
    expect(d.context().stats.voided).toBe(1);
  });

  it("acks and ignores a match whose buyer and seller are the same bidder", async () => {
    const d = await start();
    await d.send({ type: "MATCH.RECEIVED", messageId: "js:x", match: { matchId: "self", buyBidder: BUYER, sellBidder: BUYER } });
    expect(d.f.registerMatch.calls).toHaveLength(0);
    expect(d.acks).toEqual([{ messageIds: ["js:x"] }]);
  });
});

describe("dso: restart", () => {
  it("resumes every in-flight trade from the database at its stored stage", async () => {
    const f = fakes();
    const terms = midpointTerms({ matchId: "m-terms", buyBidder: BUYER, sellBidder: SELLER });
    f.loadInFlightTrades.respond = () => ({
      trades: [
        record({ matchId: "m-open" }),
        record({ matchId: "m-terms", stage: "termsFixed", terms, buyOpening: opening(6, 1000), sellOpening: opening(4, 600, 2) }),
        record({
          matchId: "m-voided",
          stage: "voided",
          resolution: { kind: "voided", reason: "openingTimeout", blamedBidders: [SELLER] },
        }),
        { nonsense: true } as unknown as TradeRecord,
      ],
    });
    const d = await start({ fakes: f });
    expect(d.actor.getSnapshot().hasTag("serving")).toBe(true);
    expect(d.context().stats.tradesResumed).toBe(3);
    expect(f.registerMatch.calls).toHaveLength(0);
    expect(leafPath(d.trade("m-open")?.getSnapshot().value)).toBe("awaitingOpenings");
    // Terms were fixed before the restart: they are sent again, nothing is re-verified.
    expect(f.sendTerms.calls.map((c) => [c.matchId, c.bidder])).toEqual([
      ["m-terms", BUYER],
      ["m-terms", SELLER],
    ]);
    expect(f.verifyOpening.calls).toHaveLength(0);
    // A decided outcome that had not been published is published and closed.
    expect(f.publishTradeOutcome.calls.map((c) => c.matchId)).toEqual(["m-voided"]);
    expect(d.context().trades).not.toHaveProperty("m-voided");
    expect(d.context().errors.map((e) => e.source)).toEqual(["loadInFlightTrades"]);
    // Readings redelivered after the restart reach the resumed trade.
    await d.send({ type: "READING.RECEIVED", messageId: "js:r1", matchId: "m-terms", bidder: SELLER, measuredWh: 600 });
    expect(d.trade("m-terms")?.getSnapshot().context.readings.sellWh).toBe(600);
  });
});

describe("dso: robustness", () => {
  it("records malformed events and keeps serving", async () => {
    const d = await start();
    await d.send({ type: "MATCH.RECEIVED", messageId: "js:1", match: { matchId: 3 } });
    await d.send({ type: "TICKET.REQUESTED", requestId: "t", permanentId: "m", bidder: "0x1" });
    await d.send({ type: "TRADE.ENDED" });
    expect(d.actor.getSnapshot().hasTag("serving")).toBe(true);
    expect(d.replies).toEqual([]);
    expect(d.context().errors.map((e) => e.source)).toEqual(["MATCH.RECEIVED", "TICKET.REQUESTED", "TRADE.ENDED"]);
  });

  it("stops on shutdown", async () => {
    const d = await start();
    await d.send({ type: "SHUTDOWN.REQUESTED" });
    expect(d.actor.getSnapshot().status).toBe("done");
  });

  it("fails setup cleanly when the runtime provided nothing", async () => {
    const { actor } = await started(dso, { config: config({ dso: { setupMaxAttempts: 1 } }), marketId: "m1" });
    expect(actor.getSnapshot().value).toBe("failed");
    expect(actor.getSnapshot().context.errors[0]?.detail).toContain("prepareMasterKey");
  });
});
