// tradeSettlement: the DSO's per-match flow — openings, verification, void and blame, terms, disputes, readings,
// settlement, retries, redelivery and resume from the database (PROTOCOL §5 trading steps 2–7).
import { describe, expect, it } from "vitest";
import type { AnyMachineSnapshot } from "xstate";
import { provideTradeSettlement, tradeSettlement } from "../../machines/tradeSettlement.ts";
import type { AckMessagesParams, ReplyToRequestParams, TradeRecord, TradeSettlementEvent, TradeSettlementInput, TradeSettlementSnapshot } from "../../machines/tradeSettlement.ts";
import { freshRecord as freshTradeRecord } from "../../machines/tradeSettlement/record.ts";
import { address, config, flush, market, midpointTerms, opening, runsOf, started, tradeSettlementFakes } from "./helpers.ts";
import { leavesOf, reachedLeaves, type Samples } from "./graph.ts";
import { type Match } from "../../protocol/domain.ts";
import { entriesSum } from "../../protocol/settlement.ts";

const cfg = config();
const BUYER = address(0xb1);
const SELLER = address(0x51);
const MATCH: Match = { matchId: "0xtx:3", buyBidder: BUYER, sellBidder: SELLER };
const BUY_OPENING = opening(6, 1000, 1);
const SELL_OPENING = opening(4, 600, 2);
/** The terms of the two openings: the sell's 600 Wh at the midpoint of levels 6 and 4. */
const TERMS = midpointTerms(MATCH);

const freshRecord = (): TradeRecord => freshTradeRecord(MATCH);

const fakes = tradeSettlementFakes;
type Fakes = ReturnType<typeof fakes>;

async function start(options: { fakes?: Fakes; input?: Partial<TradeSettlementInput> } = {}) {
  const f = options.fakes ?? fakes();
  const replies: ReplyToRequestParams[] = [];
  const acks: AckMessagesParams[] = [];
  const machine = provideTradeSettlement(runsOf(f), {
    replyToRequest: (params) => void replies.push(params),
    ackMessages: (params) => void acks.push(params),
  });
  const run = await started(machine, { config: cfg, market, match: MATCH, matchMessageIds: ["js:1"], ...options.input });
  const { send } = run;
  const open = (requestId: string, bidder = BUYER, o = BUY_OPENING) =>
    send({ type: "OPENING.RECEIVED", requestId, matchId: MATCH.matchId, bidder, opening: o });
  const openBoth = async () => {
    await open("r-buy", BUYER, BUY_OPENING);
    await open("r-sell", SELLER, SELL_OPENING);
  };
  const reading = (messageId: string, bidder: string, measuredWh: number) =>
    send({ type: "READING.RECEIVED", messageId, matchId: MATCH.matchId, bidder, measuredWh });
  const stagesSaved = () => f.saveTrade.calls.map((c) => `${c.record.stage}${c.record.closed ? ":closed" : ""}`);
  return { ...run, f, replies, acks, open, openBoth, reading, stagesSaved };
}

describe("tradeSettlement: an opening before the match is recorded", () => {
  it("is answered unknownMatch (retryable), not openingWindowClosed, and accepted once the trade waits for openings", async () => {
    const f = fakes();
    let release: () => void = () => {};
    const registered = new Promise<void>((resolve) => (release = resolve));
    f.registerMatch.respond = async () => {
      await registered;
      return { record: freshRecord(), created: true };
    };
    const t = await start({ fakes: f });
    expect(t.state()).toBe("registering");
    await t.open("r-early");
    expect(t.replies).toEqual([{ requestId: "r-early", reply: { status: "error", refusal: { reason: "unknownMatch" } } }]);
    release();
    await flush();
    expect(t.state()).toBe("awaitingOpenings");
    await t.open("r-retry");
    expect(t.replies.at(-1)).toEqual({ requestId: "r-retry", reply: { status: "ok", body: { kind: "openingAccepted" } } });
  });
});

