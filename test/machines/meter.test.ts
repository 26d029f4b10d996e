// meter: enrolment with backoff, the bid queue, routing to bidSession children, and automatic re-bids with a new
// one-time identity (PROTOCOL §5 setup and trading step 5). Real bidSession children with fake effects.
import { describe, expect, it } from "vitest";
import { SimulatedClock, createActor } from "xstate";
import type { BidSessionEffects, BidSessionSnapshot } from "../../machines/bidSession.ts";
import { meter, provideMeter, rebidAfter } from "../../machines/meter.ts";
import type { MeterInput, PlannedBid, RequestEnrolmentInput, RequestEnrolmentOutput } from "../../machines/meter.ts";
import { address, bidSessionFakes, bytes32, certifiedBid, ciphertext, config, fake, flush, leafPath, market, opening, runsOf, started } from "./helpers.ts";
import { type Address } from "../../protocol/base/hex.ts";
import { type MarketDescription, type Match } from "../../protocol/domain.ts";
import { type TradeTerms, fixTradeTerms } from "../../protocol/clearing.ts";

const cfg = config();
const COUNTERPART = address(0xee);

const sessionFakes = () => bidSessionFakes((call) => address(0xb00 + call));
type SessionFakes = ReturnType<typeof sessionFakes>;

function sessionEffects(f: SessionFakes): BidSessionEffects {
  return runsOf(f);
}

const plan = (planId: string, side: "buy" | "sell", priceLevel: number, quantityWh: number): PlannedBid => ({
  planId,
  side,
  priceLevel,
  quantityWh,
});

async function start(
  options: {
    plan?: PlannedBid[];
    enrol?: (input: RequestEnrolmentInput, call: number) => RequestEnrolmentOutput;
    sessions?: SessionFakes;
    config?: MeterInput["config"];
  } = {},
) {
  const sessions = options.sessions ?? sessionFakes();
  const requestEnrolment = fake<RequestEnrolmentOutput, RequestEnrolmentInput>(options.enrol ?? (() => ({ market })));
  const machine = provideMeter({ requestEnrolment: requestEnrolment.run, bidSession: sessionEffects(sessions) });
  const run = await started(machine, { config: options.config ?? cfg, meterId: "meter-7", plan: options.plan ?? [] });
  const { actor, context } = run;
  const active = () => Object.values(context().sessions);
  const child = (sessionId: string) =>
    (actor.getSnapshot().children as Record<string, { getSnapshot(): BidSessionSnapshot } | undefined>)[sessionId];
  const childState = (sessionId: string) => {
    const ref = child(sessionId);
    return ref ? leafPath(ref.getSnapshot().value) : "gone";
  };
  /** The buyer `bidder`'s bid (buy at `buyWh`) matched against a sell of 600 Wh at level 4, and its terms. */
  const matchedWithTerms = async (bidder: Address, buyWh: number) => {
    const match = buyMatch(bidder);
    const terms = termsFor(match, 6, buyWh, 4, 600);
    await run.send({ type: "MATCH.RECEIVED", match });
    await run.send({ type: "TERMS.RECEIVED", bidder, terms, counterpartOpening: opening(4, 600, 2) });
    return { match, terms };
  };
  return { ...run, sessions, requestEnrolment, active, childState, matchedWithTerms };
}

function buyMatch(bidder: Address, matchId = "0xtx:1"): Match {
  return { matchId, buyBidder: bidder, sellBidder: COUNTERPART };
}

function termsFor(match: Match, buyLevel: number, buyWh: number, sellLevel: number, sellWh: number): TradeTerms {
  const fixed = fixTradeTerms({
    matchId: match.matchId,
    buyBidder: match.buyBidder,
    sellBidder: match.sellBidder,
    buyOpening: opening(buyLevel, buyWh),
    sellOpening: opening(sellLevel, sellWh, 2),
    priceLevels: market.priceLevels,
    clearingRule: market.clearingRule,
  });
  if (!fixed.ok) throw new Error(fixed.reason);
  return fixed.terms;
}

