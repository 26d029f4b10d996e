// The DSO runtime in version 2 (PROTOCOL §4 v2, §5 v2) with a real nats-server, a real local chain (the slot market),
// real SQLite and real pairings; the meters and the gateway are played from here with the real adapters: meters enrol
// (sealed), certify their bids (`requestCertifiedBid`), the gateway places them with the DSO's hints and publishes the
// chain's Matched on the matches stream. Time is the market clock the DSO is given, the chain kept on it
// (actors/chain/chainClock.ts), so the test moves across gate closures, epochs and key retention by jumping it.
import { randomBytes } from "node:crypto";
import { statSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Msg, Subscription } from "@nats-io/transport-node";
import { JsonRpcProvider, NonceManager, Wallet, getBytes, hexlify, type HDNodeWallet, type TransactionReceipt } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { driveChainClock, type ChainClockDriver } from "../../actors/chain/chainClock.ts";
import { dsoDefaults } from "../../actors/config/dso.ts";
import { EpochKeyVault, VAULT_KEY_FILE_NAME, loadVaultKey } from "../../actors/dso/epochKeys.ts";
import type { ProvisionedMeter } from "../../actors/dso/registry.ts";
import { startDsoRuntime, type DsoRuntime, type TradeSettledEvent } from "../../actors/dso/runtime.ts";
import { dsoHintSource } from "../../actors/gateway/dsoHints.ts";
import { requestCertifiedBid } from "../../actors/meter/certification.ts";
import { openEpochKeys, requestEpochKeys, type MeterEpochKey } from "../../actors/meter/epochKeys.ts";
import { RemoteError } from "../../actors/nats/errors.ts";
import { dedupIds, publishDeduplicated } from "../../actors/nats/jetstream.ts";
import { call } from "../../actors/nats/rpc.ts";
import type { Clock } from "../../actors/runtime/clock.ts";
import { callSealed, openTradeMessage, sealTradeMessage } from "../../actors/secure/sealedRpc.ts";
import { identityOf } from "../../actors/secure/keys.ts";
import { signMessageFields } from "../../actors/secure/signed.ts";
import { createLogger } from "../../actors/telemetry/logger.ts";
import { openDsoDatabase } from "../../actors/db/dsoDatabase.ts";
import {
  attachSlotMarket,
  decodeSlotMarketEvents,
  placeSlotBids,
  readBook,
  type CertifiedBid,
  type SlotMarketEvent,
  type SlotMarketHandle,
} from "../../contracts/client/v2/slotMarket.ts";
import { parseMachineConfig } from "../../machines/config.ts";
import { clearingPrice } from "../../protocol/clearing.ts";
import { tradeIdOf } from "../../protocol/domain.ts";
import { encryptBlockBid } from "../../protocol/encoding/blockBid.ts";
import { blockParams } from "../../protocol/encoding/blockTokens.ts";
import type { SlotOpening } from "../../protocol/encoding/certify.ts";
import { epochOfSlot, type EpochCalendar } from "../../protocol/epochs.ts";
import { parseMarketConfig } from "../../protocol/marketConfig.ts";
import { verifySlotOpening } from "../../protocol/verifyOpening.ts";
import { endpoints, inboxChannels } from "../../protocol/wire/endpoints.ts";
import { matchEventSchema, sealedTradeMessageSchema, type Dispute, type DisputeAck, type EnrolRequest, type Reading, type SlotTradeTermsPayload } from "../../protocol/wire/schemas.ts";
import type { DisputeCode } from "../../protocol/reasons.ts";
import { marketSubjects, type MarketSubjects } from "../../protocol/wire/subjects.ts";
import { TEST_CONFIG, startInfra, until, type Infra } from "./harness.ts";

const LEVELS = 16;
const WIDTH = 1;
const params = blockParams(LEVELS, WIDTH);
/** One-minute slots, four per epoch, keys kept a minute after their epoch: the test crosses epochs by jumping. */
const SLOTS = { slotSeconds: 60, gateClosureSeconds: 10, epochSlots: 4, epochKeyRetentionSeconds: 60 };
const CALENDAR: EpochCalendar = { slotSeconds: 60, gateClosureSeconds: 10, slotsPerEpoch: 4, retentionSeconds: 60 };
const EPOCH_SECONDS = CALENDAR.slotSeconds * CALENDAR.slotsPerEpoch;
const GAS = { gasLimit: 16_000_000n };

