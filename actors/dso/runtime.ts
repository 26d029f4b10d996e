// The DSO as a running party (PROTOCOL §1, §4–§6): the dso machine provided with real effects (FHIPE, chain,
// SQLite, NATS/JetStream), its NATS services and consumers, tracing, and a graceful stop. No process-global state.
// Version 1 or version 2 (`design`: epoch keys, the slot market, certified bids, trading without the opening round trip).
import { EventEmitter } from "node:events";
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { ROOT_CONTEXT, SpanStatusCode, type Span, type Tracer } from "@opentelemetry/api";
import { Wallet, type JsonRpcProvider } from "ethers";
import { createActor, type Actor, type AnyActorRef, type InspectionEvent } from "xstate";
import type { MachineConfig } from "../../machines/config.ts";
import { provideDso, type DsoEvent, type DsoMachine, type DsoStats } from "../../machines/dso.ts";
import { refused, type RequestReply, type TradeEnded } from "../../machines/tradeSettlement.ts";
import type { Effect } from "../../machines/kit/effects.ts";
import { connectRpc } from "../chain/localChain.ts";
import { initCurve } from "../../protocol/fhipe/curve.ts";
import { openDsoDatabase, type DsoDatabase } from "../db/dsoDatabase.ts";
import { connectNats, natsCredentials, type NatsClients } from "../nats/connect.ts";
import { ensureStreams, type StreamOptions } from "../nats/jetstream.ts";
import type { MarketConfig } from "../../protocol/marketConfig.ts";
import type { DisputeClaim, VoidReason } from "../../protocol/reasons.ts";
import { marketSubjects, streamNames } from "../../protocol/wire/subjects.ts";
import { publishStateSnapshots, type StateSnapshotPublisher } from "../runtime/stateSnapshots.ts";
import type { Logger } from "../telemetry/logger.ts";
import { recordTransitions } from "../telemetry/transitions.ts";
import { type DsoDeps, type DsoState } from "./deps.ts";
import { DsoSetupError } from "./errors.ts";
import { Correlator } from "./pending.ts";
import { MeterRegistry, type ProvisionedMeter } from "./registry.ts";
import { requestEffects } from "./requestEffects.ts";
import { createDsoServices, readingMessageId, type DsoCounters } from "./services.ts";
import { setupEffects } from "./setupEffects.ts";
import { tradeEffects } from "./tradeEffects.ts";
import { TradeSpans, attr } from "./tradeSpans.ts";
import { SideCode, type MarketDescription as WireMarketDescription } from "../../protocol/domain.ts";
import { type Address } from "../../protocol/base/hex.ts";
import { type Settlement } from "../../protocol/settlement.ts";
import { dsoDefaults, slotMarketOf, type SlotSettings } from "../config/dso.ts";
import type { MarketDesign } from "../chain/marketLog.ts";
import { systemClock, type Clock } from "../runtime/clock.ts";
import { EpochKeyVault, loadVaultKey } from "./epochKeys.ts";

export const DSO_DATABASE_FILE = "dso.sqlite";

export type DsoRuntimeOptions = Partial<SlotSettings> & {
  marketId: string;
  natsUrl: string;
  /** NATS credentials of this party's user (infra/nats/nats.conf: one user per role, one per meter). */
  natsUser?: string | undefined;
  natsPassword?: string | undefined;
  rpcUrl: string;
  /** The DSO's key (0x hex): deploys the market, signs tickets, seals msk and terms. */
  dsoPrivateKey: string;
  /** Holds `dso.sqlite` and `msk.bin` (both owner-only); a restart on the same directory resumes. */
  dataDir: string;
  /** Attach to this market contract instead of the recorded one (or a new deployment). */
  contractAddress?: string | undefined;
  /** The market's economics; its price levels, clearing rule and tariffs override `config.market`. */
  market: MarketConfig;
  /** Provisioned meters (PROTOCOL §4): who may enrol, with which long-term key. */
  registry: readonly ProvisionedMeter[];
  tracer: Tracer;
  logger: Logger;
  config: MachineConfig;
  requestTimeoutMs?: number;
  stopGraceMs?: number;
  /** JetStream stream options (tests use memory storage). */
  streams?: StreamOptions;
  /** Machine inspection (the opt-in Stately inspector, actors/runtime/inspect.ts). */
  inspect?: (event: InspectionEvent) => void;
  /** State snapshots on `dso.state` for `gridveil watch` (heartbeat ms; default 5 s). */
  snapshotIntervalMs?: number;
  /**
   * The protocol version (default `dsoDefaults.design`). Version 2 takes the `SlotSettings` above as well (width,
   * encryptAt, slotSeconds, gateClosureSeconds, epochSlots, epochKeyRetentionSeconds; each default in `dsoDefaults`).
   */
  design?: MarketDesign;
  /**
   * Version 2: the key sealing the epoch keys at rest, 64 hex (`GRIDVEIL_VAULT_KEY`), or a file holding it; neither:
   * `vault.key` in the data directory, made once (owner-only). Never in the database.
   */
  vaultKey?: string | undefined;
  vaultKeyFile?: string | undefined;
  /** The market clock (default the system clock): epochs, gate closures, ticket lifetimes and slot ends. */
  clock?: Clock;
};