describe("meter: enrolment", () => {
  it("enrols with its permanent id, keeps the market description, then becomes ready", async () => {
    const { actor, requestEnrolment } = await start();
    expect(requestEnrolment.calls).toEqual([{ meterId: "meter-7" }]);
    expect(actor.getSnapshot().value).toBe("ready");
    expect(actor.getSnapshot().hasTag("ready")).toBe(true);
    expect(actor.getSnapshot().context.market).toEqual(market);
  });

  it("retries a failed enrolment with capped exponential backoff", async () => {
    const { actor, requestEnrolment, advance } = await start({
      enrol: (_input, call) => {
        if (call < 3) throw new Error("dso not up");
        return { market };
      },
    });
    expect(actor.getSnapshot().value).toBe("enrolmentBackoff");
    await advance(cfg.meter.enrolRetryBaseMs);
    expect(requestEnrolment.calls).toHaveLength(2);
    await advance(2 * cfg.meter.enrolRetryBaseMs - 1);
    expect(requestEnrolment.calls).toHaveLength(2);
    await advance(1);
    expect(requestEnrolment.calls).toHaveLength(3);
    await advance(4 * cfg.meter.enrolRetryBaseMs);
    expect(requestEnrolment.calls).toHaveLength(4);
    expect(actor.getSnapshot().value).toBe("ready");
    expect(actor.getSnapshot().context.errors).toHaveLength(3);
  });

  it("gives up after enrolMaxAttempts when configured to", async () => {
    const { actor, requestEnrolment, runFor } = await start({
      config: config({ meter: { enrolMaxAttempts: 3 } }),
      enrol: () => {
        throw new Error("unknown meter");
      },
    });
    await runFor(60_000);
    expect(requestEnrolment.calls).toHaveLength(3);
    expect(actor.getSnapshot().value).toBe("enrolmentFailed");
    expect(actor.getSnapshot().output).toMatchObject({ enrolled: false });
  });

  it("treats a malformed market description as a failed attempt", async () => {
    const { actor, advance } = await start({
      enrol: (_input, call) => (call === 0 ? ({ market: { marketId: "" } } as unknown as RequestEnrolmentOutput) : { market }),
    });
    expect(actor.getSnapshot().value).toBe("enrolmentBackoff");
    expect(actor.getSnapshot().context.errors[0]).toMatchObject({ kind: "invalidOutput", source: "requestEnrolment" });
    await advance(cfg.meter.enrolRetryBaseMs);
    expect(actor.getSnapshot().value).toBe("ready");
  });

  it("queues bids planned before enrolment and places them once enrolled", async () => {
    let release: (value: RequestEnrolmentOutput) => void = () => undefined;
    const sessions = sessionFakes();
    const requestEnrolment = fake<RequestEnrolmentOutput, RequestEnrolmentInput>(
      () => new Promise((resolve) => (release = resolve)),
    );
    const actor = createActor(
      provideMeter({ requestEnrolment: requestEnrolment.run, bidSession: sessionEffects(sessions) }),
      { input: { config: cfg, meterId: "meter-7" }, clock: new SimulatedClock() },
    ).start();
    await flush();
    actor.send({ type: "BIDS.PLANNED", bids: [plan("p1", "sell", 3, 800)] });
    await flush();
    expect(actor.getSnapshot().context.queue).toHaveLength(1);
    expect(sessions.createOneTimeIdentity.calls).toHaveLength(0);
    release({ market });
    await flush();
    expect(actor.getSnapshot().context.queue).toHaveLength(0);
    expect(sessions.submitBid.calls[0]?.bid.side).toBe("sell");
  });
});