/** The market clock: wall time plus the jumps the test makes (never back). */
class JumpingClock implements Clock {
  offset = 0;
  readonly speed = 1;
  now(): number {
    return Date.now() / 1000 + this.offset;
  }
  msUntil(unixSeconds: number): number {
    return Math.max(0, (unixSeconds - this.now()) * 1000);
  }
}

let infra: Infra;
let provider: JsonRpcProvider;
const clock = new JumpingClock();
let chainClock: ChainClockDriver;
/** The test's time zero: five seconds into an epoch. Slots of the next epoch stay open for minutes. */
let t0: number;
let epoch0: number;

async function jumpTo(unixSeconds: number): Promise<void> {
  clock.offset += unixSeconds - clock.now();
  await chainClock.sync();
}

beforeAll(async () => {
  infra = await startInfra();
  provider = new JsonRpcProvider(infra.chain.rpcUrl, undefined, { staticNetwork: true });
  const latest = (await provider.getBlock("latest"))!.timestamp;
  t0 = (Math.floor(latest / EPOCH_SECONDS) + 1) * EPOCH_SECONDS + 5;
  epoch0 = Math.floor(t0 / EPOCH_SECONDS);
  clock.offset = t0 - Date.now() / 1000;
  chainClock = driveChainClock(provider, clock, { intervalMs: 250 });
  await chainClock.sync();
}, 60_000);

afterAll(async () => {
  await chainClock?.stop();
  provider?.destroy();
  await infra?.close();
});

/** The first slot of `epoch` plus `index`. */
const slotOf = (epoch: number, index: number) => epoch * CALENDAR.slotsPerEpoch + index;

async function startV2Dso(
  marketId: string,
  registry: ProvisionedMeter[],
  options: { dataDir: string; encryptAt?: "dso" | "meter"; disputeWindowMs?: number; design?: "v1" | "v2"; slotSeconds?: number },
): Promise<DsoRuntime> {
  return startDsoRuntime({
    marketId,
    natsUrl: infra.nats.url,
    rpcUrl: infra.chain.rpcUrl,
    dsoPrivateKey: infra.chain.accountKeys[0] as string,
    dataDir: options.dataDir,
    market: parseMarketConfig({ priceLevels: { count: LEVELS } }),
    registry,
    tracer: infra.dsoTelemetry.tracer,
    logger: createLogger({ actor: "dso", market: marketId }, "warn"),
    config: parseMachineConfig(
      options.disputeWindowMs === undefined
        ? TEST_CONFIG
        : { dso: { ...TEST_CONFIG.dso, disputeWindowMs: options.disputeWindowMs }, meter: { ...TEST_CONFIG.meter, settlementTimeoutMs: options.disputeWindowMs + 1_000 } },
    ),
    requestTimeoutMs: 5_000,
    streams: { storage: "memory" },
    design: options.design ?? "v2",
    width: WIDTH,
    encryptAt: options.encryptAt ?? "dso",
    ...SLOTS,
    ...(options.slotSeconds === undefined ? {} : { slotSeconds: options.slotSeconds }),
    clock,
  });
}

type HeldBid = { oneTimeKey: HDNodeWallet; certified: CertifiedBid; opening: SlotOpening };

/** A meter played by hand: the sealed enrolment, certified bids, its inbox, readings signed by the one-time key. */
class SlotMeter {
  readonly wallet = Wallet.createRandom();
  readonly inbox: { subject: string; data: unknown }[] = [];
  inboxId = "";
  dso = { address: "", publicKey: "" };
  keys: MeterEpochKey[] = [];
  #subscription: Subscription | undefined;

  constructor(
    readonly meterId: string,
    readonly subjects: MarketSubjects,
  ) {}

  get provisioned(): ProvisionedMeter {
    return { meterId: this.meterId, address: this.wallet.address as `0x${string}`, name: this.meterId };
  }

