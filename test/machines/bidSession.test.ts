// bidSession: every path of one bid (PROTOCOL §4, §5), driven by explicit events and a simulated clock; plus a
// graph check (@xstate/graph) that every state node is reachable.
import { describe, expect, it } from "vitest";
import { SimulatedClock, createActor, createMachine } from "xstate";
import type { AnyEventObject } from "xstate";
import { bidSession, provideBidSession } from "../../machines/bidSession.ts";
import type { BidSessionEffects, BidSessionEvent, BidSessionInput } from "../../machines/bidSession.ts";
import { address, bidSessionFakes, bytes32, certifiedBid, ciphertext, config, flush, market, opening, runsOf, signature, started } from "./helpers.ts";
import { leavesOf, reachedLeaves, type Samples } from "./graph.ts";
import { type Address } from "../../protocol/base/hex.ts";
import { type MarketDescription, type Match, type Opening, type Side } from "../../protocol/domain.ts";
import { type TradeTerms, fixTradeTerms } from "../../protocol/clearing.ts";

const cfg = config();
const OWN = address(0xb1);
const COUNTERPART = address(0xb2);

const fakes = () => bidSessionFakes(() => OWN);
type Fakes = ReturnType<typeof fakes>;

function effectsOf(f: Fakes): BidSessionEffects {
  return runsOf(f);
}

function input(overrides: Partial<BidSessionInput> = {}): BidSessionInput {
  return {
    config: cfg,
    sessionId: "plan-1#1",
    planId: "plan-1",
    attempt: 1,
    side: "buy",
    priceLevel: 6,
    quantityWh: 1000,
    market,
    ...overrides,
  };
}

async function start(options: { fakes?: Fakes; input?: Partial<BidSessionInput> } = {}) {
  const f = options.fakes ?? fakes();
  return { f, ...(await started(provideBidSession(effectsOf(f)), input(options.input))) };
}

function matchFor(side: Side, own: Address = OWN, matchId = "0xtx:1"): Match {
  return side === "buy"
    ? { matchId, buyBidder: own, sellBidder: COUNTERPART }
    : { matchId, buyBidder: COUNTERPART, sellBidder: own };
}

function termsFor(match: Match, own: Opening, counterpart: Opening, side: Side): TradeTerms {
  const fixed = fixTradeTerms({
    matchId: match.matchId,
    buyBidder: match.buyBidder,
    sellBidder: match.sellBidder,
    buyOpening: side === "buy" ? own : counterpart,
    sellOpening: side === "buy" ? counterpart : own,
    priceLevels: market.priceLevels,
    clearingRule: market.clearingRule,
  });
  if (!fixed.ok) throw new Error(fixed.reason);
  return fixed.terms;
}

/** Drives a fresh buy session to `trading.opening.awaitingTerms`. */
async function matched(options: Parameters<typeof start>[0] = {}) {
  const session = await start(options);
  expect(session.state()).toBe("onChain.awaitingMatch");
  const match = matchFor("buy");
  await session.send({ type: "MATCH.RECEIVED", match });
  expect(session.state()).toBe("trading.opening.awaitingTerms");
  const counterpartOpening = opening(4, 600, 2);
  const terms = termsFor(match, opening(6, 1000), counterpartOpening, "buy");
  return { ...session, match, counterpartOpening, terms };
}