describe("meter: bid sessions", () => {
  it("runs at most maxConcurrentBids sessions and starts the next when one ends", async () => {
    const { actor, active, context, send, sessions } = await start({
      plan: [plan("p1", "buy", 6, 1000), plan("p2", "buy", 5, 500), plan("p3", "sell", 2, 700)],
    });
    expect(active().map((s) => s.planId)).toEqual(["p1", "p2"]);
    expect(context().queue.map((b) => b.planId)).toEqual(["p3"]);
    expect(active().every((s) => s.bidder !== null)).toBe(true);
    const first = active()[0];
    await send({ type: "BID.EXPIRED", bidder: first?.bidder as Address });
    expect(active().map((s) => s.planId)).toEqual(["p2", "p3"]);
    expect(context().outcomes.map((o) => [o.planId, o.outcome.kind])).toEqual([["p1", "expired"]]);
    expect(context().stats).toMatchObject({ sessions: 3, expired: 1, rebids: 0 });
    expect(sessions.createOneTimeIdentity.calls).toHaveLength(3);
    // The finished child is stopped and released, not kept forever.
    expect(Object.keys(actor.getSnapshot().children).sort()).toEqual(active().map((s) => s.sessionId).sort());
  });

  it("routes a match only to the session whose bidder it names; other matches are not errors", async () => {
    const { active, send, childState, context } = await start({ plan: [plan("p1", "buy", 6, 1000), plan("p2", "buy", 5, 500)] });
    const [s1, s2] = active();
    await send({ type: "MATCH.RECEIVED", match: { matchId: "m0", buyBidder: address(1), sellBidder: address(2) } });
    expect(context().errors).toEqual([]);
    await send({ type: "MATCH.RECEIVED", match: buyMatch(s2?.bidder as Address) });
    expect(childState(s1?.sessionId as string)).toBe("onChain.awaitingMatch");
    expect(childState(s2?.sessionId as string)).toBe("trading.opening.awaitingTerms");
  });

  it("records DSO notices for bidders it has no session for", async () => {
    const { send, context } = await start();
    await send({ type: "BID.EXPIRED", bidder: address(0x99) });
    expect(context().errors).toEqual([
      { kind: "unroutable", source: "BID.EXPIRED", detail: `no running session for bidder ${address(0x99)}` },
    ]);
  });

  it("re-bids the unfilled remainder of a partial fill with a new one-time identity", async () => {
    const { active, send, advance, context, sessions, matchedWithTerms } = await start({ plan: [plan("p1", "buy", 6, 1000)] });
    const [first] = active();
    const bidder = first?.bidder as Address;
    const { match, terms } = await matchedWithTerms(bidder, 1000);
    await advance(cfg.meter.deliveryDurationMs);
    await send({
      type: "SETTLEMENT.RECEIVED",
      bidder,
      notice: {
        matchId: match.matchId,
        quantityWh: 600,
        deliveredWh: 600,
        shortfallWh: 0,
        priceMicroPerKWh: terms.priceMicroPerKWh,
        entries: [],
      },
    });
    expect(context().outcomes[0]?.outcome).toMatchObject({ kind: "settled", filledWh: 600, remainderWh: 400 });
    const [rebid] = active();
    expect(rebid).toMatchObject({ planId: "p1", attempt: 2, quantityWh: 400, side: "buy", priceLevel: 6 });
    expect(rebid?.bidder).not.toBe(bidder);
    expect(sessions.createOneTimeIdentity.calls).toHaveLength(2);
    expect(sessions.requestTicket.calls[1]?.bidder).toBe(rebid?.bidder);
    expect(sessions.encryptBid.calls[1]).toEqual({ bidder: rebid?.bidder, side: "buy", priceLevel: 6, quantityWh: 400 });
    expect(context().stats).toMatchObject({ settled: 1, filledWh: 600, rebids: 1 });
  });

  it("does not re-bid a fully filled bid", async () => {
    const { active, advance, context, matchedWithTerms } = await start({ plan: [plan("p1", "buy", 6, 500)] });
    const bidder = active()[0]?.bidder as Address;
    await matchedWithTerms(bidder, 500);
    await advance(cfg.meter.deliveryDurationMs);
    await advance(cfg.meter.settlementTimeoutMs);
    expect(context().outcomes[0]?.outcome).toMatchObject({ kind: "settled", remainderWh: 0 });
    expect(active()).toEqual([]);
    expect(context().queue).toEqual([]);
  });

  it("re-bids the whole quantity when the counterpart voided the match, with a new identity", async () => {
    const { active, send, context } = await start({ plan: [plan("p1", "sell", 3, 900)] });
    const bidder = active()[0]?.bidder as Address;
    await send({ type: "MATCH.RECEIVED", match: { matchId: "m1", buyBidder: COUNTERPART, sellBidder: bidder } });
    await send({ type: "MATCH.VOIDED", bidder, matchId: "m1", reason: "openingTimeout", blamedBidders: [COUNTERPART] });
    expect(context().outcomes[0]?.outcome).toEqual({
      kind: "voided",
      matchId: "m1",
      reason: "openingTimeout",
      blamedSelf: false,
    });
    expect(active()[0]).toMatchObject({ planId: "p1", attempt: 2, quantityWh: 900 });
    expect(active()[0]?.bidder).not.toBe(bidder);
  });

  it("abandons the plan when it was the blamed party of a void", async () => {
    const { active, send, context } = await start({ plan: [plan("p1", "sell", 3, 900)] });
    const bidder = active()[0]?.bidder as Address;
    await send({ type: "MATCH.RECEIVED", match: { matchId: "m1", buyBidder: COUNTERPART, sellBidder: bidder } });
    await send({ type: "MATCH.VOIDED", bidder, matchId: "m1", reason: "openingInvalid", blamedBidders: [bidder] });
    expect(active()).toEqual([]);
    expect(context().abandoned).toEqual([{ planId: "p1", attempt: 1, reason: "voided (openingInvalid) and blamed" }]);
  });

  it("re-bids the whole quantity after the session voided the match on its terms timeout", async () => {
    const { active, send, advance, context } = await start({ plan: [plan("p1", "buy", 6, 1000)] });
    const bidder = active()[0]?.bidder as Address;
    await send({ type: "MATCH.RECEIVED", match: buyMatch(bidder) });
    await advance(cfg.meter.termsTimeoutMs);
    expect(context().outcomes[0]?.outcome).toMatchObject({ kind: "voided", reason: "termsTimeout" });
    expect(active()[0]).toMatchObject({ planId: "p1", attempt: 2, quantityWh: 1000 });
  });

  it("re-bids after a dispute (the disputed trade does not settle)", async () => {
    const sessions = sessionFakes();
    sessions.verifyCounterpartOpening.respond = () => ({ valid: false, reason: "ciphertext-mismatch" });
    const { active, context, matchedWithTerms } = await start({ plan: [plan("p1", "buy", 6, 1000)], sessions });
    const bidder = active()[0]?.bidder as Address;
    await matchedWithTerms(bidder, 1000);
    expect(sessions.reportDispute.calls).toHaveLength(1);
    expect(context().outcomes[0]?.outcome).toMatchObject({ kind: "disputed", raisedBy: "self" });
    expect(active()[0]).toMatchObject({ attempt: 2, quantityWh: 1000 });
  });

  it("abandons a plan after maxAttemptsPerPlan failed sessions", async () => {
    const sessions = sessionFakes();
    sessions.requestTicket.failAlways("refused");
    const { context, active, runFor } = await start({
      plan: [plan("p1", "buy", 6, 1000)],
      sessions,
      config: config({ meter: { maxAttemptsPerPlan: 3, ticketMaxAttempts: 1 } }),
    });
    await runFor(1_000);
    expect(context().outcomes.map((o) => [o.attempt, o.outcome.kind])).toEqual([
      [1, "failed"],
      [2, "failed"],
      [3, "failed"],
    ]);
    expect(context().abandoned).toEqual([{ planId: "p1", attempt: 3, reason: "maxAttemptsPerPlan after failed" }]);
    expect(active()).toEqual([]);
  });

  it("drops a queued plan on cancel and forwards a cancel to a running session", async () => {
    const { active, send, context, sessions } = await start({
      config: config({ meter: { maxConcurrentBids: 1 } }),
      plan: [plan("p1", "buy", 6, 1000), plan("p2", "buy", 5, 500)],
    });
    await send({ type: "BID.CANCEL", planId: "p2" });
    expect(context().queue).toEqual([]);
    await send({ type: "BID.CANCEL", planId: "p1" });
    const bidder = active()[0]?.bidder as Address;
    expect(sessions.cancelBid.calls).toEqual([{ bidder }]);
    await send({ type: "BID.CANCELLED", bidder });
    expect(context().outcomes[0]?.outcome).toEqual({ kind: "cancelled" });
    expect(active()).toEqual([]);
    expect(context().stats.cancelled).toBe(2);
  });

  it("rejects duplicate plan ids and out-of-range price levels", async () => {
    const { send, context } = await start({ config: config({ meter: { maxConcurrentBids: 1 } }), plan: [plan("p1", "buy", 6, 1000)] });
    await send({ type: "BIDS.PLANNED", bids: [plan("p1", "buy", 6, 1), plan("p9", "sell", 10, 1), plan("p2", "sell", 9, 1)] });
    expect(context().queue.map((b) => b.planId)).toEqual(["p2"]);
    expect(context().errors.map((e) => e.detail)).toEqual(["duplicate planId p1", "price level 10 out of range"]);
  });

  it("drains on shutdown: finishes running sessions, starts no new ones, then stops", async () => {
    const { actor, active, send } = await start({
      config: config({ meter: { maxConcurrentBids: 1 } }),
      plan: [plan("p1", "buy", 6, 1000), plan("p2", "buy", 5, 500)],
    });
    await send({ type: "SHUTDOWN.REQUESTED" });
    expect(actor.getSnapshot().value).toBe("draining");
    const bidder = active()[0]?.bidder as Address;
    await send({ type: "BID.EXPIRED", bidder });
    expect(actor.getSnapshot().status).toBe("done");
    expect(actor.getSnapshot().output).toMatchObject({
      enrolled: true,
      stats: { sessions: 1, expired: 1 },
      queue: [{ planId: "p2" }],
    });
  });

  it("survives malformed events in every state", async () => {
    const { actor, send, context } = await start({ plan: [plan("p1", "buy", 6, 1000)] });
    await send({ type: "BIDS.PLANNED", bids: "lots" });
    await send({ type: "TERMS.RECEIVED", bidder: 5 });
    await send({ type: "BID.SESSION.ENDED" });
    await send({ type: "MATCH.RECEIVED", match: { matchId: "" } });
    expect(actor.getSnapshot().status).toBe("active");
    expect(context().errors.map((e) => e.source)).toEqual([
      "BIDS.PLANNED",
      "TERMS.RECEIVED",
      "BID.SESSION.ENDED",
      "MATCH.RECEIVED",
    ]);
    expect(context().sessions).not.toEqual({});
  });

  it("starts only known effects: the unprovided meter fails enrolment, not the process", async () => {
    const { actor } = await started(meter, { config: config({ meter: { enrolMaxAttempts: 1 } }), meterId: "m" });
    expect(actor.getSnapshot().value).toBe("enrolmentFailed");
    expect(actor.getSnapshot().context.errors[0]?.detail).toContain("requestEnrolment");
  });
});