  async enrol(): Promise<void> {
    const s = this.subjects;
    const request = signMessageFields<EnrolRequest>({ type: "enrol.request", meterId: this.meterId, name: this.meterId, publicKey: identityOf(this.wallet).publicKey }, this.wallet, s.dso.enrol);
    const info = await call(infra.client.nc, s, endpoints.marketInfo, { type: "market.info.request" });
    const reply = await callSealed(infra.client.nc, s, endpoints.enrol, request, { wallet: this.wallet, recipientPublicKey: info.dso.publicKey });
    this.inboxId = reply.inboxId;
    this.dso = reply.dso;
    this.keys = openEpochKeys(reply, this.wallet, s);
    this.#subscription ??= infra.client.nc.subscribe(s.meter.inbox(reply.inboxId), {
      callback: (_error, msg: Msg) => void this.inbox.push({ subject: msg.subject, data: msg.json() }),
    });
    await infra.client.nc.flush();
  }

  opening(side: 0 | 1, slot: number, priceLevel: number, quantityWh: number): SlotOpening {
    return { side, slot, priceLevel, quantityWh, salt: hexlify(randomBytes(32)) as `0x${string}`, seed: new Uint8Array(randomBytes(32)) };
  }

  async certify(opening: SlotOpening, options: { meterCiphertext?: ReturnType<typeof encryptBlockBid> } = {}): Promise<HeldBid> {
    const oneTimeKey = Wallet.createRandom();
    const certified = await requestCertifiedBid(infra.client.nc, this.subjects, {
      meterId: this.meterId,
      meterKey: this.wallet,
      oneTimeKey,
      dsoPublicKey: this.dso.publicKey,
      opening,
      notAfter: Math.floor(clock.now()) + 1_800,
      params,
      ...options,
    });
    return { oneTimeKey, certified, opening };
  }

  /** The `trade.terms.v2` this meter received for a trade (undefined until it arrives). */
  terms(tradeId: string): SlotTradeTermsPayload | undefined {
    const subject = this.subjects.meter.trade(this.inboxId);
    const message = this.inbox.find((entry) => entry.subject === subject && (entry.data as { tradeId?: string }).tradeId === tradeId);
    if (message === undefined) return undefined;
    const channel = inboxChannels.terms;
    const { payload } = openTradeMessage(subject, sealedTradeMessageSchema.parse(message.data), channel.payload, channel.tradeIdOf, this.wallet.privateKey, this.dso.address);
    if (payload.type !== "trade.terms.v2") throw new Error(`expected trade.terms.v2, got ${payload.type}`);
    return payload;
  }

  settledNotices(): unknown[] {
    const subject = this.subjects.meter.settled(this.inboxId);
    const channel = inboxChannels.settled;
    return this.inbox
      .filter((entry) => entry.subject === subject)
      .map((entry) => openTradeMessage(subject, sealedTradeMessageSchema.parse(entry.data), channel.payload, channel.tradeIdOf, this.wallet.privateKey, this.dso.address).payload);
  }

  async reportReading(tradeId: string, bid: HeldBid, energyWh: number): Promise<void> {
    const s = this.subjects;
    const reading = signMessageFields<Reading>(
      { type: "reading", tradeId: tradeId as `0x${string}`, bidder: bid.certified.bidder as `0x${string}`, side: bid.opening.side, energyWh, measuredAt: Date.now() },
      bid.oneTimeKey,
      s.meter.reading,
    );
    const sealed = sealTradeMessage(s.meter.reading, tradeId, reading, { wallet: bid.oneTimeKey, recipientPublicKey: this.dso.publicKey });
    await publishDeduplicated(infra.client.js, s.meter.reading, sealedTradeMessageSchema, sealed, dedupIds.reading(tradeId, bid.opening.side));
  }

  /** PROTOCOL §5 trading step 3: the counterpart's opening failed this meter's check; sealed and signed by the bidder. */
  async dispute(tradeId: string, bid: HeldBid, code: DisputeCode): Promise<DisputeAck> {
    const s = this.subjects;
    const message = signMessageFields<Dispute>(
      { type: "dispute", tradeId: tradeId as `0x${string}`, bidder: bid.certified.bidder as `0x${string}`, code, detail: "re-encrypting the counterpart's opening" },
      bid.oneTimeKey,
      s.dso.dispute,
    );
    return callSealed(infra.client.nc, s, endpoints.dispute, message, { wallet: bid.oneTimeKey, recipientPublicKey: this.dso.publicKey });
  }

  disputedNotices(): unknown[] {
    const subject = this.subjects.meter.disputed(this.inboxId);
    const channel = inboxChannels.disputed;
    return this.inbox
      .filter((entry) => entry.subject === subject)
      .map((entry) => openTradeMessage(subject, sealedTradeMessageSchema.parse(entry.data), channel.payload, channel.tradeIdOf, this.wallet.privateKey, this.dso.address).payload);
  }

  close(): void {
    this.#subscription?.unsubscribe();
  }
}

/** The gateway's part: placements with the DSO's hints from the gateway's account, and the match notices. */
class SlotGateway {
  market!: SlotMarketHandle;
  constructor(readonly subjects: MarketSubjects) {}