describe("bidSession: enrolment-time preparation (one-time identity, ticket, encryption, signature, submission)", () => {
  it("creates a one-time identity, gets a ticket for it, encrypts, signs and submits exactly that bid", async () => {
    const { f, state, actor } = await start();
    expect(state()).toBe("onChain.awaitingMatch");
    expect(f.createOneTimeIdentity.calls).toEqual([{ sessionId: "plan-1#1" }]);
    expect(f.requestTicket.calls).toEqual([{ bidder: OWN, lifetimeSeconds: cfg.meter.bidLifetimeSeconds }]);
    expect(f.encryptBid.calls).toEqual([{ bidder: OWN, side: "buy", priceLevel: 6, quantityWh: 1000 }]);
    expect(f.signBid.calls).toEqual([{ bidder: OWN, side: "buy", ciphertext: ciphertext(), commitment: bytes32(7) }]);
    expect(f.submitBid.calls).toEqual([
      {
        design: "v1",
        bid: {
          bidder: OWN,
          side: "buy",
          ciphertext: ciphertext(),
          commitment: bytes32(7),
          ticket: { bidder: OWN, notAfter: 2_000_000_000, signature: signature(0x11) },
          bidderSignature: signature(0x22),
        },
      },
    ]);
    expect(actor.getSnapshot().context.opening).toEqual(opening(6, 1000));
  });

  it("retries a failed ticket request with capped exponential backoff, then proceeds", async () => {
    const f = fakes();
    f.requestTicket.respond = ({ bidder }, call) => {
      if (call < 2) throw new Error("dso unreachable");
      return { ticket: { bidder, notAfter: 2_000_000_000, signature: signature(0x11) } };
    };
    const { state, advance, actor } = await start({ fakes: f });
    expect(state()).toBe("preparing.ticketBackoff");
    await advance(cfg.meter.requestRetryBaseMs - 1);
    expect(f.requestTicket.calls).toHaveLength(1);
    await advance(1);
    expect(f.requestTicket.calls).toHaveLength(2);
    expect(state()).toBe("preparing.ticketBackoff");
    await advance(2 * cfg.meter.requestRetryBaseMs - 1); // second backoff doubles
    expect(f.requestTicket.calls).toHaveLength(2);
    await advance(1);
    expect(f.requestTicket.calls).toHaveLength(3);
    expect(state()).toBe("onChain.awaitingMatch");
    expect(actor.getSnapshot().context.errors.map((e) => e.source)).toEqual(["requestTicket", "requestTicket"]);
  });

  it("fails at the ticket stage after ticketMaxAttempts", async () => {
    const f = fakes();
    f.requestTicket.failAlways("refused");
    const { runFor, actor } = await start({ fakes: f, input: { config: config({ meter: { ticketMaxAttempts: 2 } }) } });
    await runFor(60_000);
    expect(f.requestTicket.calls).toHaveLength(2);
    expect(actor.getSnapshot().status).toBe("done");
    expect(actor.getSnapshot().output?.outcome).toEqual({ kind: "failed", stage: "ticket", reason: "refused" });
    expect(f.encryptBid.calls).toHaveLength(0);
  });

  it("refuses a ticket issued for another bidder", async () => {
    const f = fakes();
    f.requestTicket.respond = () => ({ ticket: { bidder: COUNTERPART, notAfter: 2_000_000_000, signature: signature(0x11) } });
    const { actor } = await start({ fakes: f });
    expect(actor.getSnapshot().output?.outcome).toMatchObject({ kind: "failed", stage: "ticket" });
    expect(f.encryptBid.calls).toHaveLength(0);
  });

  it("refuses an encryption whose vectors do not have the market's dimension", async () => {
    const f = fakes();
    f.encryptBid.respond = ({ priceLevel, quantityWh }) => ({
      ciphertext: { left: ["1", "2"], right: ["1", "2", "3", "4"] },
      commitment: bytes32(7),
      opening: opening(priceLevel, quantityWh),
    });
    const { actor } = await start({ fakes: f });
    expect(actor.getSnapshot().output?.outcome).toMatchObject({ kind: "failed", stage: "encryption" });
    expect(f.signBid.calls).toHaveLength(0);
  });

  it("refuses an opening that does not match the bid it was asked to encrypt", async () => {
    const f = fakes();
    f.encryptBid.respond = () => ({ ciphertext: ciphertext(), commitment: bytes32(7), opening: opening(5, 1000) });
    const { actor } = await start({ fakes: f });
    expect(actor.getSnapshot().output?.outcome).toMatchObject({ kind: "failed", stage: "encryption" });
  });

  it("fails at signing when the signer fails", async () => {
    const f = fakes();
    f.signBid.failAlways("keystore locked");
    const { actor } = await start({ fakes: f });
    expect(actor.getSnapshot().output?.outcome).toEqual({ kind: "failed", stage: "signing", reason: "keystore locked" });
  });

  it("retries a failed submission, then waits for a match", async () => {
    const f = fakes();
    f.submitBid.failFirst(1, "jetstream timeout");
    const { state, advance } = await start({ fakes: f });
    expect(state()).toBe("onChain.submitBackoff");
    await advance(cfg.meter.requestRetryBaseMs);
    expect(f.submitBid.calls).toHaveLength(2);
    expect(f.submitBid.calls[1]).toEqual(f.submitBid.calls[0]); // the same signed bid, so Nats-Msg-Id dedupes
    expect(state()).toBe("onChain.awaitingMatch");
  });

  it("fails at submission after submitMaxAttempts", async () => {
    const f = fakes();
    f.submitBid.failAlways("no route");
    const { runFor, actor } = await start({ fakes: f });
    await runFor(60_000);
    expect(f.submitBid.calls).toHaveLength(cfg.meter.submitMaxAttempts);
    expect(actor.getSnapshot().output?.outcome).toEqual({ kind: "failed", stage: "submission", reason: "no route" });
  });

  it("fails cleanly when the runtime did not provide an effect", async () => {
    const actor = createActor(bidSession, { input: input(), clock: new SimulatedClock() }).start();
    await flush();
    expect(actor.getSnapshot().output?.outcome).toMatchObject({ kind: "failed", stage: "identity" });
    expect(JSON.stringify(actor.getSnapshot().output)).toContain("createOneTimeIdentity");
  });
});

