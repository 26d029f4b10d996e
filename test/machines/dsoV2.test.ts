// dso and tradeSettlement in a version 2 market (PROTOCOL §4 v2, §5 v2) with fake effects on a simulated clock: setup
// with the epochs' keys and the slot market, certified-bid requests through the machine, the epoch-key routine, and a
// trade that starts with both certified openings — straight to its terms, readings due at the slot's end.
import { describe, expect, it } from "vitest";
import { provideDso } from "../../machines/dso.ts";
import type {
  AuthenticateMeterInput,
  AuthenticateMeterOutput,
  CertifyBidInput,
  CertifyBidOutput,
  DeployOrAttachContractInput,
  DeployOrAttachContractOutput,
  LoadInFlightTradesInput,
  LoadInFlightTradesOutput,
  MaintainEpochKeysOutput,
  PrepareMasterKeyInput,
  PrepareMasterKeyOutput,
  PublishMarketDescriptionInput,
  SealEnrolmentInput,
  SealEnrolmentOutput,
  SignTicketInput,
  SignTicketOutput,
  StoreIdentityPairInput,
  StoreIdentityPairOutput,
} from "../../machines/dso.ts";
import { provideTradeSettlement } from "../../machines/tradeSettlement.ts";
import type { AckMessagesParams, CertifiedOpening, RegisterMatchInput, RegisterMatchOutput, ReplyToRequestParams, SendTermsInput, SendTermsOutput } from "../../machines/tradeSettlement.ts";
import { freshRecord } from "../../machines/tradeSettlement/record.ts";
import type { Match, MarketDescription, SlotMarketDescription } from "../../protocol/domain.ts";
import { blockParams } from "../../protocol/encoding/blockTokens.ts";
import { address, bytes32, config, fake, market, runsOf, signature, started, tradeSettlementFakes } from "./helpers.ts";

const cfg = config({ market: { priceLevels: { count: 1024 } } });
const SLOTS: SlotMarketDescription = { width: 1, encryptAt: "dso", calendar: { slotSeconds: 900, gateClosureSeconds: 300, slotsPerEpoch: 96, retentionSeconds: 86_400 } };
const v2Market: MarketDescription = { ...market, priceLevels: { ...market.priceLevels, count: 1024 }, fhipe: { curve: "BN254", dimension: 3 }, slots: SLOTS };
const BUYER = address(0xb2);
const SELLER = address(0x52);
const MATCH: Match = { matchId: bytes32(0x77), buyBidder: BUYER, sellBidder: SELLER };
const certified = (side: 0 | 1, priceLevel: number, quantityWh: number): CertifiedOpening => ({
  side,
  slot: 1_000,
  priceLevel,
  quantityWh,
  salt: bytes32(side + 1),
  seed: bytes32(side + 10),
});