  async attach(address: string): Promise<void> {
    const account = new NonceManager(new Wallet(infra.chain.accountKeys[1] as string, provider));
    this.market = await attachSlotMarket(address, account, params, CALENDAR);
  }

  /** Places certified bids of one slot in one transaction with the DSO's hints. */
  async place(bids: readonly HeldBid[]): Promise<{ receipt: TransactionReceipt; events: SlotMarketEvent[] }> {
    const slot = bids[0]!.certified.slot;
    const lists = { buy: await readBook(this.market, slot, "buy"), sell: await readBook(this.market, slot, "sell") };
    const { hints } = await dsoHintSource(infra.client.nc, this.subjects, 5_000)(slot, lists, bids.map((bid) => bid.certified.bidder), Math.floor(clock.now()));
    const placed = await placeSlotBids(this.market, bids.map((bid, index) => ({ bid: bid.certified, hint: hints[index]!.hint })), GAS);
    expect(placed.entries.every((entry) => entry.ok)).toBe(true);
    return { receipt: placed.receipt as unknown as TransactionReceipt, events: placed.events };
  }

  /** The match notice of the receipt's Matched log, as the gateway publishes it (unless `dropNotice`: lost); returns the trade id. */
  async publishMatch(receipt: TransactionReceipt, options: { dropNotice?: boolean } = {}): Promise<{ tradeId: string; matched: Extract<SlotMarketEvent, { type: "matched" }> }> {
    for (const log of receipt.logs) {
      const [event] = decodeSlotMarketEvents(this.market, [log]);
      if (event?.type !== "matched") continue;
      const notice = {
        type: "market.matched" as const,
        buyId: event.buyBidder as `0x${string}`,
        sellId: event.sellBidder as `0x${string}`,
        txHash: receipt.hash as `0x${string}`,
        blockNumber: receipt.blockNumber,
        logIndex: log.index,
        observedAt: Date.now(),
      };
      const tradeId = tradeIdOf(notice);
      if (options.dropNotice !== true) await publishDeduplicated(infra.client.js, this.subjects.market.matched, matchEventSchema, notice, dedupIds.match(tradeId));
      return { tradeId, matched: event };
    }
    throw new Error("the transaction holds no Matched");
  }
}

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => "certified",
    (error: unknown) => (error instanceof RemoteError ? `${error.code}: ${error.reply.message}` : `not a RemoteError: ${String(error)}`),
  );

const seedOf = (hex: string) => getBytes(hex);

