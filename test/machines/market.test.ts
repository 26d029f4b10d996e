// The four machines wired together in memory (no I/O): a plaintext stand-in for the contract, a fake bus, fake
// crypto. It checks that the machines' contracts fit each other end to end, and doubles as a wiring reference for
// the runtime authors (PROTOCOL §5: bidding, matching, trading; partial fill, void on no opening, dispute).
import { describe, expect, it } from "vitest";
import { SimulatedClock, createActor } from "xstate";
import type { Actor } from "xstate";
import { provideDso } from "../../machines/dso.ts";
import type { DsoMachine } from "../../machines/dso.ts";
import { provideGateway } from "../../machines/gateway.ts";
import type { ChainEvent, FollowerEvent, GatewayMachine, SubmitBidsOutput } from "../../machines/gateway.ts";
import { provideMeter } from "../../machines/meter.ts";
import type { MeterMachine, PlannedBid } from "../../machines/meter.ts";
import type { RequestReply, TradeOutcomeNotice, TradeRecord } from "../../machines/tradeSettlement.ts";
import { freshRecord } from "../../machines/tradeSettlement/record.ts";
import { address, bytes32, ciphertext, config, flush, market, opening, signature } from "./helpers.ts";
import { describeRefusal, type OpeningVerdict } from "../../protocol/reasons.ts";

/** The fakes' opening check: an opening equal to the one the meter made, else (as a changed salt is) a commitment mismatch. */
function verdict(same: boolean): OpeningVerdict {
  return same ? { valid: true } : { valid: false, reason: "commitment-mismatch" };
}

/** What the DSO's runtime tells one party of a settlement: the figures and that party's own lines. */
function noticeFor(settlement: Settlement, bidder: Address) {
  const { buyReadingWh: _buy, sellReadingWh: _sell, entries, ...figures } = settlement;
  return { ...figures, entries: linesOf(entries, bidder) };
}
import { type Address } from "../../protocol/base/hex.ts";
import { type Opening, type Side, type SignedBid } from "../../protocol/domain.ts";
import { type Settlement, entriesSum, linesOf } from "../../protocol/settlement.ts";

const cfg = config();

type MeterBehaviour = {
  /** Never sends its opening (offline after the match). */
  silent?: boolean;
};