export type TradeOutcomeBase = { tradeId: string; startedAt: number; endedAt: number };
export type TradeSettledEvent = TradeOutcomeBase & { settlement: Settlement; buyerMeterId: string | null; sellerMeterId: string | null };
export type TradeVoidedEvent = TradeOutcomeBase & { reason: VoidReason; blamedBidders: Address[] };
export type TradeDisputedEvent = TradeOutcomeBase & { dispute: DisputeClaim; raisedBy: Address };

export type DsoRuntimeEvents = {
  "trade.settled": [TradeSettledEvent];
  "trade.voided": [TradeVoidedEvent];
  "trade.disputed": [TradeDisputedEvent];
};

export type DsoRuntime = {
  actor: Actor<DsoMachine>;
  /** For summaries (bills, ledger total, trades by stage): read it, do not write it. */
  db: DsoDatabase;
  /** The published market description (wire form). */
  market: WireMarketDescription;
  dso: { address: Address; publicKey: `0x${string}` };
  events: EventEmitter<DsoRuntimeEvents>;
  counters(): DsoCounters & DsoStats & { tradesInFlight: number };
  /** Graceful and idempotent: stop taking work, finish what runs, ack what was done, drain NATS, close. */
  stop(): Promise<void>;
};

/** Wraps every effect so that `stop()` can wait for those still running. */
function tracked<T extends Record<string, unknown>>(effects: T, inFlight: Set<Promise<unknown>>): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, effect] of Object.entries(effects)) {
    wrapped[name] =
      typeof effect === "function"
        ? (input: unknown, signal: AbortSignal) => {
            const running = (effect as Effect<unknown, unknown>)(input, signal);
            inFlight.add(running);
            void running.then(
              () => inFlight.delete(running),
              () => inFlight.delete(running),
            );
            return running;
          }
        : effect;
  }
  return wrapped as T;
}

/** Machine config whose `market` section is the market configuration (one source of truth for both). */
function withMarket(config: MachineConfig, market: MarketConfig): MachineConfig {
  return { ...config, market };
}