describe("meter: re-bid rule (pure)", () => {
  const session = { side: "buy" as const, priceLevel: 4, quantityWh: 1000 };
  const ended = { planId: "p", attempt: 2 };
  it.each([
    [{ kind: "settled", matchId: "m", filledWh: 1000, remainderWh: 0, measuredWh: 1000, settlement: null }, null],
    [
      { kind: "settled", matchId: "m", filledWh: 300, remainderWh: 700, measuredWh: 300, settlement: null },
      { bid: { planId: "p", side: "buy", priceLevel: 4, quantityWh: 700, attempt: 3 } },
    ],
    [
      { kind: "voided", matchId: "m", reason: "openingTimeout", blamedSelf: false },
      { bid: { planId: "p", side: "buy", priceLevel: 4, quantityWh: 1000, attempt: 3 } },
    ],
    [{ kind: "voided", matchId: "m", reason: "openingTimeout", blamedSelf: true }, { abandon: "voided (openingTimeout) and blamed" }],
    [{ kind: "expired" }, null],
    [{ kind: "closed", reason: "the bid's slot is past its gate closure" }, null],
    [{ kind: "cancelled" }, null],
    [{ kind: "rejected", rejection: { error: "x", detail: "" } }, { bid: { planId: "p", side: "buy", priceLevel: 4, quantityWh: 1000, attempt: 3 } }],
  ] as const)("%o → %o", (outcome, expected) => {
    expect(rebidAfter(ended, session, outcome)).toEqual(expected);
  });

  it("a version 2 re-bid is for the same delivery slot", () => {
    const outcome = { kind: "settled", matchId: "m", filledWh: 300, remainderWh: 700, measuredWh: 300, settlement: null } as const;
    expect(rebidAfter(ended, { ...session, slot: 1_900_000 }, outcome)).toEqual({ bid: { planId: "p", side: "buy", priceLevel: 4, quantityWh: 700, attempt: 3, slot: 1_900_000 } });
  });
});