describe("bidSession: awaiting a match, expiry, rejection, cancel", () => {
  it("ignores matches for other bidders or for our bidder on the wrong side", async () => {
    const { send, state } = await start();
    await send({ type: "MATCH.RECEIVED", match: { matchId: "x", buyBidder: address(9), sellBidder: address(8) } });
    await send({ type: "MATCH.RECEIVED", match: matchFor("sell") }); // we are the buyer
    expect(state()).toBe("onChain.awaitingMatch");
  });

  it("ends expired on the gateway's expiry notice", async () => {
    const { send, actor } = await start();
    await send({ type: "BID.EXPIRED", bidder: address(77) });
    expect(actor.getSnapshot().status).toBe("active");
    await send({ type: "BID.EXPIRED", bidder: OWN });
    expect(actor.getSnapshot().output?.outcome).toEqual({ kind: "expired" });
  });

  it("ends expired locally after the bid lifetime plus grace without any notice", async () => {
    const { advance, actor, state } = await start();
    const lifetime = cfg.meter.bidLifetimeSeconds * 1000 + cfg.meter.expiryGraceMs;
    await advance(lifetime - 1);
    expect(state()).toBe("onChain.awaitingMatch");
    await advance(1);
    expect(actor.getSnapshot().output?.outcome).toEqual({ kind: "expired" });
  });

  it("ends rejected when the contract refused the bid", async () => {
    const { send, actor } = await start();
    const rejection = { error: "TicketExpired", detail: "notAfter 5" };
    await send({ type: "BID.REJECTED", bidder: OWN, rejection });
    expect(actor.getSnapshot().output?.outcome).toEqual({ kind: "rejected", rejection });
  });

  it("cancels an open bid through the gateway and ends cancelled on the chain's confirmation", async () => {
    const { f, send, state, actor } = await start();
    await send({ type: "BID.CANCEL", planId: "other-plan" });
    expect(state()).toBe("onChain.awaitingMatch");
    await send({ type: "BID.CANCEL", planId: "plan-1" });
    expect(f.cancelBid.calls).toEqual([{ bidder: OWN }]);
    expect(state()).toBe("onChain.awaitingCancellation");
    await send({ type: "BID.CANCELLED", bidder: OWN });
    expect(actor.getSnapshot().output?.outcome).toEqual({ kind: "cancelled" });
  });

  it("cancels before anything reached the chain without calling the gateway", async () => {
    const f = fakes();
    let release: () => void = () => undefined;
    f.requestTicket.respond = ({ bidder }) =>
      new Promise((resolve) => {
        release = () => resolve({ ticket: { bidder, notAfter: 2_000_000_000, signature: signature(0x11) } });
      });
    const { send, actor } = await start({ fakes: f });
    await send({ type: "BID.CANCEL", planId: "plan-1" });
    release();
    await flush();
    expect(actor.getSnapshot().output?.outcome).toEqual({ kind: "cancelled" });
    expect(f.submitBid.calls).toHaveLength(0);
    expect(f.cancelBid.calls).toHaveLength(0);
  });

  it("remembers a cancel that arrives while submitting and relays it after the submission", async () => {
    const f = fakes();
    let release: () => void = () => undefined;
    f.submitBid.respond = () => new Promise<void>((resolve) => (release = resolve));
    const { send, state } = await start({ fakes: f });
    expect(state()).toBe("onChain.submitting");
    await send({ type: "BID.CANCEL", planId: "plan-1" });
    release();
    await flush();
    expect(f.cancelBid.calls).toEqual([{ bidder: OWN }]);
    expect(state()).toBe("onChain.awaitingCancellation");
  });

  it("takes a match that raced its cancel (the chain decided first)", async () => {
    const { send, state } = await start();
    await send({ type: "BID.CANCEL", planId: "plan-1" });
    await send({ type: "MATCH.RECEIVED", match: matchFor("buy") });
    expect(state()).toBe("trading.opening.awaitingTerms");
  });

  it("goes back to waiting when relaying the cancel fails", async () => {
    const f = fakes();
    f.cancelBid.failAlways("gateway down");
    const { send, state, actor } = await start({ fakes: f });
    await send({ type: "BID.CANCEL", planId: "plan-1" });
    expect(state()).toBe("onChain.awaitingMatch");
    expect(actor.getSnapshot().context.errors.at(-1)).toMatchObject({ source: "cancelBid", kind: "effectFailed" });
  });
});