export async function startDsoRuntime(options: DsoRuntimeOptions): Promise<DsoRuntime> {
  const { tracer, marketId } = options;
  const logger = options.logger;
  const config = withMarket(options.config, options.market);
  const subjects = marketSubjects(marketId);
  const streams = streamNames(marketId);
  const requestTimeoutMs = options.requestTimeoutMs ?? dsoDefaults.machineReplyTimeoutMs;
  const setupSpan = tracer.startSpan("dso.setup", { attributes: { [attr.market]: marketId } }, ROOT_CONTEXT);

  // Everything opened so far, closed in reverse if the start fails half-way.
  let db: DsoDatabase | undefined;
  let provider: JsonRpcProvider | undefined;
  let nats: NatsClients | undefined;
  const cleanupPartial = async () => {
    await nats?.nc.close().catch(() => undefined);
    provider?.destroy();
    db?.close();
  };

  try {
    mkdirSync(options.dataDir, { recursive: true });
    const dbPath = join(options.dataDir, DSO_DATABASE_FILE);
    db = openDsoDatabase(dbPath);
    // The database holds openings and the registry of pairs: owner-only like the key.
    chmodSync(dbPath, 0o600);
    await initCurve();
    // Version 2: what the settings fix (a width that does not fit the levels fails here), and the epoch keys' vault.
    const design = options.design ?? dsoDefaults.design;
    let slotMarket: DsoDeps["slotMarket"] = null;
    if (design === "v2") {
      const { width, encryptAt, slotSeconds, gateClosureSeconds, epochSlots, epochKeyRetentionSeconds } = options;
      const { slots, params } = slotMarketOf({ width, encryptAt, slotSeconds, gateClosureSeconds, epochSlots, epochKeyRetentionSeconds }, options.market.priceLevels.count);
      const calendar = slots.calendar;
      const { key: vaultKey, created } = loadVaultKey({ hex: options.vaultKey, file: options.vaultKeyFile, dataDir: options.dataDir });
      if (created) logger.info({}, "vault key created in the data directory");
      slotMarket = { slots, params, calendar, vault: new EpochKeyVault({ db, vaultKey, marketId, dimension: params.dim, calendar }) };
    }
    provider = await connectRpc(options.rpcUrl);
    const wallet = new Wallet(options.dsoPrivateKey, provider);
    nats = await connectNats({ url: options.natsUrl, name: `gridveil-dso-${marketId}`, ...natsCredentials(options) });
    await ensureStreams(nats.jsm, marketId, options.streams);
    setupSpan.addEvent("adapters.ready");

    const state: DsoState = {
      msk: null,
      contract: null,
      description: null,
      enrolments: new Map(),
      ticketRequests: new Map(),
      matchEvents: new Map(),
      slotContract: null,
      certifier: null,
      certifyRequests: new Map(),
    };
    const spans = new TradeSpans(tracer, marketId);
    const deps: DsoDeps = {
      marketId,
      subjects,
      streams,
      db,
      wallet,
      provider,
      nats,
      registry: new MeterRegistry(options.registry),
      market: options.market,
      config,
      dataDir: options.dataDir,
      contractAddress: options.contractAddress,
      tracer,
      logger,
      spans,
      state,
      clock: options.clock ?? systemClock,
      slotMarket,
    };
    return await assemble(deps, { options, config, requestTimeoutMs, setupSpan });
  } catch (error) {
    setupSpan.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : "error" });
    setupSpan.end();
    await cleanupPartial();
    throw error;
  }
}

