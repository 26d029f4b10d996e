// The smart-meter runtime: the `meter` machine (and its `bidSession` children) wired to NATS, JetStream, the chain
// (read-only), FHIPE and the meter's keys (PROTOCOL §4–§6), traced with OpenTelemetry (PROTOCOL §6 trace context).
import { EventEmitter } from "node:events";
import { ROOT_CONTEXT, type Tracer } from "@opentelemetry/api";
import { Wallet, getBytes, type JsonRpcProvider } from "ethers";
import { Actor, createActor, waitFor, type InspectionEvent } from "xstate";
import type { Logger } from "pino";
import { connectRpc } from "../chain/localChain.ts";
import { initCurve } from "../../protocol/fhipe/curve.ts";
import { decodeMsk } from "../../protocol/fhipe/binary.ts";
import { precomputeTables, type MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";
import { InvalidSettingError } from "../../protocol/base/errors.ts";
import { ChainMismatchError } from "../../contracts/client/errors.ts";
import { MeterNotEnrolledError, MeterRuntimeStoppedError } from "./errors.ts";
import { connectNats, natsCredentials, type NatsClients } from "../nats/connect.ts";
import type { Service } from "../nats/rpc.ts";
import { termsNameTheirTrade, type TradeTermsPayload, type SlotTradeTermsPayload, type DisputedNotice, type MarketEvent, type SettlementNotice, type VoidedNotice } from "../../protocol/wire/schemas.ts";
import { marketSubjects, replyInboxPrefix } from "../../protocol/wire/subjects.ts";
import { combineInspect } from "../runtime/inspect.ts";
import { publishStateSnapshots, type StateSnapshotPublisher } from "../runtime/stateSnapshots.ts";
import { attachMarket } from "../../contracts/client/index.ts";
import { attachSlotMarket } from "../../contracts/client/v2/slotMarket.ts";
import { systemClock, type Clock } from "../runtime/clock.ts";
import { slotDesignOf } from "./slotEffects.ts";
import { requestEpochKeys } from "./epochKeys.ts";
import type { MachineConfig } from "../../machines/config.ts";
import { provideMeter, type MeterMachine, type MeterStats, type PlannedBid } from "../../machines/meter.ts";
import { outcomeReason, type BidOutcome, type BidSessionInput, type ReadMeterInput } from "../../machines/bidSession.ts";
import { createBidSessionEffects, type MeterFaults } from "./bidEffects.ts";
import { enrol } from "./enrolment.ts";
import { subscribeInbox } from "./inbox.ts";
import { type MeterLink } from "./link.ts";
import { followMarketEvents, type MarketEventFollower } from "./marketEvents.ts";
import { startChainEvents, type ChainEvents, type OwnChainEvent } from "./chainEvents.ts";
import { OwnTrades } from "./ownTrades.ts";
import { confirmMatch } from "../chain/confirmMatch.ts";
import { MeterSecrets } from "./secrets.ts";
import { attr, inSpan, linkTo, SessionTraces, shortReason, type SessionEnd } from "./sessionTraces.ts";
import { termsEventOf } from "./wire.ts";
import { meterIdSchema, tradeIdOf, type MarketDescription as MachineMarketDescription, type Side } from "../../protocol/domain.ts";
import { type Address, toAddress } from "../../protocol/base/hex.ts";
import { meterDefaults } from "../config/meter.ts";

export type { MeterFaults } from "./bidEffects.ts";

export type MeterRuntimeOptions = {
  marketId: string;
  natsUrl: string;
  /** NATS credentials of this meter's user (infra/nats/nats.conf names meter users by their inbox id). */
  natsUser?: string | undefined;
  natsPassword?: string | undefined;
  /**
   * The inbox id this meter was provisioned with (docs/deploy.md): every connection, the enrolment one included,
   * takes replies under `replyInboxPrefix(inboxId)`, and an enrolment reply naming another inbox is refused.
   * Without it the DSO assigns one at enrolment.
   */
  inboxId?: string | undefined;
  /** JSON-RPC endpoint for read-only access to the market contract (counterpart verification). */
  rpcUrl: string;
  /** Permanent id in the DSO's registry. */
  meterId: string;
  /** The meter's long-term private key (its address is provisioned with the DSO). */
  meterPrivateKey: string;
  name: string;
  /** Bids to place once enrolled (more with `plan()`). */
  plan?: PlannedBid[];
  faults?: MeterFaults;
  /** Simulated measurement: fed/consumed energy = ⌊quantity × ratio⌋ (default 1; < 1 makes shortfalls). */
  deliveryRatio?: number;
  /** Replaces the simulated measurement module entirely. */
  measure?: (input: ReadMeterInput) => number | Promise<number>;
  /** Pin the DSO's address (else trust the identity named in the enrolment reply). */
  dsoAddress?: string;
  /** NATS request and JetStream publish timeout (default 5 s). */
  requestTimeoutMs?: number;
  /** How long `stop()` lets running sessions finish before it cuts them off (default 30 s). */
  stopTimeoutMs?: number;
  /**
   * Decoded master keys by their sealed bytes, shared by the meters of one process (the demo): every meter of a
   * market receives the same msk, and its fixed-base tables (a few MB, ~150 ms to build) need exist only once.
   */
  masterKeyCache?: Map<string, MasterSecretKey>;
  tracer: Tracer;
  logger: Logger;
  config: MachineConfig;
  /** Machine inspection (the opt-in Stately inspector, actors/runtime/inspect.ts). */
  inspect?: (event: InspectionEvent) => void;
  /** State snapshots on `meter.<inbox>.state` for `gridveil watch`, once enrolled (heartbeat ms; default 5 s). */
  snapshotIntervalMs?: number;
  /** How often the meter reads its bidders' events from the chain (a notice lost on NATS is taken from there). */
  chainReconcileIntervalMs?: number;
  /** The market's clock (version 2: gate closures and slot ends; default the system clock; the demo compresses time). */
  clock?: Clock;
};

export type MeterCounters = {
  /** Bids stored on the bids stream (one per one-time id). */
  bids: number;
  /** Sessions that traded (settled outcome with energy filled). */
  fills: number;
  /** Re-bids queued (remainder or whole quantity, new one-time id). */
  rebids: number;
  voids: number;
  disputes: number;
  /** Trades whose settlement notice arrived. */
  settled: number;
  expired: number;
  rejected: number;
  failed: number;
  cancelled: number;
  /** Energy traded in Wh (sum of fills). In-process only: never logged or put on a span. */
  filledWh: number;
  /** Matches, expiries and cancellations of its bidders that no notice brought: taken from the chain. */
  eventsFromChain: number;
  /** Match notices of its bidders whose Matched log the chain did not confirm: ignored. */
  matchNoticesRefused: number;
};

export type SessionOutcomeEvent = {
  sessionId: string;
  planId: string;
  attempt: number;
  side: Side;
  bidder: Address | null;
  /** `null` when the runtime stopped before the session ended. */
  outcome: BidOutcome | null;
};

export type MeterRuntimeEvents = {
  enrolled: [{ meterId: string; inboxId: string; market: MachineMarketDescription }];
  submitted: [{ meterId: string; bidder: Address; side: Side; planId: string; attempt: number }];
  matched: [{ meterId: string; bidder: Address; side: Side; tradeId: string }];
  session: [SessionOutcomeEvent & { meterId: string }];
};

export type MeterRuntime = {
  meterId: string;
  /** The long-term key's address (what the DSO registry holds). */
  address: Address;
  actor: Actor<MeterMachine>;
  events: EventEmitter<MeterRuntimeEvents>;
  counters(): MeterCounters;
  /** Resolves once enrolled (inbox id and market); rejects if the runtime stops first. */
  enrolled: Promise<{ inboxId: string; market: MachineMarketDescription }>;
  /** Queues more bids (`BIDS.PLANNED`). */
  plan(bids: PlannedBid[]): void;
  /** Withdraws a planned bid (queue or running session). */
  cancel(planId: string): void;
  /** True when enrolled with nothing queued or running. */
  idle(): boolean;
  /** Resolves when `idle()` (or the machine stopped); rejects after `timeoutMs`. */
  whenIdle(timeoutMs?: number): Promise<void>;
  /** Graceful: no new bids, running sessions finish (bids not yet matched are cancelled), then NATS is drained. */
  stop(): Promise<void>;
};


function validate(options: MeterRuntimeOptions): Wallet {
  if (!meterIdSchema.safeParse(options.meterId).success) {
    throw new InvalidSettingError({ setting: "the meter id", expected: "1–64 characters of [A-Za-z0-9_.:-]", value: options.meterId });
  }
  const ratio = options.deliveryRatio ?? 1;
  if (!Number.isFinite(ratio) || ratio < 0) {
    throw new InvalidSettingError({ setting: "the delivery ratio", expected: "a number ≥ 0", value: options.deliveryRatio });
  }
  try {
    return new Wallet(options.meterPrivateKey);
  } catch (cause) {
    throw new InvalidSettingError({ setting: "the meter key", expected: "a secp256k1 private key", value: "<redacted>", hint: "32 bytes as 0x-hex", cause });
  }
}

function isSessionInput(value: unknown): value is BidSessionInput {
  return typeof value === "object" && value !== null && typeof (value as { sessionId?: unknown }).sessionId === "string";
}

/** Starts a meter: connects, then enrols with the DSO in the background (retried by the machine) and bids its plan. */
export async function startMeterRuntime(options: MeterRuntimeOptions): Promise<MeterRuntime> {
  const meterKey = validate(options);
  const { marketId, meterId, tracer, config } = options;
  const logger = options.logger.child({ meter: meterId });
  const s = marketSubjects(marketId);
  const requestTimeoutMs = options.requestTimeoutMs ?? meterDefaults.requestTimeoutMs;
  const deliveryRatio = options.deliveryRatio ?? 1;
  await initCurve();

  // Enrolment requests go over a bootstrap connection: without a provisioned inbox id, the meter's own reply-inbox
  // prefix (its NATS permissions, docs/adapters.md) is only known from the enrolment reply. With one, the bootstrap
  // uses it too: a provisioned meter's NATS user may not read the default `_INBOX.>`.
  const credentials = natsCredentials(options);
  const bootstrap = await connectNats({
    url: options.natsUrl,
    // No permanent id in the connection name: the server (and anyone who runs it) sees it in clear (PROTOCOL §1).
    name: "gridveil-meter-enrol",
    ...(options.inboxId === undefined ? {} : { inboxPrefix: replyInboxPrefix(options.inboxId) }),
    ...credentials,
  });
  let bootstrapClosed = false;
  const closeBootstrap = async () => {
    if (bootstrapClosed) return;
    bootstrapClosed = true;
    await bootstrap.nc.close().catch(() => undefined);
  };

  const events = new EventEmitter<MeterRuntimeEvents>();
  const secrets = new MeterSecrets();
  const trades = new OwnTrades();
  const submitted = new Set<string>();
  const counts = { bids: 0, fills: 0, settled: 0, filledWh: 0, eventsFromChain: 0, matchNoticesRefused: 0 };
  let link: MeterLink | null = null;
  let follower: MarketEventFollower | null = null;
  let chainEvents: ChainEvents | null = null;
  let inbox: Service[] = [];
  let stopRequested = false;
  let enrolmentInFlight: Promise<unknown> | null = null;
  let actorRef: Actor<MeterMachine> | null = null;
  let epochKeysRefresh: Promise<void> | null = null;
  let snapshots: StateSnapshotPublisher | null = null;

  const send = (event: Parameters<Actor<MeterMachine>["send"]>[0]) => {
    if (actorRef && actorRef.getSnapshot().status === "active") actorRef.send(event);
  };

  let resolveEnrolled!: (value: { inboxId: string; market: MachineMarketDescription }) => void;
  let rejectEnrolled!: (error: unknown) => void;
  const enrolled = new Promise<{ inboxId: string; market: MachineMarketDescription }>((resolve, reject) => {
    resolveEnrolled = resolve;
    rejectEnrolled = reject;
  });
  enrolled.catch(() => undefined);

  const onSessionEnded = ({ trace, output }: SessionEnd) => {
    const outcome = output?.outcome ?? null;
    if (trace.bidder) {
      secrets.forget(trace.bidder);
      trades.forgetBidder(trace.bidder);
      taken.delete(takenKey(trace.bidder));
      for (const key of earlyTerms.keys()) if (key.endsWith(`:${takenKey(trace.bidder)}`)) earlyTerms.delete(key);
    }
    if (outcome?.kind === "settled") {
      if (outcome.filledWh > 0) counts.fills += 1;
      if (outcome.settlement) counts.settled += 1;
      counts.filledWh += outcome.filledWh;
    }
    logger.info(
      {
        session: trace.sessionId,
        plan: trace.planId,
        attempt: trace.attempt,
        bidder: trace.bidder,
        outcome: outcome?.kind ?? "stopped",
        tradeId: outcome && "matchId" in outcome ? outcome.matchId : undefined,
        reason: outcome ? outcomeReason(outcome) : undefined,
      },
      "bid session ended",
    );
    events.emit("session", {
      meterId,
      sessionId: trace.sessionId,
      planId: trace.planId,
      attempt: trace.attempt,
      side: trace.side,
      bidder: trace.bidder,
      outcome,
    });
  };
  const traces = new SessionTraces(tracer, marketId, onSessionEnded);

  const currentLink = (): MeterLink => {
    if (!link) throw new MeterNotEnrolledError();
    return link;
  };

  /** Version 2 terms that arrived before their match was taken, by `tradeId:bidder` (delivered with the match). */
  const earlyTerms = new Map<string, SlotTradeTermsPayload>();

  // ----- DSO → meter inbox (PROTOCOL §5 trading, steps 3, 5, 7) -----
  const inboxHandlers = {
    terms: async (payload: TradeTermsPayload | SlotTradeTermsPayload) => {
      if (!termsNameTheirTrade(payload)) {
        logger.warn({ tradeId: payload.terms.matchId }, "terms name another trade; ignored");
        return;
      }
      if (!secrets.owns(payload.bidder)) {
        logger.warn({ tradeId: payload.terms.matchId, bidder: payload.bidder }, "terms for a bidder with no running session; ignored");
        return;
      }
      traces.byBidder(payload.bidder)?.span.addEvent("terms.received", { [attr.trade]: payload.terms.matchId });
      // Version 2's terms come straight after the match (no opening round trip) and can overtake the match notice:
      // they wait until this meter has taken the match, which the session needs first.
      if (payload.type === "trade.terms.v2" && !wasTaken(payload.bidder, eventKeys.match(payload.terms.matchId))) {
        earlyTerms.set(`${payload.terms.matchId}:${takenKey(payload.bidder)}`, payload);
        return;
      }
      send(termsEventOf(payload));
    },
    voided: (notice: VoidedNotice) => {
      if (!secrets.owns(notice.bidder)) return;
      send({ type: "MATCH.VOIDED", bidder: notice.bidder, matchId: notice.tradeId, reason: notice.reason, blamedBidders: notice.blamedBidders });
    },
    disputed: (notice: DisputedNotice) => {
      if (!secrets.owns(notice.bidder)) return;
      send({ type: "TRADE.DISPUTED", bidder: notice.bidder, matchId: notice.tradeId, dispute: { code: notice.code, detail: notice.detail } });
    },
    settled: async (notice: SettlementNotice) => {
      if (!secrets.owns(notice.bidder)) return;
      const { type: _type, tradeId, bidder, period: _period, netMicro: _net, ...figures } = notice;
      // The span ends before the event: the session (and its meter.bid span) ends on it.
      await traces.step(bidder, "meter.settled", { [attr.trade]: tradeId, [attr.postings]: figures.entries.length }, async () => undefined);
      send({ type: "SETTLEMENT.RECEIVED", bidder, notice: { matchId: tradeId, ...figures } });
    },
  };

  // ----- public market events (PROTOCOL §5: matches, expiries, cancels, rejections) -----
  // What this meter has taken of its own bidders' events, from a notice or from the chain (chainEvents.ts): each once.
  const taken = new Map<string, Set<string>>();
  const takenKey = (bidder: string) => toAddress(bidder).toLowerCase();
  const takeOnce = (bidder: string, key: string): boolean => {
    const keys = taken.get(takenKey(bidder)) ?? new Set<string>();
    if (keys.has(key)) return false;
    taken.set(takenKey(bidder), keys.add(key));
    return true;
  };
  const wasTaken = (bidder: string, key: string): boolean => taken.get(takenKey(bidder))?.has(key) ?? false;
  const eventKeys = {
    match: (tradeId: string) => `match:${tradeId}`,
    expired: "expired",
    cancelled: "cancelled",
  } as const;

  const onMatched = (match: { buyId: Address; sellId: Address; txHash: string; blockNumber: number }, remote: Parameters<typeof linkTo>[0]) => {
    const tradeId = tradeIdOf(match);
    const own = [match.buyId, match.sellId].filter((bidder) => secrets.owns(bidder) && takeOnce(bidder, eventKeys.match(tradeId)));
    if (own.length === 0) return; // matches are broadcast: not ours is normal (or already taken)
    for (const bidder of own) {
      const side: Side = bidder === match.buyId ? "buy" : "sell";
      trades.open({ tradeId, bidder, side, counterpart: side === "buy" ? match.sellId : match.buyId, txHash: match.txHash });
      void traces.step(
        bidder,
        "meter.match",
        { [attr.trade]: tradeId, [attr.side]: side, [attr.txHash]: match.txHash, [attr.block]: match.blockNumber },
        async () => undefined,
        { links: linkTo(remote) },
      );
      events.emit("matched", { meterId, bidder, side, tradeId });
    }
    send({ type: "MATCH.RECEIVED", match: { matchId: tradeId, buyBidder: match.buyId, sellBidder: match.sellId } });
    for (const bidder of own) {
      const key = `${tradeId}:${takenKey(bidder)}`;
      const terms = earlyTerms.get(key);
      if (terms === undefined) continue;
      earlyTerms.delete(key);
      send(termsEventOf(terms));
    }
  };
  const onExpired = (bidder: Address) => {
    if (secrets.owns(bidder) && takeOnce(bidder, eventKeys.expired)) send({ type: "BID.EXPIRED", bidder });
  };
  const onCancelled = (bidder: Address) => {
    if (secrets.owns(bidder) && takeOnce(bidder, eventKeys.cancelled)) send({ type: "BID.CANCELLED", bidder });
  };

  const onMarketEvent = async (event: MarketEvent, remote: Parameters<typeof linkTo>[0]): Promise<void> => {
    switch (event.type) {
      case "market.matched": {
        if (!secrets.owns(event.buyId) && !secrets.owns(event.sellId)) return; // matches are broadcast: not ours
        // A notice is the gateway's claim: act on a Matched log the chain holds; the chain follower brings real ones
        // a false or premature notice leaves out (chainEvents.ts).
        const current = currentLink();
        const onChain = await confirmMatch(current.provider, current.market.contractAddress, event, current.market.slots === undefined ? "v1" : "v2");
        if (onChain !== "confirmed") {
          counts.matchNoticesRefused += 1;
          logger.warn({ txHash: event.txHash, logIndex: event.logIndex, onChain }, "a match notice the chain does not confirm; ignored");
          return;
        }
        return onMatched(event, remote);
      }
      case "market.expired":
        return onExpired(event.bidder);
      case "market.cancelled":
        return onCancelled(event.bidder);
      case "market.rejected":
        if (secrets.owns(event.bidder))
          send({ type: "BID.REJECTED", bidder: event.bidder, rejection: { error: event.error, detail: event.detail } });
        return;
      case "market.placed":
        traces.byBidder(event.bidder)?.span.addEvent("bid.placed", { [attr.txHash]: event.txHash, [attr.block]: event.blockNumber });
        return;
    }
  };

  /** The same events read from the chain: taken only if no notice brought them (chainEvents.ts). */
  const chainEventTaken = (event: OwnChainEvent): boolean => {
    switch (event.kind) {
      case "matched": {
        const key = eventKeys.match(tradeIdOf({ buyId: event.buyBidder, sellId: event.sellBidder, txHash: event.txHash }));
        return [event.buyBidder, event.sellBidder].every((bidder) => !secrets.owns(bidder) || wasTaken(bidder, key));
      }
      case "bidExpired":
        return wasTaken(event.bidder, eventKeys.expired);
      case "bidCancelled":
        return wasTaken(event.bidder, eventKeys.cancelled);
    }
  };
  const onChainEvent = (event: OwnChainEvent): void => {
    switch (event.kind) {
      case "matched":
        return onMatched({ buyId: event.buyBidder, sellId: event.sellBidder, txHash: event.txHash, blockNumber: event.blockNumber }, ROOT_CONTEXT);
      case "bidExpired":
        return onExpired(event.bidder);
      case "bidCancelled":
        return onCancelled(event.bidder);
    }
  };

  // Decoding builds the fixed-base tables at once, so the first bid's encryption is as fast as the others.
  const decodeMasterKey = (mskHex: string): MasterSecretKey => {
    const cached = options.masterKeyCache?.get(mskHex);
    if (cached) return cached;
    const msk = decodeMsk(getBytes(mskHex));
    precomputeTables(msk);
    options.masterKeyCache?.set(mskHex, msk);
    return msk;
  };

  // ----- enrolment effect (PROTOCOL §5 Setup) -----
  const requestEnrolment = async (): Promise<{ market: MachineMarketDescription }> => {
    const attempt = inSpan(tracer, "meter.enrol", ROOT_CONTEXT, { [attr.market]: marketId }, async (span) => {
      if (stopRequested) throw new MeterRuntimeStoppedError({ enrolled: "stopping" });
      const enrolment = await enrol({
        nc: bootstrap.nc,
        subjects: s,
        meterId,
        name: options.name,
        meterKey,
        dsoAddress: options.dsoAddress,
        expectedInboxId: options.inboxId,
        timeoutMs: requestTimeoutMs,
        decodeMasterKey,
      });
      let provider: JsonRpcProvider | null = null;
      let clients: NatsClients | null = null;
      let services: Service[] = [];
      let marketFollower: MarketEventFollower | null = null;
      try {
        provider = await connectRpc(options.rpcUrl);
        const network = await provider.getNetwork();
        if (Number(network.chainId) !== enrolment.market.chainId) {
          throw new ChainMismatchError({ party: "meter", reason: "otherChain", rpcChainId: Number(network.chainId), marketChainId: enrolment.market.chainId });
        }
        const slotDesign = enrolment.market.slots === undefined ? null : slotDesignOf(enrolment.market);
        const chain = slotDesign === null ? await attachMarket(enrolment.market.contractAddress, provider) : null;
        const slotMarket =
          slotDesign === null ? null : await attachSlotMarket(enrolment.market.contractAddress, provider, slotDesign.params, slotDesign.slots.calendar);
        const contractDimension = chain?.dim ?? slotDesign?.params.dim ?? 0;
        if (contractDimension !== enrolment.market.fhipe.dimension) {
          throw new ChainMismatchError({ party: "meter", reason: "otherDimension", address: enrolment.market.contractAddress, contractDimension, marketDimension: enrolment.market.fhipe.dimension });
        }
        clients = await connectNats({
          url: options.natsUrl,
          name: `gridveil-meter-${enrolment.inboxId}`,
          inboxPrefix: replyInboxPrefix(enrolment.inboxId),
          ...credentials,
        });
        const next: MeterLink = {
          nc: clients.nc,
          js: clients.js,
          jsm: clients.jsm,
          inboxId: enrolment.inboxId,
          market: enrolment.market,
          chain,
          slotMarket,
          provider,
          dso: enrolment.dso,
        };
        // The key store and link exist before anything can arrive for this meter.
        if (enrolment.msk !== null) secrets.setMasterKey(enrolment.msk);
        secrets.setEpochKeys(enrolment.epochKeys);
        link = next;
        // Live view (`gridveil watch`, actors/runtime/stateSnapshots.ts): under the opaque inbox id; state, tags and session counts only (never the context).
        snapshots = actorRef
          ? publishStateSnapshots(actorRef, {
              nc: clients.nc,
              subject: s.meter.state(enrolment.inboxId),
              party: "meter",
              id: enrolment.inboxId,
              ...(options.snapshotIntervalMs === undefined ? {} : { intervalMs: options.snapshotIntervalMs }),
              counts: () => {
                const context = actorRef?.getSnapshot().context;
                return { sessions: Object.keys(context?.sessions ?? {}).length, queued: context?.queue.length ?? 0 };
              },
            })
          : null;
        services = await subscribeInbox(clients.nc, s, enrolment.inboxId, { privateKey: meterKey.privateKey, dsoAddress: enrolment.dso.address }, inboxHandlers, {
          logger,
          onFailure: (error, subject) => logger.warn({ subject, reason: shortReason(error) }, "inbox message refused"),
        });
        // Started before the first submission: no market event about our bids can be missed (marketEvents.ts).
        marketFollower = await followMarketEvents({
          js: clients.js,
          market: marketId,
          inboxId: enrolment.inboxId,
          handler: onMarketEvent,
          logger,
        });
        // The chain as the record of truth, from the block we enrolled at: our bidders are all newer.
        chainEvents = startChainEvents({
          provider,
          contractAddress: enrolment.market.contractAddress,
          design: slotDesign === null ? "v1" : "v2",
          fromBlock: await provider.getBlockNumber(),
          intervalMs: options.chainReconcileIntervalMs ?? meterDefaults.chainReconcileIntervalMs,
          maxBlockRange: meterDefaults.chainMaxBlockRange,
          logger,
          owns: (bidder) => secrets.owns(bidder),
          handled: chainEventTaken,
          handle: (event) => {
            counts.eventsFromChain += 1;
            onChainEvent(event);
          },
        });
        if (stopRequested) throw new MeterRuntimeStoppedError({ enrolled: "stopping" });
      } catch (error) {
        link = null;
        snapshots?.stop();
        snapshots = null;
        await chainEvents?.stop();
        chainEvents = null;
        await marketFollower?.stop();
        await Promise.all(services.map((service) => service.stop().catch(() => undefined)));
        await clients?.nc.close().catch(() => undefined);
        provider?.destroy();
        throw error;
      }
      inbox = services;
      follower = marketFollower;
      await closeBootstrap();
      span.setAttribute("gridveil.market.dimension", enrolment.market.fhipe.dimension);
      const market = enrolment.market;
      logger.info({ inbox: enrolment.inboxId, contract: market.contractAddress, levels: market.priceLevels.count }, "enrolled");
      resolveEnrolled({ inboxId: enrolment.inboxId, market });
      events.emit("enrolled", { meterId, inboxId: enrolment.inboxId, market });
      return { market };
    });
    enrolmentInFlight = attempt.catch((error: unknown) => {
      logger.warn({ reason: shortReason(error) }, "enrolment attempt failed; retrying");
    });
    return attempt;
  };

  const measure =
    options.measure ??
    ((input: ReadMeterInput) =>
      // Seller: energy fed in; buyer: energy consumed. A ratio < 1 simulates a shortfall (PROTOCOL §5 step 6).
      Math.floor(input.quantityWh * deliveryRatio));

  const bidSession = createBidSessionEffects({
    subjects: s,
    meterId,
    meterKey,
    secrets,
    traces,
    trades,
    link: currentLink,
    faults: options.faults ?? {},
    measure,
    requestTimeoutMs,
    logger,
    onSubmitted: (bidder, duplicate) => {
      const key = toAddress(bidder);
      if (!submitted.has(key)) {
        submitted.add(key);
        counts.bids += 1;
        const session = traces.byBidder(bidder);
        if (session)
          events.emit("submitted", { meterId, bidder, side: session.side, planId: session.planId, attempt: session.attempt });
      }
      if (duplicate) logger.debug({ bidder }, "bid submission was a duplicate (already stored)");
    },
    // The market.cancelled event can overtake the gateway's reply; the session only takes BID.CANCELLED once it
    // waits for it, so deliver it again right after the cancel effect resolved.
    onCancelConfirmed: (bidder) => setTimeout(() => send({ type: "BID.CANCELLED", bidder }), 0),
    clock: options.clock ?? systemClock,
    // One refresh at a time: every session bidding into a new epoch waits for the same re-enrolment.
    refreshEpochKeys: () => {
      epochKeysRefresh ??= (async () => {
        const current = currentLink();
        const keys = await requestEpochKeys(current.nc, s, { meterId, name: options.name, meterKey, dsoAddress: current.dso.address, request: { timeoutMs: requestTimeoutMs } });
        secrets.setEpochKeys(keys);
      })().finally(() => {
        epochKeysRefresh = null;
      });
      return epochKeysRefresh;
    },
  });

  const machine = provideMeter({ requestEnrolment, bidSession });
  const inspect = (event: InspectionEvent) => {
    if (event.type !== "@xstate.actor") return;
    const ref = event.actorRef;
    if (!(ref instanceof Actor) || ref.src !== "bidSession") return;
    const input: unknown = ref.options.input;
    if (isSessionInput(input)) traces.open(ref, input);
  };
  const actor = createActor(machine, { input: { config, meterId, plan: options.plan ?? [] }, inspect: combineInspect(inspect, options.inspect) });
  actorRef = actor;
  actor.start();
  logger.info({ address: meterKey.address, market: marketId }, "meter started");

  const counters = (): MeterCounters => {
    const stats: MeterStats = actor.getSnapshot().context.stats;
    return {
      bids: counts.bids,
      fills: counts.fills,
      rebids: stats.rebids,
      voids: stats.voided,
      disputes: stats.disputed,
      settled: counts.settled,
      expired: stats.expired,
      rejected: stats.rejected,
      failed: stats.failed,
      cancelled: stats.cancelled,
      filledWh: counts.filledWh,
      eventsFromChain: counts.eventsFromChain,
      matchNoticesRefused: counts.matchNoticesRefused,
    };
  };

  const isIdle = (snapshot: ReturnType<typeof actor.getSnapshot>) =>
    snapshot.status !== "active" ||
    (snapshot.hasTag("ready") && snapshot.context.queue.length === 0 && Object.keys(snapshot.context.sessions).length === 0);

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      stopRequested = true;
      if (actor.getSnapshot().status === "active") {
        actor.send({ type: "SHUTDOWN.REQUESTED" });
        // A bid still waiting for a match is withdrawn: this meter will not be there to open it.
        for (const session of Object.values(actor.getSnapshot().context.sessions)) send({ type: "BID.CANCEL", planId: session.planId });
        try {
          await waitFor(actor, (snapshot) => snapshot.status !== "active", {
            timeout: options.stopTimeoutMs ?? meterDefaults.stopTimeoutMs,
          });
        } catch {
          logger.warn({ sessions: Object.keys(actor.getSnapshot().context.sessions).length }, "sessions still running at stop; cut off");
        }
      }
      actor.stop();
      await enrolmentInFlight;
      traces.endAll();
      rejectEnrolled(new MeterRuntimeStoppedError({ enrolled: "never" }));
      await chainEvents?.stop();
      await follower?.stop();
      await Promise.all(inbox.map((service) => service.stop().catch(() => undefined)));
      snapshots?.stop();
      if (link) {
        await link.nc.drain().catch(() => undefined);
        link.provider.destroy();
      }
      await closeBootstrap();
      secrets.clear();
      trades.clear();
      const { filledWh: _energy, ...tally } = counters();
      logger.info(tally, "meter stopped");
    })();
    return stopping;
  };

  return {
    meterId,
    address: meterKey.address as Address,
    actor,
    events,
    counters,
    enrolled,
    plan: (bids) => send({ type: "BIDS.PLANNED", bids }),
    cancel: (planId) => send({ type: "BID.CANCEL", planId }),
    idle: () => isIdle(actor.getSnapshot()),
    whenIdle: async (timeoutMs = Number.POSITIVE_INFINITY) => {
      await waitFor(actor, isIdle, { timeout: timeoutMs });
    },
    stop,
  };
}