describe("bidSession: opening, verification of the counterpart, dispute, void", () => {
  it("sends its opening for the match to the DSO", async () => {
    const { f, match } = await matched();
    expect(f.sendOpening.calls).toEqual([
      { matchId: match.matchId, bidder: OWN, side: "buy", opening: opening(6, 1000) },
    ]);
  });

  it("retries sending the opening until the DSO accepts it", async () => {
    const f = fakes();
    f.sendOpening.failFirst(2, "unknownMatch");
    const session = await start({ fakes: f });
    await session.send({ type: "MATCH.RECEIVED", match: matchFor("buy") });
    expect(session.state()).toBe("trading.opening.openingBackoff");
    await session.advance(cfg.meter.requestRetryBaseMs);
    await session.advance(2 * cfg.meter.requestRetryBaseMs);
    expect(f.sendOpening.calls).toHaveLength(3);
    expect(session.state()).toBe("trading.opening.awaitingTerms");
  });

  it("voids the match itself when no terms arrive in time (and does not blame itself)", async () => {
    const { advance, actor, state } = await matched();
    await advance(cfg.meter.termsTimeoutMs - 1);
    expect(state()).toBe("trading.opening.awaitingTerms");
    await advance(1);
    expect(actor.getSnapshot().output?.outcome).toEqual({
      kind: "voided",
      matchId: "0xtx:1",
      reason: "termsTimeout",
      blamedSelf: false,
    });
  });

  it("ends voided on the DSO's notice, knowing whether it was the blamed party", async () => {
    const cases = [
      { reason: "openingTimeout", blamed: COUNTERPART, blamedSelf: false },
      { reason: "openingInvalid", blamed: OWN, blamedSelf: true },
    ] as const;
    for (const { reason, blamed, blamedSelf } of cases) {
      const session = await matched();
      await session.send({ type: "MATCH.VOIDED", bidder: OWN, matchId: "0xtx:1", reason, blamedBidders: [blamed] });
      expect(session.actor.getSnapshot().output?.outcome).toEqual({ kind: "voided", matchId: "0xtx:1", reason, blamedSelf });
    }
  });

  it("ignores a void notice for another match", async () => {
    const { send, state } = await matched();
    await send({ type: "MATCH.VOIDED", bidder: OWN, matchId: "other", reason: "openingTimeout", blamedBidders: [] });
    expect(state()).toBe("trading.opening.awaitingTerms");
  });

  it("verifies the counterpart's opening against the chain, then delivers", async () => {
    const { f, send, state, terms, counterpartOpening } = await matched();
    await send({ type: "TERMS.RECEIVED", bidder: OWN, terms, counterpartOpening });
    expect(f.verifyCounterpartOpening.calls).toEqual([
      { matchId: "0xtx:1", counterpartBidder: COUNTERPART, counterpartSide: "sell", opening: counterpartOpening },
    ]);
    expect(state()).toBe("trading.delivering");
    expect(f.reportDispute.calls).toHaveLength(0);
  });

  it("reports a dispute when the counterpart's opening does not verify", async () => {
    const f = fakes();
    f.verifyCounterpartOpening.respond = () => ({ valid: false, reason: "commitment-mismatch" });
    const { send, actor, terms, counterpartOpening } = await matched({ fakes: f });
    await send({ type: "TERMS.RECEIVED", bidder: OWN, terms, counterpartOpening });
    const dispute = { code: "commitment-mismatch", detail: "the counterpart's opening does not verify: commitment-mismatch" };
    expect(f.reportDispute.calls).toEqual([{ matchId: "0xtx:1", bidder: OWN, claim: dispute }]);
    expect(actor.getSnapshot().output?.outcome).toEqual({ kind: "disputed", matchId: "0xtx:1", dispute, raisedBy: "self" });
    expect(f.readMeter.calls).toHaveLength(0);
  });

  it("disputes terms that do not follow from the two openings (e.g. a changed quantity)", async () => {
    const { f, send, actor, terms, counterpartOpening } = await matched();
    await send({ type: "TERMS.RECEIVED", bidder: OWN, terms: { ...terms, quantityWh: 1000 }, counterpartOpening });
    expect(f.reportDispute.calls[0]?.claim).toEqual({ code: "terms-mismatch", detail: "the terms do not follow from the two openings" });
    expect(actor.getSnapshot().output?.outcome).toMatchObject({ kind: "disputed", raisedBy: "self" });
  });

  it("disputes when the counterpart cannot be verified at all after retries", async () => {
    const f = fakes();
    f.verifyCounterpartOpening.failAlways("rpc down");
    const { send, runFor, actor, terms, counterpartOpening } = await matched({ fakes: f });
    await send({ type: "TERMS.RECEIVED", bidder: OWN, terms, counterpartOpening });
    await runFor(60_000);
    expect(f.verifyCounterpartOpening.calls).toHaveLength(cfg.meter.tradeStepMaxAttempts);
    expect(actor.getSnapshot().output?.outcome).toMatchObject({
      kind: "disputed",
      dispute: { code: "counterpart-unverifiable", detail: "the counterpart's opening could not be checked: rpc down" },
    });
  });

  it("ends disputed (not settled) when the DSO reports the counterpart disputed the trade", async () => {
    const { send, actor, terms, counterpartOpening } = await matched();
    await send({ type: "TERMS.RECEIVED", bidder: OWN, terms, counterpartOpening });
    const dispute = { code: "ciphertext-mismatch", detail: "the counterpart's opening does not verify" } as const;
    await send({ type: "TRADE.DISPUTED", bidder: OWN, matchId: "0xtx:1", dispute });
    expect(actor.getSnapshot().output?.outcome).toEqual({ kind: "disputed", matchId: "0xtx:1", dispute, raisedBy: "counterpart" });
  });
});