describe("meter: plans in a version 2 market (delivery slots)", () => {
  const slotMarket: MarketDescription = {
    ...market,
    fhipe: { curve: "BN254", dimension: 3 },
    priceLevels: { ...market.priceLevels, count: 1024 },
    slots: { width: 1, encryptAt: "dso", calendar: { slotSeconds: 900, gateClosureSeconds: 300, slotsPerEpoch: 96, retentionSeconds: 86_400 } },
  };

  it("certifies each planned bid for its slot, refuses a plan without one, and does not re-bid a closed slot", async () => {
    const sessions = sessionFakes();
    sessions.certifyBid.respond = (input, call) => (call === 0 ? { kind: "closed", reason: "the bid's slot is past its gate closure" } : certifiedBid(input));
    const { context, active } = await start({
      enrol: () => ({ market: slotMarket }),
      sessions,
      plan: [
        { planId: "late", side: "buy", priceLevel: 600, quantityWh: 1000, slot: 10 },
        { planId: "noslot", side: "buy", priceLevel: 600, quantityWh: 1000 },
        { planId: "ok", side: "buy", priceLevel: 900, quantityWh: 500, slot: 11 },
      ],
    });
    expect(sessions.certifyBid.calls.map((call) => [call.slot, call.priceLevel])).toEqual([
      [10, 600],
      [11, 900],
    ]);
    expect(context().errors.map((error) => error.detail)).toContain("plan noslot has no delivery slot (a version 2 market needs one)");
    expect(context().stats).toMatchObject({ closed: 1, rebids: 0 });
    expect(active().map((session) => session.planId)).toEqual(["ok"]);
    expect(sessions.submitBid.calls).toHaveLength(1);
  });

  it("re-bids the remainder for the same slot as soon as the terms are accepted, and not again at settlement", async () => {
    const { active, send, context, sessions } = await start({
      enrol: () => ({ market: slotMarket }),
      plan: [{ planId: "p1", side: "buy", priceLevel: 6, quantityWh: 1000, slot: 42 }],
    });
    const [first] = active();
    const bidder = first?.bidder as Address;
    const match = buyMatch(bidder);
    const terms = termsFor(match, 6, 1000, 4, 600);
    await send({ type: "MATCH.RECEIVED", match });
    await send({ type: "TERMS.RECEIVED", bidder, terms, counterpartOpening: { side: 1, slot: 42, priceLevel: 4, quantityWh: 600, salt: bytes32(9), seed: bytes32(10) } });
    // The first session is still delivering (until the slot's end); its remainder is already bidding.
    const running = active();
    expect(running.map((session) => [session.planId, session.attempt, session.quantityWh, session.slot])).toEqual([
      ["p1", 1, 1000, 42],
      ["p1", 2, 400, 42],
    ]);
    expect(sessions.certifyBid.calls.at(-1)).toMatchObject({ slot: 42, quantityWh: 400 });
    await send({
      type: "SETTLEMENT.RECEIVED",
      bidder,
      notice: { matchId: match.matchId, quantityWh: 600, deliveredWh: 600, shortfallWh: 0, priceMicroPerKWh: terms.priceMicroPerKWh, entries: [] },
    });
    expect(context().outcomes[0]?.outcome).toMatchObject({ kind: "settled", filledWh: 600, remainderWh: 400 });
    expect(context().stats).toMatchObject({ settled: 1, rebids: 1 });
    expect(active().map((session) => session.attempt)).toEqual([2]);
  });
});