describe("tradeSettlement: the happy path", () => {
  it("records the match, collects both openings, verifies, fixes and stores the terms, sends them crosswise", async () => {
    const t = await start();
    expect(t.f.registerMatch.calls).toEqual([{ match: MATCH }]);
    expect(t.acks).toEqual([{ messageIds: ["js:1"] }]);
    expect(t.state()).toBe("awaitingOpenings");
    await t.openBoth();
    expect(t.replies).toEqual([
      { requestId: "r-buy", reply: { status: "ok", body: { kind: "openingAccepted" } } },
      { requestId: "r-sell", reply: { status: "ok", body: { kind: "openingAccepted" } } },
    ]);
    expect(t.f.verifyOpening.calls).toEqual([
      { matchId: MATCH.matchId, bidder: BUYER, side: "buy", opening: BUY_OPENING },
      { matchId: MATCH.matchId, bidder: SELLER, side: "sell", opening: SELL_OPENING },
    ]);
    const terms = TERMS;
    expect(t.f.saveTrade.calls[0]?.record).toMatchObject({
      stage: "termsFixed",
      terms,
      buyOpening: BUY_OPENING,
      sellOpening: SELL_OPENING,
    });
    // Each meter gets the terms and the counterpart's opening, never its own.
    expect(t.f.sendTerms.calls).toEqual([
      { matchId: MATCH.matchId, bidder: BUYER, side: "buy", terms, counterpartOpening: SELL_OPENING },
      { matchId: MATCH.matchId, bidder: SELLER, side: "sell", terms, counterpartOpening: BUY_OPENING },
    ]);
    expect(t.state()).toBe("afterTerms.collecting.disputeWindow.open|readings.waiting");
  });

  it("settles after the dispute window once both readings are in, then publishes, closes and acks", async () => {
    const t = await start();
    await t.openBoth();
    await t.reading("js:r1", BUYER, 600);
    await t.reading("js:r2", SELLER, 600);
    expect(t.f.writeSettlement.calls).toHaveLength(0); // the dispute window is still open
    await t.advance(cfg.dso.disputeWindowMs);
    const written = t.f.writeSettlement.calls[0]?.record;
    expect(written).toMatchObject({ stage: "settled", settlement: { deliveredWh: 600, shortfallWh: 0, quantityWh: 600 } });
    expect(entriesSum(written?.settlement?.entries ?? [])).toBe(0n);
    expect(t.f.publishTradeOutcome.calls).toEqual([
      { matchId: MATCH.matchId, recipients: [BUYER, SELLER], outcome: { kind: "settled", settlement: written?.settlement } },
    ]);
    expect(t.stagesSaved()).toEqual(["termsFixed", "settled:closed"]);
    expect(t.acks.at(-1)).toEqual({ messageIds: ["js:r1", "js:r2"] });
    expect(t.actor.getSnapshot().output).toMatchObject({ type: "TRADE.ENDED", stage: "settled", matchId: MATCH.matchId });
  });

  it("waits for the readings after the window closes, and keeps only the first reading per party", async () => {
    const t = await start();
    await t.openBoth();
    await t.advance(cfg.dso.disputeWindowMs);
    expect(t.f.writeSettlement.calls).toHaveLength(0);
    await t.reading("js:r1", SELLER, 400);
    await t.reading("js:r1b", SELLER, 9999); // redelivery with a different value: first one stands
    await t.reading("js:r2", BUYER, 600);
    expect(t.f.writeSettlement.calls[0]?.record.settlement).toMatchObject({
      deliveredWh: 400,
      shortfallWh: 200,
      sellReadingWh: 400,
      buyReadingWh: 600,
    });
    expect(t.acks.at(-1)).toEqual({ messageIds: ["js:r1", "js:r1b", "js:r2"] });
  });

  it("settles with what was reported when a reading is missing at the timeout (missing seller = 0 delivered)", async () => {
    const t = await start();
    await t.openBoth();
    await t.reading("js:r1", BUYER, 600);
    await t.advance(cfg.dso.readingTimeoutMs - 1);
    expect(t.f.writeSettlement.calls).toHaveLength(0);
    await t.advance(1);
    expect(t.f.writeSettlement.calls[0]?.record.settlement).toMatchObject({
      deliveredWh: 0,
      shortfallWh: 600,
      sellReadingWh: null,
    });
    expect(t.actor.getSnapshot().output?.stage).toBe("settled");
  });
});