describe("bidSession: delivery, reading, settlement", () => {
  it("delivers for the configured period, reports its reading and ends settled with the remainder", async () => {
    const { f, send, advance, actor, state, terms, counterpartOpening } = await matched();
    await send({ type: "TERMS.RECEIVED", bidder: OWN, terms, counterpartOpening });
    await advance(cfg.meter.deliveryDurationMs - 1);
    expect(state()).toBe("trading.delivering");
    expect(f.readMeter.calls).toHaveLength(0);
    await advance(1);
    expect(f.readMeter.calls).toEqual([{ matchId: "0xtx:1", bidder: OWN, side: "buy", quantityWh: 600 }]);
    expect(f.reportReading.calls).toEqual([{ matchId: "0xtx:1", bidder: OWN, side: "buy", measuredWh: 600 }]);
    expect(state()).toBe("trading.awaitingSettlement");
    // The DSO's notice: the trade's figures and our own lines; the session adds its own reading on its side.
    const notice = {
      matchId: "0xtx:1",
      quantityWh: 600,
      deliveredWh: 600,
      shortfallWh: 0,
      priceMicroPerKWh: terms.priceMicroPerKWh,
      entries: [{ account: { kind: "bidder" as const, bidder: OWN }, amountMicro: "-90000", kind: "energy.buy" as const }],
    };
    const settlement = { ...notice, buyReadingWh: 600, sellReadingWh: null };
    await send({ type: "SETTLEMENT.RECEIVED", bidder: OWN, notice: { ...notice, matchId: "other" } });
    expect(state()).toBe("trading.awaitingSettlement");
    await send({ type: "SETTLEMENT.RECEIVED", bidder: OWN, notice });
    expect(actor.getSnapshot().output?.outcome).toEqual({
      kind: "settled",
      matchId: "0xtx:1",
      filledWh: 600,
      remainderWh: 400,
      measuredWh: 600,
      settlement,
    });
  });

  it("ends settled-unconfirmed when no settlement notice arrives in time", async () => {
    const { send, advance, actor, terms, counterpartOpening } = await matched();
    await send({ type: "TERMS.RECEIVED", bidder: OWN, terms, counterpartOpening });
    await advance(cfg.meter.deliveryDurationMs);
    await advance(cfg.meter.settlementTimeoutMs);
    expect(actor.getSnapshot().output?.outcome).toMatchObject({ kind: "settled", filledWh: 600, settlement: null });
  });

  it("retries reporting the reading, and waits for settlement without it when it keeps failing", async () => {
    const f = fakes();
    f.reportReading.failAlways("stream unavailable");
    const { send, advance, runFor, state, terms, counterpartOpening } = await matched({ fakes: f });
    await send({ type: "TERMS.RECEIVED", bidder: OWN, terms, counterpartOpening });
    await advance(cfg.meter.deliveryDurationMs);
    expect(state()).toBe("trading.readingBackoff");
    await runFor(30_000);
    expect(f.reportReading.calls).toHaveLength(cfg.meter.tradeStepMaxAttempts);
    expect(state()).toBe("trading.awaitingSettlement");
  });

  it("skips the report when the meter cannot be read", async () => {
    const f = fakes();
    f.readMeter.failAlways("sensor");
    const { send, advance, runFor, state, terms, counterpartOpening } = await matched({ fakes: f });
    await send({ type: "TERMS.RECEIVED", bidder: OWN, terms, counterpartOpening });
    await advance(cfg.meter.deliveryDurationMs);
    await runFor(30_000);
    expect(f.readMeter.calls).toHaveLength(cfg.meter.tradeStepMaxAttempts);
    expect(f.reportReading.calls).toHaveLength(0);
    expect(state()).toBe("trading.awaitingSettlement");
  });

  it("works the same for a seller (counterpart is the buy side)", async () => {
    const f = fakes();
    const { send, advance, actor } = await start({ fakes: f, input: { side: "sell", priceLevel: 3, quantityWh: 500 } });
    const match = matchFor("sell");
    await send({ type: "MATCH.RECEIVED", match });
    const counterpartOpening = opening(8, 2000, 3);
    const terms = termsFor(match, opening(3, 500), counterpartOpening, "sell");
    await send({ type: "TERMS.RECEIVED", bidder: OWN, terms, counterpartOpening });
    expect(f.verifyCounterpartOpening.calls[0]).toMatchObject({ counterpartBidder: COUNTERPART, counterpartSide: "buy" });
    await advance(cfg.meter.deliveryDurationMs);
    await advance(cfg.meter.settlementTimeoutMs);
    expect(actor.getSnapshot().output?.outcome).toMatchObject({ kind: "settled", filledWh: 500, remainderWh: 0 });
  });
});

