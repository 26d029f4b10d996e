// Test harness for the meter runtime: a real nats-server and chain, and minimal DSO and gateway stand-ins written with
// the adapters and the contract client (the real DSO and gateway runtimes are separate work; tests must not use them).
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { JsonRpcProvider, Wallet, getAddress, hexlify } from "ethers";
import type { z } from "zod";
import { startLocalChain, type LocalChain } from "../../actors/chain/localChain.ts";
import { encodeMsk } from "../../protocol/fhipe/binary.ts";
import { initCurve } from "../../protocol/fhipe/curve.ts";
import { setup, type MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";
import { connectNats, type NatsClients } from "../../actors/nats/connect.ts";
import {
  consumeDurable,
  dedupIds,
  ensureDurableConsumer,
  ensureMeterEventsConsumer,
  ensureStreams,
  publishDeduplicated,
  type DurableConsumerHandle,
} from "../../actors/nats/jetstream.ts";
import { RequestRejectedError } from "../../actors/nats/errors.ts";
import { answer, subscribe, type Service } from "../../actors/nats/rpc.ts";
import { answerSealed, notifySealed, openTradeMessage } from "../../actors/secure/sealedRpc.ts";
import { headerRecord } from "../../actors/nats/tracing.ts";
import { startNatsServer, type NatsServerHandle } from "../../actors/nats/server.ts";
import { sealContexts } from "../../protocol/wire/sealContexts.ts";
import {
  bidSubmissionSchema,
  marketEventSchema,
  matchEventSchema,
  openingPayloadSchema,
  readingSchema,
  sealedTradeMessageSchema,
  type BidSubmission,
  type Dispute,
  type Reading,
  type SettlementNotice,
} from "../../protocol/wire/schemas.ts";
import type { DisputeCode, VoidReason } from "../../protocol/reasons.ts";
import { linesOf } from "../../protocol/settlement.ts";
import { DURABLES, marketSubjects, streamNames, type MarketSubjects } from "../../protocol/wire/subjects.ts";
import { verifyOpening, type OpeningCheck } from "../../protocol/verifyOpening.ts";
import { openAs, seal } from "../../actors/secure/sealed.ts";
import { verifyMessageFields } from "../../actors/secure/signed.ts";
import { createLogger } from "../../actors/telemetry/logger.ts";
import type { SpanRecord } from "../../actors/telemetry/spanRecord.ts";
import { SPAN_FILE_NAME, startInProcessTelemetry, type Telemetry } from "../../actors/telemetry/telemetry.ts";
import { startMeterRuntime, type MeterRuntime, type MeterRuntimeOptions } from "../../actors/meter/runtime.ts";
import {
  attachMarket,
  cancelBid,
  deployMarket,
  getBid,
  getBidCiphertext,
  getBidIdOf,
  placeBid,
  signTicket,
  withRunner,
  MarketRevertError,
  type MarketHandle,
  type SignedBid as ContractBid,
} from "../../contracts/client/index.ts";
import { parseMachineConfig, type MachineConfig, type MachineConfigInput } from "../../machines/config.ts";
import type { PlannedBid } from "../../machines/meter.ts";
import { type Address, type Hex } from "../../protocol/base/hex.ts";
import { tradeIdOf, type MarketDescription, type Opening } from "../../protocol/domain.ts";
import { fixTradeTerms } from "../../protocol/clearing.ts";
import { settleTrade } from "../../protocol/settlement.ts";
import { endpoints, inboxChannels, type InboxChannel } from "../../protocol/wire/endpoints.ts";

export const TX_GAS = { gasLimit: 30_000_000n };
export const LEVELS = 4;

/** Short timeouts so a whole trade takes about a second (the cross-field rules of machines/config.ts hold). */
export function testConfig(overrides: MachineConfigInput = {}): MachineConfig {
  return parseMachineConfig({
    ...overrides,
    meter: {
      enrolRetryBaseMs: 100,
      enrolRetryMaxMs: 1_000,
      requestRetryBaseMs: 50,
      requestRetryMaxMs: 400,
      deliveryDurationMs: 50,
      termsTimeoutMs: 8_000,
      settlementTimeoutMs: 6_000,
      ...overrides.meter,
    },
    dso: { openingTimeoutMs: 5_000, disputeWindowMs: 200, readingTimeoutMs: 3_000, ...overrides.dso },
    market: { priceLevels: { count: LEVELS }, ...overrides.market },
  });
}

export async function until<T>(probe: () => T | undefined | null | false, timeoutMs = 20_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await sleep(25);
  }
}

