// Test harness for the DSO runtime: a real nats-server, a real local chain, and hand-driven meters and gateway that
// speak the protocol with the adapters and the contract client (no other party's runtime is imported).
import { expect } from "vitest";
import { RemoteError } from "../../actors/nats/errors.ts";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { context, trace, type Span, type Tracer } from "@opentelemetry/api";
import { NonceManager, Wallet, getBytes, type HDNodeWallet, type JsonRpcProvider } from "ethers";
import {
  attachMarket,
  buildBid,
  placeBid,
  withRunner,
  type BuiltBid,
  type MarketHandle,
  type PlaceBidResult,
} from "../../contracts/client/index.ts";
import { parseMachineConfig, type MachineConfigInput } from "../../machines/config.ts";
import { connectRpc, startLocalChain, type LocalChain } from "../../actors/chain/localChain.ts";
import { decodeMsk } from "../../protocol/fhipe/binary.ts";
import { initCurve } from "../../protocol/fhipe/curve.ts";
import type { MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";
import { startDsoRuntime, type DsoRuntime } from "../../actors/dso/runtime.ts";
import type { ProvisionedMeter } from "../../actors/dso/registry.ts";
import { connectNats, type NatsClients } from "../../actors/nats/connect.ts";
import { dedupIds, publishDeduplicated } from "../../actors/nats/jetstream.ts";
import { call } from "../../actors/nats/rpc.ts";
import { endpoints, inboxChannels } from "../../protocol/wire/endpoints.ts";
import { sealContexts } from "../../protocol/wire/sealContexts.ts";
import { callSealed, openTradeMessage, sealTradeMessage, type SealingWallet } from "../../actors/secure/sealedRpc.ts";
import type { z } from "zod";
import { startNatsServer, type NatsServerHandle } from "../../actors/nats/server.ts";
import { parseMarketConfig, type MarketConfigInput } from "../../protocol/marketConfig.ts";
import { matchEventSchema, mskPayloadSchema, sealedTradeMessageSchema, type Dispute, type DisputeAck, type EnrolReply, type EnrolRequest, type OpeningAck, type Reading, type TicketRequest, type TradeTermsPayload } from "../../protocol/wire/schemas.ts";
import { marketSubjects } from "../../protocol/wire/subjects.ts";
import { openAs, seal } from "../../actors/secure/sealed.ts";
import type { SigningWallet } from "../../actors/secure/keys.ts";
import { signMessageFields } from "../../actors/secure/signed.ts";
import { createLogger } from "../../actors/telemetry/logger.ts";
import type { SpanRecord } from "../../actors/telemetry/spanRecord.ts";
import { spanFilePath, startInProcessTelemetry, type Telemetry } from "../../actors/telemetry/telemetry.ts";
import { tradeIdOf, type MarketDescription, type SideCode } from "../../protocol/domain.ts";
import type { DisputeCode } from "../../protocol/reasons.ts";

/** Four price levels (d = 5): real pairings, small enough to keep the suite fast. */
export const LEVELS = 4;
export const TX_GAS = { gasLimit: 30_000_000 };

/** Short trade windows so a voided or settled trade ends within seconds. */
export const TEST_CONFIG: MachineConfigInput = {
  dso: {
    setupRetryBaseMs: 100,
    setupRetryMaxMs: 400,
    setupMaxAttempts: 3,
    openingTimeoutMs: 8_000,
    disputeWindowMs: 300,
    readingTimeoutMs: 8_000,
    retryBaseMs: 100,
    retryMaxMs: 1_000,
  },
  meter: { termsTimeoutMs: 9_000, settlementTimeoutMs: 9_000 },
};

export const TEST_MARKET: MarketConfigInput = { priceLevels: { count: LEVELS } };

export async function until<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await sleep(25);
  }
}

/** The error reply a request was answered with (it must be one). */
export async function remoteError(promise: Promise<unknown>): Promise<RemoteError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(RemoteError);
    return error as RemoteError;
  }
  throw new Error("expected an error reply");
}