describe("tradeSettlement in a version 2 market", () => {
  const start = async (openings: { buy: CertifiedOpening | null; sell: CertifiedOpening | null }, readingsDueInMs = 60_000) => {
    const f = {
      ...tradeSettlementFakes(),
      registerMatch: fake<RegisterMatchOutput, RegisterMatchInput>(({ match }) => ({ record: { ...freshRecord(match), buyOpening: openings.buy, sellOpening: openings.sell }, created: true })),
      sendTerms: fake<SendTermsOutput, SendTermsInput>(() => ({ readingsDueInMs })),
    };
    const acks: AckMessagesParams[] = [];
    const machine = provideTradeSettlement(runsOf(f), { replyToRequest: () => undefined, ackMessages: (params) => void acks.push(params) });
    const run = await started(machine, { config: cfg, market: v2Market, match: MATCH, matchMessageIds: ["js:1"] });
    const reading = (messageId: string, bidder: string, measuredWh: number) => run.send({ type: "READING.RECEIVED", messageId, matchId: MATCH.matchId, bidder, measuredWh });
    return { ...run, f, acks, reading };
  };

  it("goes from the match straight to its terms, sending each side the other's certified opening (no opening, no verification)", async () => {
    const t = await start({ buy: certified(0, 640, 1_500), sell: certified(1, 610, 2_400) });
    expect(t.f.verifyOpening.calls).toEqual([]);
    expect(t.f.saveTrade.calls[0]?.record).toMatchObject({ stage: "termsFixed", terms: { buyLevel: 640, sellLevel: 610, quantityWh: 1_500 } });
    expect(t.f.sendTerms.calls.map((call) => [call.side, call.counterpartOpening])).toEqual([
      ["buy", certified(1, 610, 2_400)],
      ["sell", certified(0, 640, 1_500)],
    ]);
    expect(t.acks).toEqual([{ messageIds: ["js:1"] }]);
    expect(t.state()).toMatch(/^afterTerms\.collecting/);
  });

  it("waits for the readings until the slot's end plus the reading timeout (the terms step says when that is), and settles at once when both are in", async () => {
    const t = await start({ buy: certified(0, 640, 1_500), sell: certified(1, 610, 2_400) }, 60_000);
    // Past version 1's reading timeout but before the slot's end: still collecting.
    await t.runFor(cfg.dso.readingTimeoutMs + 1_000, 500);
    expect(t.f.writeSettlement.calls).toEqual([]);
    await t.reading("r1", SELLER, 1_500);
    await t.reading("r2", BUYER, 1_500);
    await t.runFor(1_000);
    expect(t.f.writeSettlement.calls[0]?.record.settlement).toMatchObject({ quantityWh: 1_500, deliveredWh: 1_500 });
  });

  it("settles without readings only once the slot has ended and the reading timeout passed (a missing seller reading delivers nothing)", async () => {
    const t = await start({ buy: certified(0, 640, 1_500), sell: certified(1, 610, 2_400) }, 60_000);
    await t.runFor(60_000 + cfg.dso.readingTimeoutMs - 1_000, 1_000);
    expect(t.f.writeSettlement.calls).toEqual([]);
    await t.runFor(2_000, 500);
    expect(t.f.writeSettlement.calls[0]?.record.settlement).toMatchObject({ deliveredWh: 0, shortfallWh: 1_500 });
  });

  it("voids a match with a bidder this DSO never certified, blaming it, or two bids of one side", async () => {
    const missing = await start({ buy: null, sell: certified(1, 610, 2_400) });
    expect(missing.f.saveTrade.calls[0]?.record).toMatchObject({ stage: "voided", resolution: { kind: "voided", reason: "openingInvalid", blamedBidders: [BUYER] } });
    expect(missing.f.sendTerms.calls).toEqual([]);
    const sameSide = await start({ buy: certified(1, 640, 1_500), sell: certified(1, 610, 2_400) });
    expect(sameSide.f.saveTrade.calls[0]?.record.resolution).toMatchObject({ kind: "voided", blamedBidders: [BUYER] });
  });
});