describe("tradeSettlement: void and blame", () => {
  it("voids when the seller does not open in time, blaming only the seller", async () => {
    const t = await start();
    await t.open("r-buy");
    await t.advance(cfg.dso.openingTimeoutMs - 1);
    expect(t.state()).toBe("awaitingOpenings");
    await t.advance(1);
    const resolution = { kind: "voided", reason: "openingTimeout", blamedBidders: [SELLER] };
    expect(t.stagesSaved()).toEqual(["voided", "voided:closed"]);
    expect(t.f.saveTrade.calls[0]?.record.resolution).toEqual(resolution);
    expect(t.f.publishTradeOutcome.calls).toEqual([
      { matchId: MATCH.matchId, recipients: [BUYER, SELLER], outcome: resolution },
    ]);
    expect(t.f.verifyOpening.calls).toHaveLength(0);
    expect(t.actor.getSnapshot().output).toMatchObject({ stage: "voided", resolution });
  });

  it("blames both when neither opens", async () => {
    const t = await start();
    await t.advance(cfg.dso.openingTimeoutMs);
    expect(t.f.publishTradeOutcome.calls[0]?.outcome).toEqual({
      kind: "voided",
      reason: "openingTimeout",
      blamedBidders: [BUYER, SELLER],
    });
  });

  it("voids when an opening does not verify, blaming that party; no terms are sent", async () => {
    const f = fakes();
    f.verifyOpening.respond = ({ side }) => (side === "sell" ? { valid: false, reason: "commitment-mismatch" } : { valid: true });
    const t = await start({ fakes: f });
    await t.openBoth();
    expect(t.f.publishTradeOutcome.calls[0]?.outcome).toEqual({
      kind: "voided",
      reason: "openingInvalid",
      blamedBidders: [SELLER],
    });
    expect(t.f.sendTerms.calls).toHaveLength(0);
    expect(t.actor.getSnapshot().output?.stage).toBe("voided");
  });

  it("voids without blame when both openings verify but buy < sell (the chain mismatched)", async () => {
    const t = await start();
    await t.open("r-buy", BUYER, opening(2, 1000));
    await t.open("r-sell", SELLER, opening(4, 600));
    expect(t.f.publishTradeOutcome.calls[0]?.outcome).toEqual({ kind: "voided", reason: "levelOrder", blamedBidders: [] });
  });

  it("voids an opening with a price level outside the market, blaming its party", async () => {
    const t = await start();
    await t.open("r-buy", BUYER, opening(6, 1000));
    await t.open("r-sell", SELLER, opening(11, 600));
    expect(t.f.publishTradeOutcome.calls[0]?.outcome).toEqual({
      kind: "voided",
      reason: "openingInvalid",
      blamedBidders: [SELLER],
    });
  });
});