export type Infra = {
  nats: NatsServerHandle;
  chain: LocalChain;
  /** A test-side NATS client (the hand-driven gateway and meters publish through it). */
  client: NatsClients;
  telemetryDir: string;
  dsoTelemetry: Telemetry;
  meterTelemetry: Telemetry;
  close(): Promise<void>;
};

export async function startInfra(): Promise<Infra> {
  await initCurve();
  const storeDir = await mkdtemp(join(tmpdir(), "gridveil-dso-js-"));
  const telemetryDir = await mkdtemp(join(tmpdir(), "gridveil-dso-spans-"));
  const [nats, chain] = await Promise.all([startNatsServer({ storeDir }), startLocalChain()]);
  const client = await connectNats({ url: nats.url, name: "dso-test-client" });
  const dsoTelemetry = startInProcessTelemetry({ service: "gridveil-dso", dataDir: telemetryDir });
  const meterTelemetry = startInProcessTelemetry({ service: "gridveil-meter", dataDir: telemetryDir });
  return {
    nats,
    chain,
    client,
    telemetryDir,
    dsoTelemetry,
    meterTelemetry,
    async close() {
      await client.nc.close();
      await Promise.all([dsoTelemetry.shutdown(), meterTelemetry.shutdown()]);
      await Promise.all([nats.stop(), chain.stop()]);
      await rm(telemetryDir, { recursive: true, force: true });
    },
  };
}

export async function readSpans(infra: Infra): Promise<SpanRecord[]> {
  const path = spanFilePath(infra.telemetryDir);
  if (!existsSync(path)) return [];
  return (await readFile(path, "utf8"))
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as SpanRecord);
}

export type DsoUnderTest = { runtime: DsoRuntime; dataDir: string };

export async function startDso(
  infra: Infra,
  marketId: string,
  registry: ProvisionedMeter[],
  options: { dataDir?: string; contractAddress?: string; config?: MachineConfigInput; dsoPrivateKey?: string; levels?: number } = {},
): Promise<DsoUnderTest> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "gridveil-dso-data-")));
  const runtime = await startDsoRuntime({
    marketId,
    natsUrl: infra.nats.url,
    rpcUrl: infra.chain.rpcUrl,
    dsoPrivateKey: options.dsoPrivateKey ?? (infra.chain.accountKeys[0] as string),
    dataDir,
    contractAddress: options.contractAddress,
    market: parseMarketConfig(options.levels ? { priceLevels: { count: options.levels } } : TEST_MARKET),
    registry,
    tracer: infra.dsoTelemetry.tracer,
    logger: createLogger({ actor: "dso", market: marketId }),
    config: parseMachineConfig(options.config ?? TEST_CONFIG),
    requestTimeoutMs: 5_000,
    streams: { storage: "memory" },
  });
  return { runtime, dataDir };
}

/** A bid as a meter holds it: the one-time key, the built bid and its opening. */
export type TestBid = { oneTimeKey: HDNodeWallet; built: BuiltBid; side: SideCode; bidder: `0x${string}` };

/** A hand-driven smart meter: enrols, asks tickets, builds bids, opens them and reports readings like the protocol says. */
export class TestMeter {
  readonly wallet: HDNodeWallet = Wallet.createRandom();
  readonly inbox: { subject: string; data: unknown }[] = [];
  enrolment: EnrolReply | undefined;
  msk: MasterSecretKey | undefined;
  #subscription: Subscription | undefined;

  constructor(
    readonly meterId: string,
    readonly nc: NatsConnection,
    readonly marketId: string,
    readonly tracer: Tracer,
  ) {}

  get provisioned(): ProvisionedMeter {
    return { meterId: this.meterId, address: this.wallet.address as `0x${string}`, name: `Meter ${this.meterId}` };
  }

  get subjects() {
    return marketSubjects(this.marketId);
  }