describe("dso in a version 2 market", () => {
  const start = async (certify: (input: CertifyBidInput) => CertifyBidOutput) => {
    const maintain = fake<MaintainEpochKeysOutput, Record<string, never>>((_input, call) => ({ prepared: call === 0 ? [20_000, 20_001] : [], destroyed: call === 2 ? [19_999] : [], nextCheckInMs: 1_000 }));
    const f = {
      prepareMasterKey: fake<PrepareMasterKeyOutput, PrepareMasterKeyInput>(() => ({ created: true })),
      deployOrAttachContract: fake<DeployOrAttachContractOutput, DeployOrAttachContractInput>(() => ({ chainId: market.chainId, contractAddress: market.contractAddress, ticketSigner: market.ticketSigner, deployed: true })),
      publishMarketDescription: fake<void, PublishMarketDescriptionInput>(() => undefined),
      loadInFlightTrades: fake<LoadInFlightTradesOutput, LoadInFlightTradesInput>(() => ({ trades: [] })),
      authenticateMeter: fake<AuthenticateMeterOutput, AuthenticateMeterInput>(() => ({ authentic: true })),
      sealEnrolment: fake<SealEnrolmentOutput, SealEnrolmentInput>(() => ({ sealedEnrolment: "sealed" })),
      storeIdentityPair: fake<StoreIdentityPairOutput, StoreIdentityPairInput>(() => ({ stored: true })),
      signTicket: fake<SignTicketOutput, SignTicketInput>(({ bidder }) => ({ ticket: { bidder, notAfter: 2_000_000_000, signature: signature(0x51) } })),
      maintainEpochKeys: maintain,
      certifyBid: fake<CertifyBidOutput, CertifyBidInput>(certify),
    };
    const replies: ReplyToRequestParams[] = [];
    const machine = provideDso({ ...runsOf(f), tradeSettlement: runsOf(tradeSettlementFakes()) }, { replyToRequest: (params) => void replies.push(params), ackMessages: () => undefined });
    const run = await started(machine, { config: cfg, marketId: "m1", slots: SLOTS });
    const ask = (requestId: string, bidder = BUYER) =>
      run.send({ type: "CERTIFY.REQUESTED", requestId, permanentId: "meter-1", bidder, payload: "signed-certify-request", signature: signature(0xcc) });
    return { ...run, f, replies, ask };
  };

  it("sets up with the epochs' keys instead of one msk, deploys the slot market and describes it with its slots and block dimension", async () => {
    const d = await start(() => ({ outcome: "certified", certificate: "c" }));
    expect(d.actor.getSnapshot().hasTag("serving")).toBe(true);
    expect(d.f.prepareMasterKey.calls).toEqual([]);
    expect(d.f.maintainEpochKeys.calls).toHaveLength(1);
    const dimension = blockParams(1024, 1).dim;
    expect(d.f.deployOrAttachContract.calls).toEqual([{ marketId: "m1", dimension, slots: SLOTS }]);
    expect(d.f.publishMarketDescription.calls[0]?.market).toMatchObject({ fhipe: { dimension }, slots: SLOTS });
    // The routine runs again when the effect said, and counts what it did.
    await d.advance(1_000);
    await d.advance(1_000);
    expect(d.f.maintainEpochKeys.calls).toHaveLength(3);
    expect(d.context().stats).toMatchObject({ epochKeysPrepared: 2, epochKeysDestroyed: 1 });
  });

  it("certifies through the request path: authenticated as the meter's, certified, answered; refusals by the certifier's name and a reused bidder as bidderTaken", async () => {
    const d = await start(({ bidder }) =>
      bidder === BUYER ? { outcome: "certified", certificate: "reply-for-buyer" } : bidder === SELLER ? { outcome: "refused", reason: "slotClosed" } : { outcome: "conflict" },
    );
    await d.ask("q1", BUYER);
    await d.ask("q2", SELLER);
    await d.ask("q3", address(0x99));
    expect(d.f.authenticateMeter.calls[0]).toMatchObject({ purpose: "certify", permanentId: "meter-1", bidder: BUYER });
    expect(d.replies).toEqual([
      { requestId: "q1", reply: { status: "ok", body: { kind: "certified", certificate: "reply-for-buyer" } } },
      { requestId: "q2", reply: { status: "ok", body: { kind: "notCertified", reason: "slotClosed" } } },
      { requestId: "q3", reply: { status: "error", refusal: { reason: "bidderTaken" } } },
    ]);
    expect(d.context().stats).toMatchObject({ bidsCertified: 1, requestsRefused: 2 });
    // Not authenticated: never certified.
    d.f.authenticateMeter.respond = () => ({ authentic: false, reason: "notEnrolled" });
    await d.ask("q4");
    expect(d.f.certifyBid.calls).toHaveLength(3);
    expect(d.replies.at(-1)).toEqual({ requestId: "q4", reply: { status: "error", refusal: { reason: "unauthenticated", detail: "notEnrolled" } } });
  });
});