async function assemble(
  deps: DsoDeps,
  args: { options: DsoRuntimeOptions; config: MachineConfig; requestTimeoutMs: number; setupSpan: Span },
): Promise<DsoRuntime> {
  const { db, nats, provider, spans, logger } = deps;
  const { options, config, requestTimeoutMs, setupSpan } = args;
  const events = new EventEmitter<DsoRuntimeEvents>();
  const replies = new Correlator<RequestReply>();
  const acks = new Correlator<boolean>();
  const inFlight = new Set<Promise<unknown>>();
  const counters: DsoCounters = {
    requests: 0,
    refused: 0,
    badMessages: 0,
    matchesReceived: 0,
    matchesRefused: 0,
    matchesFromChain: 0,
    openingsReceived: 0,
    disputesReceived: 0,
    readingsReceived: 0,
    readingsRejected: 0,
  };
  let permanentFailure: Error | undefined;
  let actor!: Actor<DsoMachine>;
  let stopping = false;
  const send = (event: DsoEvent) => {
    if (!stopping || event.type === "SHUTDOWN.REQUESTED") actor.send(event);
  };

  const services = createDsoServices({ deps, send, replies, acks, requestTimeoutMs, counters });
  const machine = provideDso(
    tracked(
      {
        ...setupEffects(deps, {
          onPermanentFailure: (error) => {
            permanentFailure ??= error;
          },
          onPublished: () => services.startMarketService(),
          onContract: ({ deployed, deployment }) => {
            setupSpan.setAttribute("gridveil.contract.deployed", deployed);
            if (deployment)
              setupSpan.setAttributes({
                [attr.txHash]: deployment.txHash,
                [attr.block]: deployment.blockNumber,
                "gridveil.tx.gas_used": Number(deployment.gasUsed),
              });
          },
        }),
        ...requestEffects(deps),
        tradeSettlement: tracked(tradeEffects(deps), inFlight),
      },
      inFlight,
    ),
    {
      // Actions must never throw (docs/machines.md §1): both only settle promises.
      replyToRequest: ({ requestId, reply }) => {
        replies.settle(requestId, reply);
      },
      ackMessages: ({ messageIds }) => {
        for (const messageId of messageIds) acks.settle(messageId, true);
      },
    },
  );

  const input = { config, marketId: deps.marketId, ...(deps.slotMarket === null ? {} : { slots: deps.slotMarket.slots }) };
  actor = createActor(machine, { input, ...(options.inspect ? { inspect: options.inspect } : {}) });
  const machineTransitions = recordTransitions(actor, setupSpan, "dso");

  // Each tradeSettlement child: transitions on its dso.trade span; its end becomes a runtime event.
  const watched = new WeakSet<AnyActorRef>();
  const startedAt = new Map<string, number>();
  const onTradeEnded = (tradeId: string, child: AnyActorRef) => {
    const snapshot = child.getSnapshot() as { status: string; output?: TradeEnded };
    const began = startedAt.get(tradeId) ?? Date.now();
    startedAt.delete(tradeId);
    if (snapshot.status !== "done" || !snapshot.output) {
      spans.end(tradeId, { [attr.outcome]: "interrupted" });
      return;
    }
    const ended = snapshot.output;
    spans.end(tradeId, { [attr.outcome]: ended.stage }, false);
    if (ended.stage !== "alreadyClosed") logger.info({ tradeId, outcome: ended.stage, durationMs: Date.now() - began }, "trade ended");
    const base = { tradeId, startedAt: began, endedAt: Date.now() };
    try {
      if (ended.stage === "settled" && ended.settlement) {
        const trade = db.getTrade(tradeId);
        events.emit("trade.settled", {
          ...base,
          settlement: ended.settlement,
          buyerMeterId: trade?.buyerMeterId ?? null,
          sellerMeterId: trade?.sellerMeterId ?? null,
        });
      } else if (ended.stage === "voided" && ended.resolution?.kind === "voided") {
        events.emit("trade.voided", { ...base, reason: ended.resolution.reason, blamedBidders: ended.resolution.blamedBidders });
      } else if (ended.stage === "disputed" && ended.resolution?.kind === "disputed") {
        events.emit("trade.disputed", { ...base, dispute: ended.resolution.dispute, raisedBy: ended.resolution.raisedBy });
      }
    } catch (error) {
      // A listener's bug must not stop the DSO.
      logger.error({ err: error, tradeId }, "trade outcome listener failed");
    }
  };
  actor.subscribe({
    next: (snapshot) => {
      for (const [id, child] of Object.entries(snapshot.children as Record<string, AnyActorRef | undefined>)) {
        if (!id.startsWith("trade:") || !child || watched.has(child)) continue;
        watched.add(child);
        const tradeId = id.slice("trade:".length);
        if (!startedAt.has(tradeId)) startedAt.set(tradeId, Date.now());
        spans.watch(tradeId, child, spans.get(tradeId) === undefined);
        child.subscribe({ complete: () => onTradeEnded(tradeId, child), error: () => onTradeEnded(tradeId, child) });
      }
    },
    error: (error) => logger.error({ err: error }, "dso machine failed"),
  });

  actor.start();
  // Live view (`gridveil watch`, actors/runtime/stateSnapshots.ts): state value, tags and counts only — the context holds msk.
  const snapshots: StateSnapshotPublisher = publishStateSnapshots(actor, {
    nc: nats.nc,
    subject: deps.subjects.dso.state,
    party: "dso",
    id: deps.marketId,
    ...(options.snapshotIntervalMs === undefined ? {} : { intervalMs: options.snapshotIntervalMs }),
    counts: () => ({ ...actor.getSnapshot().context.stats, queuedRequests: actor.getSnapshot().context.requestQueue.length }),
  });
  await services.startRequestServices();

  // Setup runs in the machine (with its retries); wait for `serving`, a final state, or an error retrying cannot fix.
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = () => {
      if (settled) return;
      const snapshot = actor.getSnapshot();
      let failure: Error | null | undefined;
      if (permanentFailure) failure = permanentFailure;
      else if (snapshot.hasTag("serving")) failure = null;
      else if (snapshot.status !== "active")
        failure = new DsoSetupError({ reason: "setupFailed", lastError: snapshot.context.errors.at(-1) });
      if (failure === undefined) return;
      settled = true;
      subscription.unsubscribe();
      if (failure) reject(failure);
      else resolve();
    };
    // A permanent failure is noted by the effect before it throws, so the next transition (to backoff) sees it.
    const subscription = actor.subscribe({ next: finish, error: (error) => reject(error) });
    finish();
  }).catch(async (error: unknown) => {
    stopping = true;
    machineTransitions();
    actor.send({ type: "SHUTDOWN.REQUESTED" });
    snapshots.stop();
    await services.stopServices().catch(() => undefined);
    await nats.nc.close().catch(() => undefined);
    provider.destroy();
    db.close();
    throw error;
  });

  const snapshot = actor.getSnapshot();
  const description = deps.state.description;
  if (!description) throw new DsoSetupError({ reason: "noDescription" });
  setupSpan.setAttributes({
    "gridveil.contract.address": description.contractAddress,
    "gridveil.chain.id": description.chainId,
    "gridveil.trades.resumed": snapshot.context.stats.tradesResumed,
  });
  machineTransitions();
  setupSpan.setStatus({ code: SpanStatusCode.OK });
  setupSpan.end();

  resumeStoredInputs(deps, send);
  await services.startConsumers();
  await services.startChainMatches();
  logger.info(
    { contract: description.contractAddress, chainId: description.chainId, resumed: snapshot.context.stats.tradesResumed },
    "DSO serving",
  );

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      // 1. No new deliveries or requests; the ones being handled finish (their machine replies still come).
      await services.stopConsumers().catch((error: unknown) => logger.warn({ err: error }, "stopping consumers"));
      await services.stopServices().catch((error: unknown) => logger.warn({ err: error }, "stopping services"));
      // 2. The machine stops; in-flight trades live on in the database and resume at the next start.
      stopping = true;
      actor.send({ type: "SHUTDOWN.REQUESTED" });
      const grace = new Promise((resolve) => setTimeout(resolve, options.stopGraceMs ?? dsoDefaults.stopGraceMs).unref());
      await Promise.race([Promise.allSettled([...inFlight]), grace]);
      replies.settleAll(refused("unavailable"));
      acks.settleAll(false);
      spans.endAll("interrupted");
      snapshots.stop();
      // 3. Flush what was published, close the adapters.
      await nats.nc.drain().catch(() => nats.nc.close());
      provider.destroy();
      db.close();
      logger.info({}, "DSO stopped");
    })());

  return {
    actor,
    db,
    market: description,
    dso: { address: deps.wallet.address as Address, publicKey: deps.wallet.signingKey.publicKey as `0x${string}` },
    events,
    counters: () => ({ ...counters, ...actor.getSnapshot().context.stats, tradesInFlight: Object.keys(actor.getSnapshot().context.trades).length }),
    stop,
  };
}

/**
 * After a restart the resumed trades get back what the database holds but their machine record does not: openings
 * received before the terms were fixed, and readings (acked when stored). Replies and acks to these are no-ops.
 */
function resumeStoredInputs(deps: DsoDeps, send: (event: DsoEvent) => void): void {
  for (const trade of deps.db.listUnclosedTrades()) {
    const sides = [
      { side: SideCode.Buy, bidder: trade.buyId, opening: trade.buyOpening },
      { side: SideCode.Sell, bidder: trade.sellId, opening: trade.sellOpening },
    ] as const;
    if (trade.stage === "awaitingOpenings") {
      for (const { bidder, opening } of sides) {
        if (opening)
          send({ type: "OPENING.RECEIVED", requestId: `resume:${randomUUID()}`, matchId: trade.tradeId, bidder: bidder as Address, opening });
      }
    }
    const readings = deps.db.readingsOf(trade.tradeId);
    for (const reading of [readings.buy, readings.sell]) {
      if (reading)
        send({
          type: "READING.RECEIVED",
          messageId: readingMessageId(trade.tradeId, reading.side),
          matchId: trade.tradeId,
          bidder: reading.bidder as Address,
          measuredWh: reading.energyWh,
        });
    }
  }
}