export type Environment = {
  nats: NatsServerHandle;
  chain: LocalChain;
  provider: JsonRpcProvider;
  dir: string;
  close(): Promise<void>;
};

export async function startEnvironment(): Promise<Environment> {
  await initCurve();
  const dir = await mkdtemp(join(tmpdir(), "gridveil-meter-"));
  const nats = await startNatsServer({ storeDir: join(dir, "jetstream") });
  const chain = await startLocalChain();
  // No response cache: the stand-ins send transactions back to back from one account (stale nonces otherwise).
  const provider = new JsonRpcProvider(chain.rpcUrl, undefined, { cacheTimeout: -1, pollingInterval: 100 });
  return {
    nats,
    chain,
    provider,
    dir,
    async close() {
      provider.destroy();
      await chain.stop();
      await nats.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// -------------------------------------------------------------------------------------------------------------
// The DSO stand-in: enrolment, tickets, openings (checked against the chain), terms, disputes, readings, notices.

export type ReceivedOpening = {
  tradeId: Hex;
  bidder: Address;
  side: 0 | 1;
  opening: Opening;
  check: OpeningCheck;
  /** `traceparent` of the request (the meter's `meter.opening` span). */
  traceparent: string | undefined;
};

type MeterRecord = { meterId: string; address: Address; publicKey: Hex; inboxId: string };
type TradeState = { tradeId: Hex; buyId: Address; sellId: Address; txHash: Hex; openings: Map<number, ReceivedOpening> };

export type FakeDsoOptions = {
  /** Send the terms as soon as both openings verified (default true). */
  autoTerms?: boolean;
  /** Send settlement notices once both readings arrived (default true). */
  autoSettle?: boolean;
  /** Replace the counterpart's opening in the terms sent to this side (the DSO-side forgery the meter must catch). */
  forgeCounterpartFor?: 0 | 1;
};

export class FakeDso {
  readonly wallet: Wallet;
  readonly meters = new Map<string, MeterRecord>();
  readonly bidders = new Map<string, string>();
  readonly openings: ReceivedOpening[] = [];
  readonly disputes: Dispute[] = [];
  readonly readings: Reading[] = [];
  readonly ticketsIssued: Address[] = [];
  readonly trades = new Map<string, TradeState>();
  readonly #services: Service[] = [];
  readonly #registry = new Map<string, Address>();
  options: FakeDsoOptions;

  constructor(
    readonly market: TestMarket,
    options: FakeDsoOptions = {},
  ) {
    this.wallet = market.dsoWallet;
    this.options = options;
  }

  register(meterId: string, address: string): void {
    this.#registry.set(meterId, getAddress(address) as Address);
  }

  async start(): Promise<void> {
    const { nc } = this.market.clients;
    const s = this.market.subjects;
    this.#services.push(
      // The public description and the DSO's identity: a meter seals its enrolment to this key.
      answer(nc, s, endpoints.marketInfo, () => ({
        type: "market.info.reply" as const,
        market: this.market.description,
        dso: { address: this.wallet.address as Address, publicKey: this.wallet.signingKey.publicKey as Hex },
      })),
      answerSealed(nc, s, endpoints.enrol, this.wallet, async (req) => {
        const registered = this.#registry.get(req.meterId);
        if (!registered) throw new RequestRejectedError("unauthorized", "unknown meter id");
        verifyMessageFields(req, s.dso.enrol, { allowedSigners: registered });
        const inboxId = `inbox-${req.meterId.toLowerCase().replace(/[^a-z0-9_-]/g, "")}`;
        this.meters.set(req.meterId, { meterId: req.meterId, address: registered, publicKey: req.publicKey, inboxId });
        await ensureMeterEventsConsumer(this.market.clients.jsm, s.marketId, inboxId);
        const sealedMsk = seal({
          payload: { type: "msk", marketId: s.marketId, msk: hexlify(encodeMsk(this.market.msk)) },
          senderWallet: this.wallet,
          recipientPublicKey: req.publicKey,
          context: sealContexts.enrolment(s),
        });
        return {
          type: "enrol.reply" as const,
          meterId: req.meterId,
          inboxId,
          market: this.market.description,
          dso: { address: this.wallet.address as Address, publicKey: this.wallet.signingKey.publicKey as Hex },
          sealedMsk,
        };
      }),
      answerSealed(nc, s, endpoints.ticket, this.wallet, async (req, { sender }) => {
        if (getAddress(sender) !== getAddress(req.bidder)) throw new RequestRejectedError("unauthorized", "not sealed by the bidder");
        const meter = this.meters.get(req.meterId);
        if (!meter) throw new RequestRejectedError("unauthorized", "not enrolled");
        verifyMessageFields(req, s.dso.ticket, { allowedSigners: meter.address });
        this.bidders.set(req.bidder.toLowerCase(), req.meterId);
        const ticket = await signTicket(this.wallet, this.market.handle.domain, req.bidder, req.notAfter);
        this.ticketsIssued.push(req.bidder);
        return { type: "ticket.reply" as const, bidder: req.bidder, ticket: { notAfter: Number(ticket.notAfter), signature: ticket.signature } };
      }),
      answer(
        nc,
        s,
        endpoints.opening,
        async (req, msg) => {
          const payload = openAs(openingPayloadSchema, req.sealed, this.wallet.privateKey, req.bidder, sealContexts.opening(s, req.tradeId));
          const trade = this.trades.get(req.tradeId);
          if (!trade) throw new RequestRejectedError("not-found", "unknown trade");
          const check = await this.market.check(payload.bidder, payload.side, payload.opening);
          const received: ReceivedOpening = {
            tradeId: req.tradeId,
            bidder: payload.bidder,
            side: payload.side,
            opening: payload.opening,
            check,
            traceparent: headerRecord(msg)["traceparent"],
          };
          const duplicate = trade.openings.has(payload.side);
          if (!duplicate) {
            trade.openings.set(payload.side, received);
            this.openings.push(received);
          }
          if (!duplicate && trade.openings.size === 2 && this.options.autoTerms !== false) setTimeout(() => void this.sendTerms(trade.tradeId), 0);
          return {
            type: "opening.ack" as const,
            tradeId: req.tradeId,
            bidder: req.bidder,
            status: duplicate ? ("duplicate" as const) : ("received" as const),
          };
        },
        { concurrent: true },
      ),
      answerSealed(nc, s, endpoints.dispute, this.wallet, (req) => {
        verifyMessageFields(req, s.dso.dispute, { allowedSigners: req.bidder });
        this.disputes.push(req);
        return { type: "dispute.ack" as const, tradeId: req.tradeId, status: "recorded" as const };
      }),
      subscribe(nc, s.meter.reading, sealedTradeMessageSchema, (message) => {
        const { payload: reading, sender } = openTradeMessage(s.meter.reading, message, readingSchema, (payload) => payload.tradeId, this.wallet.privateKey, "anyone");
        if (getAddress(sender) !== getAddress(reading.bidder)) throw new RequestRejectedError("unauthorized", "reading not sealed by its bidder");
        verifyMessageFields(reading, s.meter.reading, { allowedSigners: reading.bidder });
        if (this.readings.some((r) => r.tradeId === reading.tradeId && r.side === reading.side)) return;
        this.readings.push(reading);
        const both = this.readings.filter((r) => r.tradeId === reading.tradeId).length === 2;
        if (both && this.options.autoSettle !== false) setTimeout(() => this.sendSettlements(reading.tradeId), 0);
      }),
      // Every match on the stream: what the DSO's durable matches consumer would see.
      subscribe(nc, s.market.matched, matchEventSchema, (event) => this.recordMatch(event)),
    );
    await Promise.all(this.#services.map((service) => service.ready));
  }

  /** A match, from its notice or (as the real DSO's chain reader would find it) from the chain. */
  recordMatch(event: { buyId: Address; sellId: Address; txHash: Hex }): void {
    const tradeId = tradeIdOf(event);
    if (!this.trades.has(tradeId)) this.trades.set(tradeId, { tradeId, buyId: event.buyId, sellId: event.sellId, txHash: event.txHash, openings: new Map() });
  }

  meterOf(bidder: string): MeterRecord {
    const meterId = this.bidders.get(bidder.toLowerCase());
    const meter = meterId ? this.meters.get(meterId) : undefined;
    if (!meter) throw new Error(`no meter for bidder ${bidder}`);
    return meter;
  }

  /** The terms the DSO fixes from the two openings (midpoint clearing). */
  private termsOf(tradeId: Hex, trade: { buyId: Address; sellId: Address }, buyOpening: Opening, sellOpening: Opening) {
    return fixTradeTerms({
      matchId: tradeId,
      buyBidder: trade.buyId,
      sellBidder: trade.sellId,
      buyOpening,
      sellOpening,
      priceLevels: this.market.description.priceLevels,
      clearingRule: "midpoint",
    });
  }

  /** Terms to both sides, each with the counterpart's opening (PROTOCOL §5 trading, step 3). */
  async sendTerms(tradeId: Hex): Promise<void> {
    const trade = this.trades.get(tradeId);
    const buy = trade?.openings.get(0);
    const sell = trade?.openings.get(1);
    if (!trade || !buy || !sell) throw new Error("terms need both openings");
    const fixed = this.termsOf(tradeId, trade, buy.opening, sell.opening);
    if (!fixed.ok) throw new Error(`terms: ${fixed.reason}`);
    const s = this.market.subjects;
    for (const [side, own, counterpart] of [
      [0, buy, sell],
      [1, sell, buy],
    ] as const) {
      const meter = this.meterOf(own.bidder);
      const counterpartOpening =
        this.options.forgeCounterpartFor === side ? { ...counterpart.opening, salt: `0x${"5a".repeat(32)}` as Hex } : counterpart.opening;
      const payload = {
        type: "trade.terms",
        terms: fixed.terms,
        txHash: trade.txHash,
        side,
        bidder: own.bidder,
        counterpart: { bidder: counterpart.bidder, opening: counterpartOpening },
      };
      this.notify(inboxChannels.terms, meter, payload as z.input<typeof inboxChannels.terms.payload>);
    }
  }

  /** Each side's own ledger lines (protocol/settlement.ts), as the meter-facing notice. */
  sendSettlements(tradeId: Hex): void {
    const trade = this.trades.get(tradeId);
    const buy = trade?.openings.get(0);
    const sell = trade?.openings.get(1);
    if (!trade || !buy || !sell) return;
    const fixed = this.termsOf(tradeId, trade, buy.opening, sell.opening);
    if (!fixed.ok) return;
    const readingOf = (side: 0 | 1) => this.readings.find((r) => r.tradeId === tradeId && r.side === side)?.energyWh ?? null;
    const settlement = settleTrade({
      terms: fixed.terms,
      buyReadingWh: readingOf(0),
      sellReadingWh: readingOf(1),
      tariffs: { retailTariffMicroPerKWh: 300_000, imbalanceRateMicroPerKWh: 200_000, networkFeeMicroPerKWh: 20_000, feePayer: "buyer" },
    });
    for (const bidder of [trade.buyId, trade.sellId]) {
      const meter = this.meterOf(bidder);
      const entries = linesOf(settlement.entries, bidder);
      const notice: SettlementNotice = {
        type: "settlement.notice",
        tradeId,
        bidder,
        period: "2026-11",
        entries,
        netMicro: entries.reduce((sum, entry) => sum + Number(entry.amountMicro), 0),
        quantityWh: settlement.quantityWh,
        deliveredWh: settlement.deliveredWh,
        shortfallWh: settlement.shortfallWh,
        priceMicroPerKWh: settlement.priceMicroPerKWh,
      };
      this.notify(inboxChannels.settled, meter, notice);
    }
  }

  private notify<S extends z.ZodType>(channel: InboxChannel<S>, meter: MeterRecord, value: z.input<S>): void {
    notifySealed(this.market.clients.nc, this.market.subjects, channel, meter.inboxId, value, { wallet: this.wallet, recipientPublicKey: meter.publicKey });
  }

  sendVoided(tradeId: Hex, bidder: Address, reason: VoidReason, blamedBidders: Address[]): void {
    const meter = this.meterOf(bidder);
    this.notify(inboxChannels.voided, meter, { type: "trade.voided", tradeId, bidder, reason, blamedBidders });
  }

  sendDisputed(tradeId: Hex, bidder: Address, code: DisputeCode): void {
    const meter = this.meterOf(bidder);
    this.notify(inboxChannels.disputed, meter, { type: "trade.disputed", tradeId, bidder, code, detail: "disputed by the counterpart" });
  }

  async stop(): Promise<void> {
    await Promise.all(this.#services.map((service) => service.stop()));
  }
}

// -------------------------------------------------------------------------------------------------------------
// The gateway stand-in: takes submissions from the bids stream, places them one by one, publishes market events.

export type ReceivedSubmission = BidSubmission & { traceparent: string | undefined; msgId: string | undefined };

export class FakeGateway {
  readonly submissions: ReceivedSubmission[] = [];
  readonly placed: Address[] = [];
  /** Hold submissions instead of placing them (a test places them in the order it wants). */
  autoPlace = true;
  /** Publish no match notices (as if NATS lost them): the meters must learn their matches from the chain. */
  dropMatchNotices = false;
  #consumer: DurableConsumerHandle | null = null;
  #cancel: Service | null = null;
  readonly #handle: MarketHandle;

  constructor(readonly market: TestMarket) {
    this.#handle = withRunner(market.handle, market.gatewayWallet);
  }

  async start(): Promise<void> {
    const { js, jsm, nc } = this.market.clients;
    const stream = streamNames(this.market.subjects.marketId).bids;
    await ensureDurableConsumer(jsm, stream, DURABLES.gatewayBids, { ackWaitMs: 30_000 });
    this.#consumer = await consumeDurable(js, stream, DURABLES.gatewayBids, {
      schema: bidSubmissionSchema,
      fetchExpiresMs: 1_000,
      handler: async (submission, msg) => {
        this.submissions.push({ ...submission, traceparent: headerRecord(msg)["traceparent"], msgId: headerRecord(msg)["Nats-Msg-Id"] });
        if (this.autoPlace) await this.place(submission.bidder);
      },
    });
    this.#cancel = answer(nc, this.market.subjects, endpoints.cancel, async (req) => {
      const bidId = await getBidIdOf(this.#handle, req.bidder);
      if (bidId === undefined) return { type: "bid.cancel.reply" as const, bidder: req.bidder, status: "not-open" as const };
      try {
        const { receipt } = await cancelBid(this.#handle, bidId, req.signature, TX_GAS);
        await this.publishEvent(
          { type: "market.cancelled", bidder: req.bidder, txHash: receipt.hash as Hex, observedAt: Date.now() },
          `cancelled:${req.bidder}`,
        );
        return { type: "bid.cancel.reply" as const, bidder: req.bidder, status: "cancelled" as const, txHash: receipt.hash as Hex };
      } catch (error) {
        if (error instanceof MarketRevertError) return { type: "bid.cancel.reply" as const, bidder: req.bidder, status: "not-open" as const };
        throw error;
      }
    });
    await this.#cancel.ready;
  }

  submissionOf(bidder: string): ReceivedSubmission {
    const found = this.submissions.find((s) => s.bidder.toLowerCase() === bidder.toLowerCase());
    if (!found) throw new Error(`no submission from ${bidder}`);
    return found;
  }

  /** The contract's form of a received submission. */
  contractBidOf(submission: BidSubmission): ContractBid {
    if (typeof submission.ciphertext === "string") throw new Error("expected EVM words");
    return {
      bidder: submission.bidder,
      side: submission.side,
      notAfter: BigInt(submission.ticket.notAfter),
      commitment: submission.commitment,
      left: submission.ciphertext.left.map(BigInt),
      right: submission.ciphertext.right.map(BigInt),
      ticketSignature: submission.ticket.signature,
      bidderSignature: submission.bidSignature,
    };
  }

  /** Places a received bid (the contract checks ticket and signatures) and publishes what happened. */
  async place(bidder: string): Promise<void> {
    const submission = this.submissionOf(bidder);
    try {
      const result = await placeBid(this.#handle, this.contractBidOf(submission), TX_GAS);
      this.placed.push(submission.bidder);
      const txHash = result.receipt.hash as Hex;
      await this.publishEvent(
        {
          type: "market.placed",
          bidder: submission.bidder,
          side: submission.side,
          txHash,
          blockNumber: result.receipt.blockNumber,
          observedAt: Date.now(),
        },
        `placed:${submission.bidder}`,
      );
      const matched = result.matched;
      if (matched) {
        const event = {
          type: "market.matched" as const,
          buyId: getAddress(matched.buyBidder) as Address,
          sellId: getAddress(matched.sellBidder) as Address,
          txHash,
          blockNumber: result.receipt.blockNumber,
          logIndex: matched.logIndex ?? 0,
          observedAt: Date.now(),
        };
        if (this.dropMatchNotices) {
          // Lost on NATS: only the chain knows; the DSO finds it there (actors/dso/chainMatches.ts), the meters too.
          this.market.dso.recordMatch(event);
          return;
        }
        await publishDeduplicated(
          this.market.clients.js,
          this.market.subjects.market.matched,
          marketEventSchema,
          event,
          dedupIds.match(tradeIdOf(event)),
        );
      }
    } catch (error) {
      if (!(error instanceof MarketRevertError)) throw error;
      await this.publishEvent(
        {
          type: "market.rejected",
          bidder: submission.bidder,
          error: error.errorName ?? "Unknown",
          detail: error.shortMessage.slice(0, 500),
          observedAt: Date.now(),
        },
        `rejected:${submission.bidder}`,
      );
    }
  }

  /** Market events go to `gridveil.<market>.<type>` (their type names the subject: `market.placed`, …). */
  async publishEvent(event: z.input<typeof marketEventSchema>, msgId: string): Promise<void> {
    const type = (event as { type: string }).type;
    await publishDeduplicated(this.market.clients.js, `gridveil.${this.market.subjects.marketId}.${type}`, marketEventSchema, event, msgId);
  }

  async stop(): Promise<void> {
    await this.#consumer?.stop();
    await this.#cancel?.stop();
  }
}

// -------------------------------------------------------------------------------------------------------------
// A market: a deployed contract, a FHIPE key, streams, the stand-ins, and meters with telemetry to a span file.

export type TestMarket = {
  subjects: MarketSubjects;
  handle: MarketHandle;
  msk: MasterSecretKey;
  description: MarketDescription;
  dsoWallet: Wallet;
  gatewayWallet: Wallet;
  clients: NatsClients;
  dso: FakeDso;
  gateway: FakeGateway;
  telemetry: Telemetry;
  spanFile: string;
  meters: MeterRuntime[];
  /** PROTOCOL §4 opening check against the chain, as the DSO runs it. */
  check(bidder: string, side: 0 | 1, opening: Opening): Promise<OpeningCheck>;
  startMeter(meterId: string, plan: PlannedBid[], extra?: Partial<MeterRuntimeOptions>): Promise<MeterRuntime>;
  spans(): Promise<SpanRecord[]>;
  close(): Promise<void>;
};

let marketCounter = 0;

export async function createTestMarket(env: Environment, options: { config?: MachineConfig; dso?: FakeDsoOptions } = {}): Promise<TestMarket> {
  marketCounter += 1;
  const marketId = `mt${process.pid}-${marketCounter}`;
  const subjects = marketSubjects(marketId);
  const config = options.config ?? testConfig();
  const dsoWallet = new Wallet(env.chain.accountKeys[0] as string, env.provider);
  const gatewayWallet = new Wallet(env.chain.accountKeys[1] as string, env.provider);
  const levels = config.market.priceLevels.count;
  const deployed = await deployMarket(dsoWallet, { dim: levels + 1, ticketSigner: dsoWallet.address });
  const handle = await attachMarket(deployed.address, env.provider);
  const msk = setup(levels + 1);
  const clients = await connectNats({ url: env.nats.url, name: `test-stand-ins-${marketId}` });
  await ensureStreams(clients.jsm, marketId, { storage: "memory" });
  const description: MarketDescription = {
    marketId,
    chainId: Number(env.chain.chainId),
    contractAddress: getAddress(deployed.address) as Address,
    ticketSigner: getAddress(dsoWallet.address) as Address,
    fhipe: { curve: "BN254", dimension: levels + 1 },
    priceLevels: { ...config.market.priceLevels },
    clearingRule: "midpoint",
  };
  const dataDir = join(env.dir, marketId);
  const telemetry = startInProcessTelemetry({ service: "gridveil-meter", dataDir, attributes: { "gridveil.market.id": marketId } });
  const meters: MeterRuntime[] = [];
  // Shared like the demo does: one decoded msk (and its fixed-base tables) for every meter of the market.
  const masterKeyCache = new Map<string, MasterSecretKey>();
  const market: TestMarket = {
    subjects,
    handle,
    msk,
    description,
    dsoWallet,
    gatewayWallet,
    clients,
    dso: undefined as unknown as FakeDso,
    gateway: undefined as unknown as FakeGateway,
    telemetry,
    spanFile: join(dataDir, SPAN_FILE_NAME),
    meters,
    async check(bidder, side, opening) {
      const bidId = await getBidIdOf(handle, bidder);
      if (bidId === undefined) return { ok: false, reason: "commitment-mismatch", detail: "bid not on chain" };
      const [bid, ciphertext] = await Promise.all([getBid(handle, bidId), getBidCiphertext(handle, bidId)]);
      return verifyOpening(msk, levels, bidder, side, { ...ciphertext, commitment: bid.commitment }, opening);
    },
    async startMeter(meterId, plan, extra = {}) {
      const meterKey = Wallet.createRandom();
      market.dso.register(meterId, meterKey.address);
      const runtime = await startMeterRuntime({
        marketId,
        natsUrl: env.nats.url,
        rpcUrl: env.chain.rpcUrl,
        meterId,
        meterPrivateKey: meterKey.privateKey,
        name: meterId,
        plan,
        tracer: telemetry.tracer,
        logger: createLogger({ actor: "meter", market: marketId }),
        config,
        stopTimeoutMs: 1_500,
        masterKeyCache,
        ...extra,
      });
      meters.push(runtime);
      return runtime;
    },
    async spans() {
      const text = await readFile(join(dataDir, SPAN_FILE_NAME), "utf8").catch(() => "");
      return text
        .split("\n")
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as SpanRecord);
    },
    async close() {
      await Promise.all(meters.map((meter) => meter.stop()));
      await market.gateway.stop();
      await market.dso.stop();
      await clients.nc.drain();
      await telemetry.shutdown();
    },
  };
  market.dso = new FakeDso(market, options.dso);
  market.gateway = new FakeGateway(market);
  await market.dso.start();
  await market.gateway.start();
  return market;
}