  get market(): MarketDescription {
    if (!this.enrolment) throw new Error("not enrolled");
    return this.enrolment.market;
  }

  async enrol(): Promise<EnrolReply> {
    const s = this.subjects;
    const message = signMessageFields<EnrolRequest>(
      { type: "enrol.request", meterId: this.meterId, name: `Meter ${this.meterId}`, publicKey: this.wallet.signingKey.publicKey as `0x${string}` },
      this.wallet,
      s.dso.enrol,
    );
    const info = await call(this.nc, s, endpoints.marketInfo, { type: "market.info.request" });
    const reply = await callSealed(this.nc, s, endpoints.enrol, message, { wallet: this.wallet, recipientPublicKey: info.dso.publicKey });
    const payload = openAs(mskPayloadSchema, reply.sealedMsk, this.wallet.privateKey, reply.dso.address, sealContexts.enrolment(s));
    this.msk = decodeMsk(getBytes(payload.msk));
    this.enrolment = reply;
    if (!this.#subscription) {
      this.#subscription = this.nc.subscribe(s.meter.inbox(reply.inboxId));
      void (async () => {
        for await (const msg of this.#subscription as AsyncIterable<Msg>) this.inbox.push({ subject: msg.subject, data: msg.json() });
      })();
      await this.nc.flush();
    }
    return reply;
  }

  /** A ticket request for `oneTimeKey`'s address, sealed by it (or by `sealer`) to the DSO. */
  async ticket(oneTimeKey: SealingWallet, side: SideCode, notAfter = Math.floor(Date.now() / 1000) + 600, sealer: SealingWallet = oneTimeKey) {
    const s = this.subjects;
    const message = signMessageFields<TicketRequest>(
      { type: "ticket.request", meterId: this.meterId, bidder: oneTimeKey.address as `0x${string}`, side, notAfter },
      this.wallet,
      s.dso.ticket,
    );
    // A meter not enrolled (yet) learns the DSO's key from the public description.
    const dsoKey = this.enrolment?.dso.publicKey ?? (await call(this.nc, s, endpoints.marketInfo, { type: "market.info.request" })).dso.publicKey;
    return callSealed(this.nc, s, endpoints.ticket, message, { wallet: sealer, recipientPublicKey: dsoKey });
  }

  dsoPublicKey(): string {
    if (!this.enrolment) throw new Error("not enrolled");
    return this.enrolment.dso.publicKey;
  }

  async makeBid(side: SideCode, priceLevel: number, quantityWh: number, contract: MarketHandle): Promise<TestBid> {
    if (!this.msk) throw new Error("not enrolled");
    const oneTimeKey = Wallet.createRandom();
    const reply = await this.ticket(oneTimeKey, side);
    const built = await buildBid({
      msk: this.msk,
      levels: LEVELS,
      side,
      priceLevel,
      quantityWh,
      oneTimeKey,
      ticket: { bidder: oneTimeKey.address as `0x${string}`, notAfter: BigInt(reply.ticket.notAfter), signature: reply.ticket.signature },
      domain: contract.domain,
    });
    return { oneTimeKey, built, side, bidder: oneTimeKey.address as `0x${string}` };
  }

  /** Sends the bid's opening sealed to the DSO, from inside a bid-session span (its context rides in the headers). */
  async open(tradeId: string, bid: TestBid, tamper?: (opening: TradeTermsPayload["counterpart"]["opening"]) => TradeTermsPayload["counterpart"]["opening"]): Promise<{ ack: OpeningAck; span: Span }> {
    const s = this.subjects;
    const dso = this.enrolment?.dso;
    if (!dso) throw new Error("not enrolled");
    const honest = {
      priceLevel: bid.built.opening.priceLevel,
      quantityWh: Number(bid.built.opening.quantityWh),
      salt: bid.built.opening.salt,
      alpha: bid.built.opening.alpha.toString(),
      beta: bid.built.opening.beta.toString(),
    };
    const opening = tamper ? tamper(honest) : honest;
    const span = this.tracer.startSpan("meter.bidSession", { attributes: { "gridveil.bidder": bid.bidder } });
    try {
      const ack = await context.with(trace.setSpan(context.active(), span), () =>
        call(
          this.nc,
          s,
          endpoints.opening,
          {
            type: "opening.submit",
            tradeId: tradeId as `0x${string}`,
            bidder: bid.bidder,
            sealed: seal({
              payload: { type: "opening", tradeId, bidder: bid.bidder, side: bid.side, opening },
              senderWallet: bid.oneTimeKey,
              recipientPublicKey: dso.publicKey,
              context: `${s.dso.opening}|${tradeId}`,
            }),
          },
        ),
      );
      return { ack, span };
    } finally {
      span.end();
    }
  }

  async reportReading(js: NatsClients["js"], tradeId: string, bid: TestBid, energyWh: number): Promise<void> {
    const s = this.subjects;
    const message = signMessageFields<Reading>(
      { type: "reading", tradeId: tradeId as `0x${string}`, bidder: bid.bidder, side: bid.side, energyWh, measuredAt: Date.now() },
      bid.oneTimeKey,
      s.meter.reading,
    );
    const sealed = sealTradeMessage(s.meter.reading, tradeId, message, { wallet: bid.oneTimeKey, recipientPublicKey: this.dsoPublicKey() });
    await publishDeduplicated(js, s.meter.reading, sealedTradeMessageSchema, sealed, dedupIds.reading(tradeId, bid.side));
  }

  async dispute(tradeId: string, bid: TestBid, code: DisputeCode, signer: SigningWallet = bid.oneTimeKey): Promise<DisputeAck> {
    const s = this.subjects;
    const message = signMessageFields<Dispute>(
      { type: "dispute", tradeId: tradeId as `0x${string}`, bidder: bid.bidder, code, detail: "checked by the test meter" },
      signer,
      s.dso.dispute,
    );
    return callSealed(this.nc, s, endpoints.dispute, message, { wallet: bid.oneTimeKey, recipientPublicKey: this.dsoPublicKey() });
  }

  /** The decrypted terms this meter received for a trade (undefined until they arrive). */
  terms(tradeId: string): TradeTermsPayload | undefined {
    if (!this.enrolment || !this.msk) return undefined;
    const subject = this.subjects.meter.trade(this.enrolment.inboxId);
    const message = this.inbox.find((entry) => entry.subject === subject && (entry.data as { tradeId?: string }).tradeId === tradeId);
    if (!message) return undefined;
    const channel = inboxChannels.terms;
    const payload = openTradeMessage(subject, sealedTradeMessageSchema.parse(message.data), channel.payload, channel.tradeIdOf, this.wallet.privateKey, this.enrolment.dso.address).payload;
    return payload.type === "trade.terms" ? payload : undefined;
  }

  /** The notices of one kind this meter received, opened (each sealed to it by the DSO). */
  notices(kind: "voided" | "disputed" | "settled"): Record<string, unknown>[] {
    const enrolment = this.enrolment;
    if (!enrolment) return [];
    const subject = this.subjects.meter[kind](enrolment.inboxId);
    const channel = inboxChannels[kind];
    return this.inbox
      .filter((entry) => entry.subject === subject)
      .map((entry) => {
        const message = sealedTradeMessageSchema.parse(entry.data);
        return openTradeMessage(subject, message, channel.payload as z.ZodType, (payload) => channel.tradeIdOf(payload as never), this.wallet.privateKey, enrolment.dso.address)
          .payload as Record<string, unknown>;
      });
  }

  close(): void {
    this.#subscription?.unsubscribe();
  }
}

/** The chain side the gateway would play: place bids with the gateway's account and publish the match it saw. */
export class TestGateway {
  #provider: JsonRpcProvider | undefined;