describe("DSO runtime, version 2 (DSO mode)", () => {
  const marketId = "v2-dso";
  const s = marketSubjects(marketId);
  const seller = new SlotMeter("pv-1", s);
  const buyer = new SlotMeter("flat-2", s);
  const gateway = new SlotGateway(s);
  const settled: TradeSettledEvent[] = [];
  let dataDir: string;
  let dso: DsoRuntime;
  /** A slot of the next epoch: open for minutes from t0. */
  let slot: number;

  const start = async () => {
    dso = await startV2Dso(marketId, [seller.provisioned, buyer.provisioned], { dataDir });
    dso.events.on("trade.settled", (event) => void settled.push(event));
  };

  /** A sell, then a crossing buy of the same slot: the chain matches them; the notice is published. */
  const trade = async (sell: { level: number; wh: number }, buy: { level: number; wh: number }, at = slot, options: { dropNotice?: boolean } = {}) => {
    const sellBid = await seller.certify(seller.opening(1, at, sell.level, sell.wh));
    const buyBid = await buyer.certify(buyer.opening(0, at, buy.level, buy.wh));
    const resting = await gateway.place([sellBid]);
    const crossing = await gateway.place([buyBid]);
    const { tradeId, matched } = await gateway.publishMatch(crossing.receipt, options);
    const placed = resting.events.find((event) => event.type === "placed");
    if (placed?.type !== "placed") throw new Error("the sell did not rest");
    return { tradeId, sellBid, buyBid, onChain: { sell: { commitment: placed.commitment, ciphertextRoot: placed.ciphertextRoot }, buy: { commitment: matched.commitment, ciphertextRoot: matched.ciphertextRoot } } };
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "gridveil-dso-v2-"));
    slot = slotOf(epoch0 + 1, 2);
    await start();
    await seller.enrol();
    await buyer.enrol();
    await gateway.attach(dso.market.contractAddress);
  }, 120_000);

  afterAll(async () => {
    seller.close();
    buyer.close();
    await dso?.stop();
  });

  it("serves a version 2 market: slots in the description, the block dimension, the current and next epochs' keys, the vault key owner-only", async () => {
    const reply = await call(infra.client.nc, s, endpoints.marketInfo, { type: "market.info.request" });
    expect(reply.market).toEqual(dso.market);
    expect(reply.market).toMatchObject({
      fhipe: { curve: "BN254", dimension: params.dim },
      priceLevels: { count: LEVELS },
      slots: { width: WIDTH, encryptAt: "dso", calendar: { slotSeconds: 60, gateClosureSeconds: 10, slotsPerEpoch: 4, retentionSeconds: 60 } },
    });
    expect(dso.db.liveEpochKeys().map((key) => key.epoch)).toEqual([epoch0, epoch0 + 1]);
    expect(statSync(join(dataDir, VAULT_KEY_FILE_NAME)).mode & 0o777).toBe(0o600);
    // Sealed in the database: nothing of the key file's bytes in clear, and it opens with the vault key only.
    const vaultKey = loadVaultKey({ dataDir }).key;
    const vault = new EpochKeyVault({ db: dso.db, vaultKey, marketId, dimension: params.dim, calendar: CALENDAR });
    expect(vault.load(epoch0).msk.dim).toBe(params.dim);
    // DSO mode: the enrolment sealed no key to the meters.
    expect(seller.keys).toEqual([]);
    expect(dso.counters()).toMatchObject({ epochKeysPrepared: 2 });
  });

  it("fixes the terms at the Matched, sends each meter its sealed trade.terms.v2 whose counterpart opening verifies against the chain, and settles the readings into a balanced ledger and bills", async () => {
    const { tradeId, sellBid, buyBid, onChain } = await trade({ level: 6, wh: 2_000 }, { level: 9, wh: 1_500 });
    const buyerTerms = await until(() => buyer.terms(tradeId), 15_000, "the buyer's terms");
    const sellerTerms = await until(() => seller.terms(tradeId), 15_000, "the seller's terms");
    const market = dso.market;
    const expected = {
      matchId: tradeId,
      buyBidder: buyBid.certified.bidder,
      sellBidder: sellBid.certified.bidder,
      buyLevel: 9,
      sellLevel: 6,
      quantityWh: 1_500,
      priceMicroPerKWh: clearingPrice(9, 6, market.priceLevels, "midpoint"),
      clearingRule: "midpoint",
    };
    expect(buyerTerms.terms).toEqual(expected);
    expect(sellerTerms.terms).toEqual(expected);
    expect(buyerTerms).toMatchObject({ slot, side: 0, bidder: buyBid.certified.bidder, counterpart: { bidder: sellBid.certified.bidder } });
    // PROTOCOL §5 trading step 3: each checks the counterpart's opening against what the chain published.
    const toBuyer = buyerTerms.counterpart;
    expect(verifySlotOpening(toBuyer.bidder, 1, onChain.sell, { ...toBuyer.opening, seed: seedOf(toBuyer.opening.seed) })).toEqual({ ok: true });
    const toSeller = sellerTerms.counterpart;
    expect(verifySlotOpening(toSeller.bidder, 0, onChain.buy, { ...toSeller.opening, seed: seedOf(toSeller.opening.seed) })).toEqual({ ok: true });
    // A tampered opening would not (the check can fail).
    expect(verifySlotOpening(toBuyer.bidder, 1, onChain.sell, { ...toBuyer.opening, quantityWh: toBuyer.opening.quantityWh + 1, seed: seedOf(toBuyer.opening.seed) }).ok).toBe(false);
    expect(JSON.stringify([buyerTerms, sellerTerms])).not.toMatch(/pv-1|flat-2/);

    // PROTOCOL §5 trading steps 5–6: readings, then the double-entry settlement and the bills.
    await seller.reportReading(tradeId, sellBid, 1_200);
    await buyer.reportReading(tradeId, buyBid, 1_200);
    const event = await until(() => settled.find((entry) => entry.tradeId === tradeId), 20_000, "settlement");
    expect(event.settlement).toMatchObject({ quantityWh: 1_500, deliveredWh: 1_200, shortfallWh: 300 });
    expect(event).toMatchObject({ buyerMeterId: "flat-2", sellerMeterId: "pv-1" });
    expect(dso.db.ledgerTotal()).toBe(0);
    expect(dso.db.unbalancedTrades()).toEqual([]);
    expect(dso.db.bills().map((bill) => bill.meterId).sort()).toEqual(["flat-2", "pv-1"]);
    expect(dso.db.getTrade(tradeId)).toMatchObject({ stage: "settled", buyerMeterId: "flat-2", sellerMeterId: "pv-1" });
    await until(() => seller.settledNotices().length > 0 && buyer.settledNotices().length > 0, 10_000, "settled notices");
    expect(seller.settledNotices()[0]).toMatchObject({ tradeId, deliveredWh: 1_200 });
  });

  it("finds a match whose notice was lost on the slot market's Matched logs, and trades it", async () => {
    const before = dso.counters().matchesFromChain;
    const { tradeId } = await trade({ level: 1, wh: 300 }, { level: 1, wh: 300 }, slot, { dropNotice: true });
    await until(() => buyer.terms(tradeId) && seller.terms(tradeId), 20_000, "terms of a match no notice brought");
    expect(dso.counters().matchesFromChain).toBe(before + 1);
  });

  it("refuses a false match notice: no trade for a Matched the chain does not hold", async () => {
    const sellBid = await seller.certify(seller.opening(1, slot, 14, 500));
    const { receipt } = await gateway.place([sellBid]);
    const before = dso.counters().matchesRefused;
    // The gateway claims the resting sell matched a buyer: its transaction holds a BidPlaced, no Matched.
    const notice = {
      type: "market.matched" as const,
      buyId: Wallet.createRandom().address as `0x${string}`,
      sellId: sellBid.certified.bidder as `0x${string}`,
      txHash: receipt.hash as `0x${string}`,
      blockNumber: receipt.blockNumber,
      logIndex: receipt.logs[0]!.index,
      observedAt: Date.now(),
    };
    const tradeId = tradeIdOf(notice);
    await publishDeduplicated(infra.client.js, s.market.matched, matchEventSchema, notice, dedupIds.match(tradeId));
    await until(() => dso.counters().matchesRefused > before, 10_000, "the notice refused");
    expect(dso.db.getTrade(tradeId)).toBeUndefined();
  });

  it("refuses by name, sealed back: a closed slot, a level out of range, an epoch that takes no bids, a reused bidder", async () => {
    const current = Math.floor(clock.now() / CALENDAR.slotSeconds);
    expect(await refusal(seller.certify(seller.opening(1, current, 3, 100)))).toMatch(/^rejected: the bid's slot is past its gate closure/);
    expect(await refusal(seller.certify(seller.opening(1, slot, LEVELS, 100)))).toMatch(/^rejected: the price level is outside the market's levels/);
    expect(await refusal(seller.certify(seller.opening(1, slotOf(epoch0 + 3, 0), 3, 100)))).toMatch(/^rejected: the bid's slot is in an epoch that does not take bids now/);
    const reused = Wallet.createRandom();
    const ask = (priceLevel: number) =>
      requestCertifiedBid(infra.client.nc, s, { meterId: "pv-1", meterKey: seller.wallet, oneTimeKey: reused, dsoPublicKey: seller.dso.publicKey, opening: seller.opening(1, slot, priceLevel, 100), notAfter: Math.floor(clock.now()) + 600, params });
    await ask(4);
    expect(await refusal(ask(5))).toMatch(/^conflict: bidderTaken/);
    // The machine counted them; a stranger's key is refused before anything is stored.
    expect(dso.counters().requestsRefused).toBeGreaterThanOrEqual(4);
    const stranger = new SlotMeter("pv-1", s);
    stranger.dso = seller.dso;
    expect(await refusal(stranger.certify(stranger.opening(1, slot, 3, 100)))).toBe("unauthorized: unauthenticated: notTheProvisionedKey");
  });

  it("a restart within an epoch keeps certifying and settling: the trade resumes, resting bids are hinted from the reloaded key", async () => {
    const { tradeId, sellBid, buyBid } = await trade({ level: 5, wh: 800 }, { level: 7, wh: 800 });
    await until(() => buyer.terms(tradeId) && seller.terms(tradeId), 15_000, "terms before the restart");
    // A bid resting across the restart.
    const resting = await seller.certify(seller.opening(1, slot + 1, 8, 700));
    await gateway.place([resting]);
    const keyBefore = dso.db.epochKey(epoch0 + 1);
    const inFlight = dso.counters().tradesInFlight;
    await dso.stop();
    await start();
    expect(dso.db.epochKey(epoch0 + 1)).toEqual(keyBefore);
    expect(dso.counters().tradesResumed).toBe(inFlight);
    await seller.reportReading(tradeId, sellBid, 800);
    await buyer.reportReading(tradeId, buyBid, 800);
    await until(() => settled.find((entry) => entry.tradeId === tradeId), 20_000, "the resumed trade settled");
    // A crossing buy after the restart: the DSO's hint proves it against the resting sell certified before it.
    const crossing = await buyer.certify(buyer.opening(0, slot + 1, 10, 700));
    const { receipt } = await gateway.place([crossing]);
    const { tradeId: next } = await gateway.publishMatch(receipt);
    await until(() => buyer.terms(next), 15_000, "terms after the restart");
    expect(buyer.terms(next)?.terms).toMatchObject({ buyLevel: 10, sellLevel: 8, quantityWh: 700 });
    expect(resting.certified.bidder).toBe(buyer.terms(next)?.counterpart.bidder);
  });

  it("a restart across an epoch boundary keeps certifying and settling, and destroys the old epoch's key after its retention", async () => {
    const lastSlot = slotOf(epoch0 + 1, 3);
    const { tradeId, sellBid, buyBid } = await trade({ level: 2, wh: 400 }, { level: 3, wh: 400 }, lastSlot);
    await until(() => buyer.terms(tradeId) && seller.terms(tradeId), 15_000, "terms before the epoch ends");
    await dso.stop();
    // Into the next epoch: epoch0 + 1 is current, epoch0 + 2 takes day-ahead bids; epoch0's retention is not over.
    await jumpTo((epoch0 + 1) * EPOCH_SECONDS + 15);
    await start();
    expect(dso.db.liveEpochKeys().map((key) => key.epoch)).toEqual([epoch0, epoch0 + 1, epoch0 + 2]);
    await seller.reportReading(tradeId, sellBid, 400);
    await buyer.reportReading(tradeId, buyBid, 400);
    await until(() => settled.find((entry) => entry.tradeId === tradeId), 20_000, "settled across the boundary");
    // Certified under the new epoch's key.
    const ahead = await seller.certify(seller.opening(1, slotOf(epoch0 + 2, 1), 3, 100));
    expect(dso.db.certifiedBid(ahead.certified.bidder)).toMatchObject({ epoch: epoch0 + 2 });
    expect(epochOfSlot(ahead.certified.slot, CALENDAR)).toBe(epoch0 + 2);

    // Past epoch0's retention: the running DSO's epoch routine destroys its key (within its check interval).
    await jumpTo((epoch0 + 1) * EPOCH_SECONDS + CALENDAR.retentionSeconds + 1);
    await until(() => dso.db.epochKey(epoch0)?.sealed === null, dsoDefaults.epochKeyCheckMaxMs + 5_000, "epoch0's key destroyed");
    expect(dso.db.epochKey(epoch0)?.destroyedAt).not.toBeNull();
    expect(dso.counters().epochKeysDestroyed).toBeGreaterThanOrEqual(1);
    // Gone for good, after a restart too; the others reload.
    await dso.stop();
    await start();
    const db = openDsoDatabase(join(dataDir, "dso.sqlite"));
    try {
      const vault = new EpochKeyVault({ db, vaultKey: loadVaultKey({ dataDir }).key, marketId, dimension: params.dim, calendar: CALENDAR });
      expect(() => vault.load(epoch0)).toThrow(/destroyed after its retention/);
      expect(vault.load(epoch0 + 2).epoch).toBe(epoch0 + 2);
    } finally {
      db.close();
    }
  });

  it("refuses at once a data directory of the other design, or a slot market of other parameters", async () => {
    await dso.stop();
    const registry = [seller.provisioned, buyer.provisioned];
    await expect(startV2Dso(marketId, registry, { dataDir, design: "v1" })).rejects.toThrow(/a market of another protocol version/);
    await expect(startV2Dso(marketId, registry, { dataDir, slotSeconds: 120 })).rejects.toThrow(/encoding or calendar differs from this DSO's settings/);
    await start();
    expect(dso.market.slots?.calendar.slotSeconds).toBe(60);
  });
});

describe("DSO runtime, version 2 (meter mode)", () => {
  const marketId = "v2-meter";
  const s = marketSubjects(marketId);
  const seller = new SlotMeter("pv-9", s);
  const buyer = new SlotMeter("flat-9", s);
  const gateway = new SlotGateway(s);
  let dso: DsoRuntime;

  beforeAll(async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "gridveil-dso-v2m-"));
    // A dispute window long enough for a meter's check and its dispute (PROTOCOL §5 trading step 3).
    dso = await startV2Dso(marketId, [seller.provisioned, buyer.provisioned], { dataDir, encryptAt: "meter", disputeWindowMs: 20_000 });
    await seller.enrol();
    await buyer.enrol();
    await gateway.attach(dso.market.contractAddress);
  }, 120_000);

  afterAll(async () => {
    seller.close();
    buyer.close();
    await dso?.stop();
  });

  const keyFor = (meter: SlotMeter, slot: number) => {
    const key = meter.keys.find((entry) => entry.epoch === epochOfSlot(slot, CALENDAR));
    if (key === undefined) throw new Error(`no key for slot ${slot}`);
    return key;
  };
  const encrypted = (meter: SlotMeter, opening: SlotOpening) => {
    const key = keyFor(meter, opening.slot);
    return encryptBlockBid(key.msk, key.tokenKey, params, opening.priceLevel, opening.seed);
  };

  it("seals the open epochs' keys to each meter at enrolment, certifies the meter's own ciphertext word for word, and refuses a mismatched one by name", async () => {
    const now = Math.floor(clock.now());
    const current = Math.floor(now / EPOCH_SECONDS);
    expect(seller.keys.map((key) => key.epoch)).toEqual([current, current + 1]);
    // The same keys again on request (what a meter does for an epoch it holds none for).
    const again = await requestEpochKeys(infra.client.nc, s, { meterId: "pv-9", name: "pv-9", meterKey: seller.wallet, dsoAddress: seller.dso.address });
    expect(again.map((key) => key.epoch)).toEqual([current, current + 1]);
    const slot = slotOf(current + 1, 2);
    const opening = seller.opening(1, slot, 7, 900);
    const bid = await seller.certify(opening, { meterCiphertext: encrypted(seller, opening) });
    expect(dso.db.certifiedBid(bid.certified.bidder)).toMatchObject({ encryptAt: "meter", priceLevel: 7 });
    // Encrypted with another seed than the opening's: not the bid it claims to be.
    const other = seller.opening(1, slot, 7, 900);
    expect(await refusal(seller.certify(opening, { meterCiphertext: encrypted(seller, other) }))).toMatch(
      /^rejected: the meter's ciphertext is not the encryption of its opening under this epoch's key/,
    );
  });

  it("the counterpart's opening re-encrypts to the root the chain holds (the paper's non-repudiation check)", async () => {
    const current = Math.floor(clock.now() / EPOCH_SECONDS);
    const slot = slotOf(current + 1, 3);
    const sellOpening = seller.opening(1, slot, 4, 600);
    const buyOpening = buyer.opening(0, slot, 6, 600);
    const sellBid = await seller.certify(sellOpening, { meterCiphertext: encrypted(seller, sellOpening) });
    const buyBid = await buyer.certify(buyOpening, { meterCiphertext: encrypted(buyer, buyOpening) });
    const resting = await gateway.place([sellBid]);
    const { receipt } = await gateway.place([buyBid]);
    const { tradeId } = await gateway.publishMatch(receipt);
    const terms = await until(() => buyer.terms(tradeId), 15_000, "the buyer's terms");
    const placed = resting.events.find((event) => event.type === "placed");
    if (placed?.type !== "placed") throw new Error("the sell did not rest");
    const counterpart = terms.counterpart;
    const reencrypt = { epochKey: keyFor(buyer, slot), params };
    expect(verifySlotOpening(counterpart.bidder, 1, placed, { ...counterpart.opening, seed: seedOf(counterpart.opening.seed) }, reencrypt)).toEqual({ ok: true });
    const forged = { ...counterpart.opening, seed: seedOf(hexlify(randomBytes(32))) };
    expect(verifySlotOpening(counterpart.bidder, 1, placed, forged, reencrypt)).toMatchObject({ ok: false, reason: "ciphertext-mismatch" });

    // A meter whose check fails disputes as in version 1: the trade is not settled, both meters are told.
    expect(await buyer.dispute(tradeId, buyBid, "ciphertext-mismatch")).toMatchObject({ status: "recorded" });
    await until(() => dso.db.getTrade(tradeId)?.closedAt, 15_000, "the disputed trade closed");
    expect(dso.db.getTrade(tradeId)).toMatchObject({ stage: "disputed", dispute: { side: 0 } });
    expect(dso.db.ledgerEntries({ tradeId })).toEqual([]);
    await until(() => seller.disputedNotices().length > 0, 10_000, "the seller told");
    expect(seller.disputedNotices()[0]).toMatchObject({ tradeId, code: "ciphertext-mismatch" });
  });
});