describe("tradeSettlement: requests", () => {
  it("answers openings from non-parties, conflicting second openings and identical resends", async () => {
    const t = await start();
    await t.open("r1", address(0x77));
    await t.open("r2", BUYER, BUY_OPENING);
    await t.open("r3", BUYER, opening(6, 999));
    await t.open("r4", BUYER, BUY_OPENING);
    expect(t.replies.map((r) => r.reply)).toEqual([
      { status: "error", refusal: { reason: "notAParty" } },
      { status: "ok", body: { kind: "openingAccepted" } },
      { status: "error", refusal: { reason: "alreadyOpened" } },
      { status: "ok", body: { kind: "openingAccepted" } },
    ]);
    expect(t.actor.getSnapshot().context.record.buyOpening).toEqual(BUY_OPENING);
  });

  it("after the openings, acknowledges only identical resends", async () => {
    const t = await start();
    await t.openBoth();
    await t.open("late1", SELLER, SELL_OPENING);
    await t.open("late2", SELLER, opening(1, 1));
    expect(t.replies.slice(2).map((r) => r.reply)).toEqual([
      { status: "ok", body: { kind: "openingAccepted" } },
      { status: "error", refusal: { reason: "openingWindowClosed" } },
    ]);
  });

  it("refuses a dispute before the terms exist", async () => {
    const t = await start();
    await t.send({ type: "DISPUTE.RECEIVED", requestId: "d1", matchId: MATCH.matchId, bidder: BUYER, dispute: { code: "terms-mismatch", detail: "x" } });
    expect(t.replies).toEqual([{ requestId: "d1", reply: { status: "error", refusal: { reason: "noTermsYet" } } }]);
    expect(t.state()).toBe("awaitingOpenings");
  });

  it("a dispute within the window flags the trade as disputed; it is never settled", async () => {
    const t = await start();
    await t.openBoth();
    await t.reading("js:r1", BUYER, 600);
    await t.send({
      type: "DISPUTE.RECEIVED",
      requestId: "d1",
      matchId: MATCH.matchId,
      bidder: BUYER,
      dispute: { code: "ciphertext-mismatch", detail: "the counterpart's opening does not verify" },
    });
    const resolution = { kind: "disputed", dispute: { code: "ciphertext-mismatch", detail: "the counterpart's opening does not verify" }, raisedBy: BUYER };
    expect(t.replies.at(-1)).toEqual({ requestId: "d1", reply: { status: "ok", body: { kind: "disputeRecorded" } } });
    expect(t.stagesSaved()).toEqual(["termsFixed", "disputed", "disputed:closed"]);
    expect(t.f.publishTradeOutcome.calls).toEqual([
      { matchId: MATCH.matchId, recipients: [BUYER, SELLER], outcome: resolution },
    ]);
    expect(t.f.writeSettlement.calls).toHaveLength(0);
    expect(t.acks.at(-1)).toEqual({ messageIds: ["js:r1"] });
    expect(t.actor.getSnapshot().output).toMatchObject({ stage: "disputed", resolution });
  });

  it("refuses disputes from non-parties and after the window", async () => {
    const t = await start();
    await t.openBoth();
    await t.send({ type: "DISPUTE.RECEIVED", requestId: "d0", matchId: MATCH.matchId, bidder: address(0x99), dispute: { code: "terms-mismatch", detail: "x" } });
    await t.advance(cfg.dso.disputeWindowMs);
    await t.send({ type: "DISPUTE.RECEIVED", requestId: "d1", matchId: MATCH.matchId, bidder: SELLER, dispute: { code: "terms-mismatch", detail: "x" } });
    expect(t.replies.slice(2).map((r) => r.reply)).toEqual([
      { status: "error", refusal: { reason: "notAParty" } },
      { status: "error", refusal: { reason: "disputeWindowClosed" } },
    ]);
    expect(t.state()).toBe("afterTerms.collecting.disputeWindow.closed|readings.waiting");
  });
});