describe("bidSession: robustness and coverage", () => {
  it("records malformed events instead of crashing, and keeps going", async () => {
    const { send, state, actor } = await start();
    await send({ type: "MATCH.RECEIVED", match: 42 });
    await send({ type: "MATCH.RECEIVED" });
    await send({ type: "BID.EXPIRED", bidder: "not-an-address" });
    await send({ type: "SOMETHING.ELSE" });
    expect(actor.getSnapshot().status).toBe("active");
    expect(state()).toBe("onChain.awaitingMatch");
    expect(actor.getSnapshot().context.errors.map((e) => [e.kind, e.source])).toEqual([
      ["malformedEvent", "MATCH.RECEIVED"],
      ["malformedEvent", "MATCH.RECEIVED"],
      ["malformedEvent", "BID.EXPIRED"],
    ]);
    await send({ type: "MATCH.RECEIVED", match: matchFor("buy") });
    expect(state()).toBe("trading.opening.awaitingTerms");
  });

  it("bounds the error list", async () => {
    const { send, actor } = await start({ input: { config: config({ maxRecordedErrors: 3 }) } });
    for (let i = 0; i < 10; i++) await send({ type: "BID.EXPIRED", bidder: `bad${i}` });
    expect(actor.getSnapshot().context.errors).toHaveLength(3);
  });

  it("tells its parent its bidder and, at the end, its outcome", async () => {
    const received: AnyEventObject[] = [];
    const f = fakes();
    const parent = createMachine({
      invoke: { src: provideBidSession(effectsOf(f)), input: input() },
      on: { "*": { actions: ({ event }) => void received.push(event) } },
    });
    const clock = new SimulatedClock();
    const actor = createActor(parent, { clock }).start();
    await flush();
    expect(received[0]).toEqual({ type: "BID.SESSION.IDENTIFIED", sessionId: "plan-1#1", bidder: OWN });
    clock.increment(cfg.meter.bidLifetimeSeconds * 1000 + cfg.meter.expiryGraceMs);
    await flush();
    expect(received.find((e) => e.type === "BID.SESSION.ENDED")).toEqual({
      type: "BID.SESSION.ENDED",
      sessionId: "plan-1#1",
      planId: "plan-1",
      attempt: 1,
      bidder: OWN,
      outcome: { kind: "expired" },
    });
    actor.stop();
  });

  it("reaches every leaf state (graph traversal over the events the machine accepts)", () => {
    const match = matchFor("buy");
    const counterpartOpening = opening(4, 600, 2);
    const terms = termsFor(match, opening(6, 1000), counterpartOpening, "buy");
    const samples: Samples<BidSessionEvent> = {
      events: [
        { type: "BID.CANCEL", planId: "plan-1" },
        { type: "BID.CANCELLED", bidder: OWN },
        { type: "BID.REJECTED", bidder: OWN, rejection: { error: "BadTicket", detail: "" } },
        { type: "MATCH.RECEIVED", match },
        { type: "TERMS.RECEIVED", bidder: OWN, terms, counterpartOpening },
        { type: "MATCH.VOIDED", bidder: OWN, matchId: match.matchId, reason: "openingTimeout", blamedBidders: [] },
        { type: "TRADE.DISPUTED", bidder: OWN, matchId: match.matchId, dispute: { code: "terms-mismatch", detail: "x" } },
      ],
      outputs: {
        // A malformed identity is how a session fails for good.
        createOneTimeIdentity: [{ bidder: OWN }, { bidder: "nope" }],
        requestTicket: [{ ticket: { bidder: OWN, notAfter: 2_000_000_000, signature: signature(0x11) } }],
        encryptBid: [{ ciphertext: ciphertext(), commitment: bytes32(7), opening: opening(6, 1000) }],
        signBid: [{ bidderSignature: signature(0x22) }],
        verifyCounterpartOpening: [{ valid: true }, { valid: false }],
        readMeter: [{ measuredWh: 600 }],
      },
    };
    // Version 2 (a market with slots): certification, no opening round trip, delivery until the slot's end.
    const v2Opening = { side: 1 as const, slot: SLOT, priceLevel: 4, quantityWh: 600, salt: bytes32(9), seed: bytes32(10) };
    const v2Samples: Samples<BidSessionEvent> = {
      events: [
        ...(samples.events ?? []).filter((event) => event.type !== "TERMS.RECEIVED"),
        { type: "TERMS.RECEIVED", bidder: OWN, terms, counterpartOpening: v2Opening },
      ],
      outputs: {
        createOneTimeIdentity: [{ bidder: OWN }],
        certifyBid: [certifiedFor(SLOT), { kind: "closed", reason: "past its gate closure" }, { kind: "certified", bid: "nope" }],
        verifyCounterpartOpening: [{ valid: true }, { valid: false }],
        readMeter: [{ measuredWh: 600 }],
      },
    };
    const reached = new Set([
      ...reachedLeaves(bidSession, { input: input(), samples }),
      ...reachedLeaves(bidSession, { input: input({ market: slotMarket, slot: SLOT }), samples: v2Samples }),
    ]);
    expect([...reached].sort()).toEqual(leavesOf(bidSession).sort());
  });
});