/** A whole market in memory. */
function createMarket() {
  const clock = new SimulatedClock();
  let nextId = 1;
  const id = (prefix: string) => `${prefix}${nextId++}`;

  // --- truth known only to the fakes: each bid's opening (what FHIPE would hide) ---
  const openings = new Map<string, { side: Side; opening: Opening }>();
  const owner = new Map<string, Actor<MeterMachine>>();

  // --- the contract, in plaintext: two heaps, one Matched per crossing (PROTOCOL §5) ---
  const placed = new Set<string>();
  const buyBook: Address[] = [];
  const sellBook: Address[] = [];
  const logs: ChainEvent[] = [];
  let block = 0;
  const level = (bidder: Address) => openings.get(bidder.toLowerCase())?.opening.priceLevel ?? -1;
  function place(bid: SignedBid): ChainEvent[] {
    block += 1;
    const txHash = bytes32(block);
    const events: ChainEvent[] = [{ kind: "bidPlaced", bidder: bid.bidder, side: bid.side, blockNumber: block, logIndex: 0, txHash }];
    const [own, other] = bid.side === "buy" ? [buyBook, sellBook] : [sellBook, buyBook];
    other.sort((a, b) => (bid.side === "buy" ? level(a) - level(b) : level(b) - level(a)));
    const root = other[0];
    const crosses = root !== undefined && (bid.side === "buy" ? level(bid.bidder) >= level(root) : level(root) >= level(bid.bidder));
    if (root !== undefined && crosses) {
      other.shift();
      events.push({
        kind: "matched",
        buyBidder: bid.side === "buy" ? bid.bidder : root,
        sellBidder: bid.side === "buy" ? root : bid.bidder,
        blockNumber: block,
        logIndex: 1,
        txHash,
      });
    } else own.push(bid.bidder);
    logs.push(...events);
    return events;
  }

  // --- request/reply plumbing (NATS request → machine event with requestId → replyToRequest action) ---
  const waiting = new Map<string, (reply: RequestReply) => void>();
  const request = (send: (requestId: string) => void) =>
    new Promise<RequestReply>((resolve) => {
      const requestId = id("req-");
      waiting.set(requestId, resolve);
      send(requestId);
    });
  const okOrThrow = (reply: RequestReply) => {
    if (reply.status === "error") throw new Error(describeRefusal(reply.refusal));
    return reply.body;
  };
  const actions = {
    replyToRequest: (params: { requestId: string; reply: RequestReply }) => {
      const resolve = waiting.get(params.requestId);
      waiting.delete(params.requestId);
      resolve?.(params.reply);
    },
    ackMessages: () => undefined,
  };

  // --- the DSO's database ---
  const trades = new Map<string, TradeRecord>();
  const settlements: Settlement[] = [];
  const outcomes: { matchId: string; outcome: TradeOutcomeNotice }[] = [];
  let tamperCounterpartOpening = false;

  let dso!: Actor<DsoMachine>;
  let gateway!: Actor<GatewayMachine>;
  const meters: Actor<MeterMachine>[] = [];
  let sendBackToGateway: (event: FollowerEvent) => void = () => undefined;

  const dsoMachine = provideDso(
    {
      prepareMasterKey: async () => ({ created: true }),
      deployOrAttachContract: async () => ({
        chainId: market.chainId,
        contractAddress: market.contractAddress,
        ticketSigner: market.ticketSigner,
        deployed: true,
      }),
      publishMarketDescription: async () => undefined,
      loadInFlightTrades: async () => ({ trades: [...trades.values()].filter((t) => !t.closed) }),
      authenticateMeter: async () => ({ authentic: true }),
      sealEnrolment: async (input) => ({ sealedEnrolment: `msk-for-${input.permanentId}` }),
      storeIdentityPair: async () => ({ stored: true }),
      signTicket: async (input) => ({ ticket: { bidder: input.bidder, notAfter: 2_000_000_000, signature: signature(0x77) } }),
      tradeSettlement: {
        registerMatch: async (input) => {
          const existing = trades.get(input.match.matchId);
          if (existing) return { record: existing, created: false };
          const record: TradeRecord = freshRecord(input.match);
          trades.set(record.matchId, record);
          return { record, created: true };
        },
        saveTrade: async (input) => void trades.set(input.record.matchId, input.record),
        // Stands for "re-encrypt with msk and compare with the chain".
        verifyOpening: async (input) => verdict(JSON.stringify(openings.get(input.bidder.toLowerCase())?.opening) === JSON.stringify(input.opening)),
        sendTerms: async (input) => {
          const counterpartOpening = tamperCounterpartOpening
            ? { ...input.counterpartOpening, salt: bytes32(0xbad) }
            : input.counterpartOpening;
          owner.get(input.bidder.toLowerCase())?.send({
            type: "TERMS.RECEIVED",
            bidder: input.bidder,
            terms: input.terms,
            counterpartOpening,
          });
        },
        writeSettlement: async (input) => {
          if (input.record.settlement) settlements.push(input.record.settlement);
          trades.set(input.record.matchId, input.record);
        },
        publishTradeOutcome: async (input) => {
          outcomes.push({ matchId: input.matchId, outcome: input.outcome });
          for (const bidder of input.recipients) {
            const meter = owner.get(bidder.toLowerCase());
            if (input.outcome.kind === "settled")
              meter?.send({ type: "SETTLEMENT.RECEIVED", bidder, notice: noticeFor(input.outcome.settlement, bidder) });
            else if (input.outcome.kind === "voided")
              meter?.send({
                type: "MATCH.VOIDED",
                bidder,
                matchId: input.matchId,
                reason: input.outcome.reason,
                blamedBidders: input.outcome.blamedBidders,
              });
            else meter?.send({ type: "TRADE.DISPUTED", bidder, matchId: input.matchId, dispute: input.outcome.dispute });
          }
        },
      },
    },
    actions,
  );

  const gatewayMachine = provideGateway(
    {
      submitBids: async (input): Promise<SubmitBidsOutput> => {
        const fromBlock = block + 1;
        const events: ChainEvent[] = [];
        const results = input.bids.map((bid) => {
          if (placed.has(bid.bidder)) return { bidder: bid.bidder, status: "rejected" as const, reason: "BidderAlreadyUsed" };
          placed.add(bid.bidder);
          events.push(...place(bid));
          return { bidder: bid.bidder, status: "placed" as const };
        });
        queueMicrotask(() => sendBackToGateway({ type: "CHAIN.EVENTS.RECEIVED", fromBlock, toBlock: block, events }));
        return { kind: "mined", txHash: bytes32(block), results };
      },
      submitCancel: async () => ({ kind: "mined" }),
      loadCursor: async () => ({ lastProcessedBlock: null }),
      followChain: (_input, sendBack) => {
        sendBackToGateway = sendBack;
        return () => undefined;
      },
      publishNotices: async (input) => {
        for (const notice of input.notices) {
          if (notice.kind !== "match") continue;
          dso.send({ type: "MATCH.RECEIVED", messageId: notice.noticeId, match: notice.match });
          for (const meter of meters) meter.send({ type: "MATCH.RECEIVED", match: notice.match });
        }
      },
      saveCursor: async () => undefined,
    },
    { ackMessages: () => undefined, nakMessages: () => undefined, notifyBidRejected: () => undefined },
  );

  function addMeter(meterId: string, plan: PlannedBid[], behaviour: MeterBehaviour = {}) {
    let self!: Actor<MeterMachine>;
    const meterMachine = provideMeter({
      requestEnrolment: async (input) => {
        const body = okOrThrow(
          await request((requestId) =>
            dso.send({ type: "ENROLMENT.REQUESTED", requestId, permanentId: input.meterId, payload: "signed", signature: signature(0x01) }),
          ),
        );
        if (body.kind !== "enrolment") throw new Error("not an enrolment");
        return { market: body.market };
      },
      bidSession: {
        createOneTimeIdentity: async () => {
          const bidder = address(0x1000 + nextId++);
          owner.set(bidder.toLowerCase(), self);
          return { bidder };
        },
        certifyBid: async () => {
          throw new Error("version 1 market: no certified bids");
        },
        awaitSlotEnd: async () => undefined,
        requestTicket: async (input) => {
          const body = okOrThrow(
            await request((requestId) =>
              dso.send({
                type: "TICKET.REQUESTED",
                requestId,
                permanentId: meterId,
                bidder: input.bidder,
                lifetimeSeconds: input.lifetimeSeconds,
                payload: "signed",
                signature: signature(0x01),
              }),
            ),
          );
          if (body.kind !== "ticket") throw new Error("not a ticket");
          return { ticket: body.ticket };
        },
        encryptBid: async (input) => {
          const o = opening(input.priceLevel, input.quantityWh, nextId++);
          openings.set(input.bidder.toLowerCase(), { side: input.side, opening: o });
          return { ciphertext: ciphertext(nextId), commitment: bytes32(nextId), opening: o };
        },
        signBid: async () => ({ bidderSignature: signature(0x02) }),
        submitBid: async (input) => {
          gateway.send({ type: "BID.RECEIVED", messageId: id("js-"), bid: input.bid });
        },
        cancelBid: async () => undefined,
        sendOpening: async (input) => {
          if (behaviour.silent) return new Promise<void>(() => undefined);
          okOrThrow(
            await request((requestId) =>
              dso.send({ type: "OPENING.RECEIVED", requestId, matchId: input.matchId, bidder: input.bidder, opening: input.opening }),
            ),
          );
        },
        verifyCounterpartOpening: async (input) =>
          verdict(JSON.stringify(openings.get(input.counterpartBidder.toLowerCase())?.opening) === JSON.stringify(input.opening)),
        reportDispute: async (input) => {
          okOrThrow(
            await request((requestId) =>
              dso.send({ type: "DISPUTE.RECEIVED", requestId, matchId: input.matchId, bidder: input.bidder, dispute: input.claim }),
            ),
          );
        },
        readMeter: async (input) => ({ measuredWh: input.quantityWh }),
        reportReading: async (input) => {
          dso.send({
            type: "READING.RECEIVED",
            messageId: id("js-r"),
            matchId: input.matchId,
            bidder: input.bidder,
            measuredWh: input.measuredWh,
          });
        },
      },
    });
    self = createActor(meterMachine, { input: { config: cfg, meterId, plan }, clock });
    meters.push(self);
    return self;
  }

  async function start() {
    dso = createActor(dsoMachine, { input: { config: cfg, marketId: "m1" }, clock });
    gateway = createActor(gatewayMachine, { input: { config: cfg, dimension: market.fhipe.dimension, startBlock: 1 }, clock });
    dso.start();
    gateway.start();
    await flush();
    for (const meter of meters) meter.start();
    await flush();
  }

  async function runFor(ms: number, step = 50) {
    for (let elapsed = 0; elapsed < ms; elapsed += step) {
      clock.increment(step);
      await flush(4);
    }
  }

  return {
    addMeter,
    start,
    runFor,
    logs,
    settlements,
    outcomes,
    trades,
    tamper: () => (tamperCounterpartOpening = true),
    get dso() {
      return dso;
    },
  };
}