  constructor(
    readonly infra: Infra,
    readonly marketId: string,
  ) {}

  /** The market as the gateway's account (account 1) sees it. */
  async contract(address: string): Promise<MarketHandle> {
    this.#provider ??= await connectRpc(this.infra.chain.rpcUrl);
    // The provider caches identical calls for 250 ms: back-to-back placements need their nonces counted locally.
    const gateway = new NonceManager(new Wallet(this.infra.chain.accountKeys[1] as string, this.#provider));
    return withRunner(await attachMarket(address, gateway), gateway);
  }

  close(): void {
    this.#provider?.destroy();
  }

  async place(contract: MarketHandle, bid: TestBid): Promise<PlaceBidResult> {
    return placeBid(contract, bid.built.bid, TX_GAS);
  }

  /** Publishes the Matched event of a placement to the matches stream; returns the trade id. */
  /** The match notice of a crossing placement, published as the gateway does, or only its trade id (`drop`: lost). */
  async publishMatch(result: PlaceBidResult, options: { drop?: boolean } = {}): Promise<string> {
    const matched = result.matched;
    if (!matched) throw new Error("the placement did not match");
    const event = {
      type: "market.matched" as const,
      buyId: matched.buyBidder,
      sellId: matched.sellBidder,
      txHash: result.receipt.hash as `0x${string}`,
      blockNumber: result.receipt.blockNumber,
      logIndex: matched.logIndex ?? 0,
      observedAt: Date.now(),
    };
    const tradeId = tradeIdOf({ buyId: event.buyId, sellId: event.sellId, txHash: event.txHash });
    if (options.drop) return tradeId;
    await publishDeduplicated(this.infra.client.js, marketSubjects(this.marketId).market.matched, matchEventSchema, event, dedupIds.match(tradeId));
    return tradeId;
  }
}

export type TestMarket = { dso: DsoUnderTest; seller: TestMeter; buyer: TestMeter; gateway: TestGateway; contract: MarketHandle };

/** A DSO with a seller and a buyer enrolled, and the gateway's view of the contract. */
export async function setupMarket(infra: Infra, marketId: string, config?: MachineConfigInput): Promise<TestMarket> {
  const tracer = infra.meterTelemetry.tracer;
  const seller = new TestMeter(`${marketId}-pv`, infra.client.nc, marketId, tracer);
  const buyer = new TestMeter(`${marketId}-flat`, infra.client.nc, marketId, tracer);
  const dso = await startDso(infra, marketId, [seller.provisioned, buyer.provisioned], config ? { config } : {});
  await seller.enrol();
  await buyer.enrol();
  const gateway = new TestGateway(infra, marketId);
  const contract = await gateway.contract(dso.runtime.market.contractAddress);
  return { dso, seller, buyer, gateway, contract };
}

/** Places a sell, then a crossing buy; publishes the match and waits until the DSO has recorded the trade. */
export async function matchBids(
  m: TestMarket,
  sell: { level: number; quantityWh: number },
  buy: { level: number; quantityWh: number },
  options: { dropNotice?: boolean } = {},
): Promise<{ tradeId: string; sellBid: TestBid; buyBid: TestBid }> {
  const sellBid = await m.seller.makeBid(1, sell.level, sell.quantityWh, m.contract);
  const buyBid = await m.buyer.makeBid(0, buy.level, buy.quantityWh, m.contract);
  const resting = await m.gateway.place(m.contract, sellBid);
  if (resting.matched) throw new Error("the sell bid matched on arrival");
  const crossing = await m.gateway.place(m.contract, buyBid);
  const tradeId = await m.gateway.publishMatch(crossing, { drop: options.dropNotice === true });
  await until(() => m.dso.runtime.db.getTrade(tradeId), 10_000, "trade recorded");
  return { tradeId, sellBid, buyBid };
}

export function closeMarket(m: TestMarket): void {
  m.seller.close();
  m.buyer.close();
  m.gateway.close();
}