describe("tradeSettlement: failures, redelivery and resume", () => {
  it("retries every database/message effect with backoff and never loses the settlement", async () => {
    const f = fakes();
    f.registerMatch.failFirst(1, "db busy");
    f.saveTrade.failFirst(1, "db busy");
    f.sendTerms.respond = ({ side }, call) => {
      if (side === "sell" && call < 3) throw new Error("nats down");
    };
    f.writeSettlement.failFirst(1, "deadlock");
    f.publishTradeOutcome.failFirst(1, "stream full");
    const t = await start({ fakes: f });
    expect(t.state()).toBe("registerBackoff");
    expect(t.acks).toEqual([]); // not recorded yet: not acked
    await t.runFor(1_000);
    expect(t.acks).toEqual([{ messageIds: ["js:1"] }]);
    await t.openBoth();
    await t.runFor(5_000);
    // The buyer's terms went out once; only the seller's were resent.
    expect(f.sendTerms.calls.filter((c) => c.side === "buy")).toHaveLength(1);
    expect(f.sendTerms.calls.filter((c) => c.side === "sell").length).toBeGreaterThan(1);
    await t.reading("js:r1", BUYER, 600);
    await t.reading("js:r2", SELLER, 600);
    await t.runFor(cfg.dso.disputeWindowMs + 5_000);
    expect(f.writeSettlement.calls).toHaveLength(2);
    expect(f.writeSettlement.calls[1]).toEqual(f.writeSettlement.calls[0]);
    expect(f.publishTradeOutcome.calls).toHaveLength(2);
    expect(t.actor.getSnapshot().output?.stage).toBe("settled");
    expect(t.actor.getSnapshot().context.errors.map((e) => e.source)).toEqual(
      expect.arrayContaining(["registerMatch", "saveTrade", "sendTerms", "writeSettlement", "publishTradeOutcome"]),
    );
  });

  it("retries verification when the verifier fails", async () => {
    const f = fakes();
    f.verifyOpening.failFirst(1, "rpc");
    const t = await start({ fakes: f });
    await t.openBoth();
    expect(t.state()).toBe("verifyBackoff");
    await t.advance(cfg.dso.retryBaseMs);
    expect(t.f.sendTerms.calls).toHaveLength(2);
  });

  it("acks a redelivered match at once when recorded, or after recording", async () => {
    let release: () => void = () => undefined;
    const f = fakes();
    f.registerMatch.respond = () =>
      new Promise((resolve) => (release = () => resolve({ record: freshRecord(), created: true })));
    const t = await start({ fakes: f });
    await t.send({ type: "MATCH.RECEIVED", messageId: "js:1-again", match: MATCH });
    expect(t.acks).toEqual([]);
    release();
    await flush();
    expect(t.acks).toEqual([{ messageIds: ["js:1", "js:1-again"] }]);
    await t.send({ type: "MATCH.RECEIVED", messageId: "js:1-third", match: MATCH });
    expect(t.acks.at(-1)).toEqual({ messageIds: ["js:1-third"] });
  });

  it("continues from an existing row instead of starting over (terms already fixed)", async () => {
    const f = fakes();
    const terms = TERMS;
    f.registerMatch.respond = () => ({
      record: { ...freshRecord(), stage: "termsFixed", buyOpening: BUY_OPENING, sellOpening: SELL_OPENING, terms },
      created: false,
    });
    const t = await start({ fakes: f });
    expect(t.f.verifyOpening.calls).toHaveLength(0);
    expect(t.f.sendTerms.calls.map((c) => c.bidder)).toEqual([BUYER, SELLER]);
    expect(t.state()).toBe("afterTerms.collecting.disputeWindow.open|readings.waiting");
  });

  it("ends at once for a match whose trade is already closed, acking the delivery", async () => {
    const f = fakes();
    f.registerMatch.respond = () => ({ record: { ...freshRecord(), stage: "voided", closed: true }, created: false });
    const t = await start({ fakes: f });
    expect(t.actor.getSnapshot().output?.stage).toBe("alreadyClosed");
    expect(t.acks).toEqual([{ messageIds: ["js:1"] }]);
    expect(t.f.saveTrade.calls).toHaveLength(0);
  });

  it("resumes from the database: awaiting openings gets a fresh window", async () => {
    const t = await start({ input: { resume: freshRecord(), matchMessageIds: [] } });
    expect(t.f.registerMatch.calls).toHaveLength(0);
    expect(t.state()).toBe("awaitingOpenings");
    await t.openBoth();
    expect(t.f.sendTerms.calls).toHaveLength(2);
  });

  it("resumes from the database: a decided but unpublished outcome is published and closed", async () => {
    const resolution = { kind: "voided" as const, reason: "openingTimeout" as const, blamedBidders: [SELLER] };
    const t = await start({ input: { resume: { ...freshRecord(), stage: "voided", resolution }, matchMessageIds: [] } });
    expect(t.f.publishTradeOutcome.calls).toEqual([
      { matchId: MATCH.matchId, recipients: [BUYER, SELLER], outcome: resolution },
    ]);
    expect(t.stagesSaved()).toEqual(["voided:closed"]);
    expect(t.actor.getSnapshot().output?.stage).toBe("voided");
  });

  it("records malformed events without crashing", async () => {
    const t = await start();
    await t.send({ type: "OPENING.RECEIVED", requestId: "r", matchId: MATCH.matchId, bidder: BUYER, opening: { priceLevel: -1 } });
    await t.send({ type: "READING.RECEIVED", messageId: "x", matchId: MATCH.matchId, bidder: BUYER, measuredWh: -5 });
    await t.send({ type: "DISPUTE.RECEIVED" });
    expect(t.actor.getSnapshot().status).toBe("active");
    expect(t.replies).toEqual([]);
    expect(t.actor.getSnapshot().context.errors.map((e) => [e.kind, e.source])).toEqual([
      ["malformedEvent", "OPENING.RECEIVED"],
      ["malformedEvent", "READING.RECEIVED"],
      ["malformedEvent", "DISPUTE.RECEIVED"],
    ]);
  });

  it("reaches every leaf state (graph traversal over the events the machine accepts)", () => {
    const samples: Samples<TradeSettlementEvent> = {
      events: [
        { type: "OPENING.RECEIVED", requestId: "a", matchId: MATCH.matchId, bidder: BUYER, opening: BUY_OPENING },
        { type: "OPENING.RECEIVED", requestId: "b", matchId: MATCH.matchId, bidder: SELLER, opening: SELL_OPENING },
        { type: "READING.RECEIVED", messageId: "r1", matchId: MATCH.matchId, bidder: BUYER, measuredWh: 600 },
        { type: "READING.RECEIVED", messageId: "r2", matchId: MATCH.matchId, bidder: SELLER, measuredWh: 600 },
        { type: "DISPUTE.RECEIVED", requestId: "d", matchId: MATCH.matchId, bidder: BUYER, dispute: { code: "terms-mismatch", detail: "x" } },
      ],
      outputs: {
        registerMatch: [{ record: freshRecord(), created: true }],
        verifyBuyOpening: [{ valid: true }],
        verifySellOpening: [{ valid: true }, { valid: false, reason: "ciphertext-mismatch" }],
      },
    };
    const input: TradeSettlementInput = { config: cfg, market, match: MATCH, matchMessageIds: [] };
    // The value alone would merge "one opening in" with "none in": project the context that steers guards.
    const serializeState = (snapshot: AnyMachineSnapshot) => {
      const { record, verification, readings, disputeWindowClosed } = (snapshot as TradeSettlementSnapshot).context;
      return JSON.stringify([
        snapshot.value,
        record.buyOpening !== null,
        record.sellOpening !== null,
        verification.buy?.valid,
        verification.sell?.valid,
        readings.buyWh !== null,
        readings.sellWh !== null,
        disputeWindowClosed,
        record.resolution?.kind,
      ]);
    };
    const reached = new Set([
      ...reachedLeaves(tradeSettlement, { input, samples, serializeState }),
      // A trade already closed when its machine resumes skips all of it.
      ...reachedLeaves(tradeSettlement, { input: { ...input, resume: { ...freshRecord(), stage: "settled", closed: true } }, samples: {} }),
    ]);
    expect(leavesOf(tradeSettlement).filter((leaf) => !reached.has(leaf))).toEqual([]);
  });
});