const bid = (planId: string, side: Side, priceLevel: number, quantityWh: number): PlannedBid => ({
  planId,
  side,
  priceLevel,
  quantityWh,
});

describe("market (all machines, in memory)", () => {
  it("matches, settles at the midpoint, and re-bids the seller's remainder under a new identity", async () => {
    const m = createMarket();
    const seller = m.addMeter("pv-house", [bid("s1", "sell", 3, 1000)]);
    const buyer = m.addMeter("flat", [bid("b1", "buy", 6, 600)]);
    await m.start();
    await m.runFor(cfg.dso.disputeWindowMs + cfg.meter.deliveryDurationMs + 1_000);

    expect(m.logs.filter((l) => l.kind === "matched")).toHaveLength(1);
    expect(m.settlements).toHaveLength(1);
    const [settlement] = m.settlements;
    expect(settlement).toMatchObject({ quantityWh: 600, deliveredWh: 600, priceMicroPerKWh: 145_000 });
    expect(entriesSum(settlement?.entries ?? [])).toBe(0n);
    expect(buyer.getSnapshot().context.outcomes[0]?.outcome).toMatchObject({ kind: "settled", filledWh: 600, remainderWh: 0 });
    const sellerContext = seller.getSnapshot().context;
    expect(sellerContext.outcomes[0]?.outcome).toMatchObject({ kind: "settled", filledWh: 600, remainderWh: 400 });
    const rebid = Object.values(sellerContext.sessions)[0];
    expect(rebid).toMatchObject({ planId: "s1", attempt: 2, quantityWh: 400 });
    expect(rebid?.bidder).not.toBe(sellerContext.outcomes[0]?.bidder);
    // The remainder is on the book under the new identity.
    expect(m.logs.filter((l) => l.kind === "bidPlaced").map((l) => (l.kind === "bidPlaced" ? l.bidder : ""))).toContain(rebid?.bidder);
    expect(m.dso.getSnapshot().context.stats).toMatchObject({ settled: 1, ticketsIssued: 3, enrolments: 2 });
  });

  it("voids a match whose buyer never opens; the seller re-bids its whole quantity", async () => {
    const m = createMarket();
    const seller = m.addMeter("pv-house", [bid("s1", "sell", 2, 500)]);
    const buyer = m.addMeter("offline", [bid("b1", "buy", 7, 500)], { silent: true });
    await m.start();
    await m.runFor(cfg.meter.termsTimeoutMs + 1_000);

    const buyerBidder = buyer.getSnapshot().context.outcomes[0]?.bidder;
    expect(m.outcomes[0]?.outcome).toEqual({ kind: "voided", reason: "openingTimeout", blamedBidders: [buyerBidder] });
    expect(seller.getSnapshot().context.outcomes[0]?.outcome).toMatchObject({ kind: "voided", blamedSelf: false });
    expect(Object.values(seller.getSnapshot().context.sessions)[0]).toMatchObject({ attempt: 2, quantityWh: 500 });
    expect(buyer.getSnapshot().context.abandoned).toHaveLength(1);
    expect(m.settlements).toHaveLength(0);
  });

  it("a forged counterpart opening is detected by the meter and disputed; the trade is not settled", async () => {
    const m = createMarket();
    m.tamper();
    const seller = m.addMeter("pv-house", [bid("s1", "sell", 2, 500)]);
    const buyer = m.addMeter("flat", [bid("b1", "buy", 7, 500)]);
    await m.start();
    await m.runFor(cfg.dso.disputeWindowMs + 1_000);

    expect(m.outcomes[0]?.outcome).toMatchObject({ kind: "disputed", dispute: { code: "commitment-mismatch" } });
    expect(m.settlements).toHaveLength(0);
    expect([...m.trades.values()][0]).toMatchObject({ stage: "disputed", closed: true });
    const kinds = [seller, buyer].map((meter) => meter.getSnapshot().context.outcomes[0]?.outcome.kind);
    expect(kinds).toEqual(["disputed", "disputed"]);
  });
});