const SLOT = 1_900_000;
const slotMarket: MarketDescription = {
  ...market,
  fhipe: { curve: "BN254", dimension: 3 },
  priceLevels: { ...market.priceLevels, count: 1024 },
  slots: { width: 1, encryptAt: "dso", calendar: { slotSeconds: 900, gateClosureSeconds: 300, slotsPerEpoch: 96, retentionSeconds: 86_400 } },
};

function certifiedFor(slot: number, overrides: { priceLevel?: number; quantityWh?: number } = {}) {
  return certifiedBid({ bidder: OWN, side: "buy", slot, priceLevel: overrides.priceLevel ?? 6, quantityWh: overrides.quantityWh ?? 1000 });
}

describe("bidSession in a version 2 market (certified bids, delivery slots; PROTOCOL §4 v2, §5 v2)", () => {
  const v2Input = (overrides: Partial<BidSessionInput> = {}) => input({ market: slotMarket, slot: SLOT, ...overrides });

  it("has the DSO certify the bid (no ticket, no encryption, no signature at the meter) and submits the certified bid", async () => {
    const f = fakes();
    const { actor } = await start({ fakes: f, input: v2Input() });
    expect(f.requestTicket.calls).toEqual([]);
    expect(f.encryptBid.calls).toEqual([]);
    expect(f.signBid.calls).toEqual([]);
    expect(f.certifyBid.calls).toEqual([{ bidder: OWN, side: "buy", slot: SLOT, priceLevel: 6, quantityWh: 1000 }]);
    expect(f.submitBid.calls).toEqual([{ design: "v2", bid: certifiedFor(SLOT).bid }]);
    expect(actor.getSnapshot().value).toEqual({ onChain: "awaitingMatch" });
  });

  it("ends closed, without retrying, when the DSO will not certify because the slot closed", async () => {
    const f = fakes();
    f.certifyBid.respond = () => ({ kind: "closed", reason: "the bid's slot is past its gate closure" });
    const { actor } = await start({ fakes: f, input: v2Input() });
    expect(actor.getSnapshot().output?.outcome).toEqual({ kind: "closed", reason: "the bid's slot is past its gate closure" });
    expect(f.certifyBid.calls).toHaveLength(1);
    expect(f.submitBid.calls).toEqual([]);
  });

  it("fails a certified bid that is not this bid (another level), and never submits it", async () => {
    const f = fakes();
    f.certifyBid.respond = () => certifiedFor(SLOT, { priceLevel: 7 });
    const { actor } = await start({ fakes: f, input: v2Input() });
    expect(actor.getSnapshot().output?.outcome).toEqual({ kind: "failed", stage: "ticket", reason: "the opening is not this bid's level and quantity" });
    expect(f.submitBid.calls).toEqual([]);
  });

  it("after a match waits for the terms without sending its opening, checks them, and measures at the slot's end", async () => {
    const f = fakes();
    let slotEnded!: () => void;
    f.awaitSlotEnd.respond = () => new Promise<void>((resolve) => (slotEnded = resolve));
    const { actor } = await start({ fakes: f, input: v2Input() });
    const match = matchFor("buy");
    actor.send({ type: "MATCH.RECEIVED", match });
    await flush();
    expect(actor.getSnapshot().value).toEqual({ trading: { opening: "awaitingTerms" } });
    expect(f.sendOpening.calls).toEqual([]);
    const counterpart = { side: 1 as const, slot: SLOT, priceLevel: 4, quantityWh: 600, salt: bytes32(9), seed: bytes32(10) };
    const terms = termsFor(match, opening(6, 1000), { ...opening(4, 600, 2) }, "buy");
    actor.send({ type: "TERMS.RECEIVED", bidder: OWN, terms, counterpartOpening: counterpart });
    await flush();
    expect(f.verifyCounterpartOpening.calls).toEqual([{ matchId: match.matchId, counterpartBidder: COUNTERPART, counterpartSide: "sell", opening: counterpart }]);
    expect(actor.getSnapshot().value).toEqual({ trading: "awaitingSlotEnd" });
    expect(f.awaitSlotEnd.calls).toEqual([{ slot: SLOT }]);
    expect(f.readMeter.calls).toEqual([]);
    slotEnded();
    await flush();
    expect(f.readMeter.calls).toHaveLength(1);
    expect(actor.getSnapshot().value).toEqual({ trading: "awaitingSettlement" });
  });
});
