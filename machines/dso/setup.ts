// The DSO machine's named effects, delays, guards and actions (machines/dso.ts wires them into states).
import { assign, enqueueActions, setup } from "xstate";
import type { Address, Hex } from "../../protocol/base/hex.ts";
import { sameAddress } from "../../protocol/base/hex.ts";
import type { MarketDescription, SlotMarketDescription } from "../../protocol/domain.ts";
import { blockParams } from "../../protocol/encoding/blockTokens.ts";
import { dimensionFor } from "../../protocol/encoding/priceEncoding.ts";
import { describeRefusal, type Refusal } from "../../protocol/reasons.ts";
import { backoffMs, type MachineConfig } from "../config.ts";
import { unprovidedEffects } from "../kit/effects.ts";
import { appendError, describeError, MachineInvariantError, type MachineErrorRecord } from "../kit/errors.ts";
import { tradeSettlement, type TradeSettlementMachine } from "../tradeSettlement.ts";
import type { AckMessagesParams, ReplyToRequestParams } from "../tradeSettlement/effects.ts";
import type { TradeSettlementEvent } from "../tradeSettlement/events.ts";
import { isTradeRecord, refused, type RequestReply, type TradeRecord } from "../tradeSettlement/record.ts";
import type { TradeEnded, TradeSettlementInput } from "../tradeSettlement/setup.ts";
import { dsoEffectNames, type DsoEffectActors } from "./effects.ts";
import { dsoEvents, type DsoEvent } from "./events.ts";

/** `slots`: a version 2 market (PROTOCOL §5 v2: block encoding, delivery slots, certified bids, key epochs). */
export type DsoInput = { config: MachineConfig; marketId: string; slots?: SlotMarketDescription };

export type PendingRequest =
  | { kind: "enrolment"; requestId: string; permanentId: string; payload: string; signature: Hex }
  | { kind: "ticket"; requestId: string; permanentId: string; bidder: Address; lifetimeSeconds: number; payload: string; signature: Hex }
  | { kind: "certify"; requestId: string; permanentId: string; bidder: Address; payload: string; signature: Hex };

export type DsoStats = {
  enrolments: number;
  ticketsIssued: number;
  /** Version 2: bids certified, and epoch keys made and destroyed. */
  bidsCertified: number;
  epochKeysPrepared: number;
  epochKeysDestroyed: number;
  requestsRefused: number;
  tradesStarted: number;
  tradesResumed: number;
  settled: number;
  voided: number;
  disputed: number;
};

export type DsoContext = {
  config: MachineConfig;
  marketId: string;
  /** Version 2's encoding and calendar; null: version 1. */
  slots: SlotMarketDescription | null;
  market: MarketDescription | null;
  setupFailures: number;
  /** Version 2: wall ms until the epoch-key routine runs again (its effect says, by the market clock). */
  nextEpochCheckMs: number;
  requestQueue: PendingRequest[];
  current: PendingRequest | null;
  /** Trades with a running tradeSettlement child, by matchId. */
  trades: Record<string, { buyBidder: Address; sellBidder: Address }>;
  stats: DsoStats;
  errors: MachineErrorRecord[];
};

export type DsoOutput = { stats: DsoStats; market: MarketDescription | null };

export function initialContext(input: DsoInput): DsoContext {
  return {
    config: input.config,
    marketId: input.marketId,
    slots: input.slots ?? null,
    market: null,
    setupFailures: 0,
    nextEpochCheckMs: 0,
    requestQueue: [],
    current: null,
    trades: {},
    stats: {
      enrolments: 0,
      ticketsIssued: 0,
      bidsCertified: 0,
      epochKeysPrepared: 0,
      epochKeysDestroyed: 0,
      requestsRefused: 0,
      tradesStarted: 0,
      tradesResumed: 0,
      settled: 0,
      voided: 0,
      disputed: 0,
    },
    errors: [],
  };
}

export function tradeChildId(matchId: string): string {
  return `trade:${matchId}`;
}

/** A child that can still take events (finished children are stopped, but be safe against the gap). */
function childExists(self: { getSnapshot(): { children: unknown } }, id: string): boolean {
  const child = (self.getSnapshot().children as Record<string, { getSnapshot(): { status: string } } | undefined>)[id];
  return child !== undefined && child.getSnapshot().status === "active";
}

function tradeInput(context: DsoContext, record: Pick<TradeRecord, "matchId" | "buyBidder" | "sellBidder">): Omit<TradeSettlementInput, "matchMessageIds"> {
  return {
    config: context.config,
    market: marketOf(context),
    match: { matchId: record.matchId, buyBidder: record.buyBidder, sellBidder: record.sellBidder },
  };
}

function withError(context: DsoContext, entry: MachineErrorRecord): MachineErrorRecord[] {
  return appendError(context.errors, entry, context.config.maxRecordedErrors);
}

/** FHIPE's dimension d of the market's encoding: unary n + 1 (version 1), or the block tokens' 2^w + 1 (version 2). */
export function dimensionOf(context: Pick<DsoContext, "config" | "slots">): number {
  const levels = context.config.market.priceLevels.count;
  return context.slots === null ? dimensionFor(levels) : blockParams(levels, context.slots.width).dim;
}

/** The market description (set by the deployment step, before anything is served). */
export function marketOf(context: DsoContext): MarketDescription {
  if (context.market === null) throw new MachineInvariantError({ machine: "dso", what: "the market description" });
  return context.market;
}

/** The request being served (set by `takeNextRequest`, cleared by `answerCurrent`). */
export function currentRequest<K extends PendingRequest["kind"]>(context: DsoContext, kind?: K): Extract<PendingRequest, { kind: K }> {
  const current = context.current;
  if (current === null || (kind !== undefined && current.kind !== kind)) throw new MachineInvariantError({ machine: "dso", what: `the current ${kind ?? ""} request` });
  return current as Extract<PendingRequest, { kind: K }>;
}


const dsoBaseSetup = setup({
  types: {
    input: {} as DsoInput,
    context: {} as DsoContext,
    events: {} as DsoEvent,
    output: {} as DsoOutput,
  },
  actors: { ...unprovidedEffects<DsoEffectActors>("dso", dsoEffectNames), tradeSettlement },
  delays: {
    setupRetryDelay: ({ context }) => backoffMs(context.setupFailures, context.config.dso.setupRetryBaseMs, context.config.dso.setupRetryMaxMs),
    epochKeyCheck: ({ context }) => context.nextEpochCheckMs,
  },
  guards: {
    isWellFormed: ({ event }) => dsoEvents.parse(event) !== null,
    setupRetriesLeft: ({ context }) => context.config.dso.setupMaxAttempts === 0 || context.setupFailures + 1 < context.config.dso.setupMaxAttempts,
    setupGivenUp: ({ context }) => context.config.dso.setupMaxAttempts !== 0 && context.setupFailures >= context.config.dso.setupMaxAttempts,
    hasQueuedRequest: ({ context }) => context.requestQueue.length > 0,
    queueHasRoom: ({ context }) => context.requestQueue.length < context.config.dso.requestQueueLimit,
    currentIsEnrolment: ({ context }) => context.current?.kind === "enrolment",
    currentIsCertify: ({ context }) => context.current?.kind === "certify",
    isSlotMarket: ({ context }) => context.slots !== null,
  },
  actions: {
    /** Runtime: answer a request on its reply subject. */
    replyToRequest: (_args, _params: ReplyToRequestParams) => {},
    /** Runtime: ack JetStream deliveries by id. */
    ackMessages: (_args, _params: AckMessagesParams) => {},
    recordIfMalformed: assign(({ context, event }) => ({
      errors: dsoEvents.recordIfMalformed(context.errors, event, context.config.maxRecordedErrors),
    })),
    recordSetupFailure: assign(({ context }, params: { source: string; error: unknown }) => ({
      setupFailures: context.setupFailures + 1,
      errors: withError(context, { kind: "effectFailed", source: params.source, detail: describeError(params.error) }),
    })),
    queueRequest: assign(({ context, event }) => {
      const parsed = dsoEvents.parse(event);
      if (parsed?.type === "ENROLMENT.REQUESTED") {
        const { requestId, permanentId, payload, signature } = parsed;
        return { requestQueue: [...context.requestQueue, { kind: "enrolment" as const, requestId, permanentId, payload, signature }] };
      }
      if (parsed?.type === "TICKET.REQUESTED") {
        const { requestId, permanentId, bidder, lifetimeSeconds, payload, signature } = parsed;
        return {
          requestQueue: [...context.requestQueue, { kind: "ticket" as const, requestId, permanentId, bidder, lifetimeSeconds, payload, signature }],
        };
      }
      if (parsed?.type === "CERTIFY.REQUESTED") {
        const { requestId, permanentId, bidder, payload, signature } = parsed;
        return { requestQueue: [...context.requestQueue, { kind: "certify" as const, requestId, permanentId, bidder, payload, signature }] };
      }
      return {};
    }),
    /** Version 2: what the epoch-key routine did, and when it runs next (a malformed answer: after the setup backoff's base). */
    noteEpochKeys: assign(({ context }, params: { output: unknown }) => {
      const output = params.output as Partial<Record<"prepared" | "destroyed", unknown>> & { nextCheckInMs?: unknown } | undefined;
      const count = (value: unknown) => (Array.isArray(value) ? value.length : 0);
      const next = output?.nextCheckInMs;
      return {
        nextEpochCheckMs: typeof next === "number" && Number.isFinite(next) && next >= 0 ? next : context.config.dso.setupRetryBaseMs,
        stats: {
          ...context.stats,
          epochKeysPrepared: context.stats.epochKeysPrepared + count(output?.prepared),
          epochKeysDestroyed: context.stats.epochKeysDestroyed + count(output?.destroyed),
        },
      };
    }),
    /** Version 2: the epoch-key routine failed; it runs again after the setup backoff's base. */
    recordEpochKeysFailure: assign(({ context }, params: { error: unknown }) => ({
      nextEpochCheckMs: context.config.dso.setupRetryBaseMs,
      errors: withError(context, { kind: "effectFailed", source: "maintainEpochKeys", detail: describeError(params.error) }),
    })),
    takeNextRequest: assign(({ context }) => ({ current: context.requestQueue[0] ?? null, requestQueue: context.requestQueue.slice(1) })),
  },
});

/** The runtime-provided actions, as the decision actions below enqueue them. */
type DsoRuntimeAction = { type: "replyToRequest"; params: ReplyToRequestParams } | { type: "ackMessages"; params: AckMessagesParams };
type DsoChildActor = { src: "tradeSettlement"; logic: TradeSettlementMachine; id: string | undefined };

/** `enqueueActions` typed with the runtime actions and the child logic (setup cannot infer them for its own actions). */
function decide<TParams extends Record<string, unknown> | undefined>(
  collect: Parameters<typeof enqueueActions<DsoContext, DsoEvent, TParams, DsoEvent, DsoChildActor, DsoRuntimeAction, never>>[0],
) {
  return enqueueActions<DsoContext, DsoEvent, TParams, DsoEvent, DsoChildActor, DsoRuntimeAction, never>(collect);
}

/** Decision actions that enqueue the runtime-provided ones (extend() makes their names known to the machine). */
export const dsoSetup = dsoBaseSetup.extend({
  actions: {
    /** Answers the request being served; a refusal is counted and, with a `source`, recorded. */
    answerCurrent: decide<{ reply: RequestReply; source?: string }>(({ context, enqueue }, params) => {
      const { reply } = params;
      enqueue.assign({
        current: null,
        stats: {
          ...context.stats,
          requestsRefused: context.stats.requestsRefused + (reply.status === "error" || reply.body.kind === "notCertified" ? 1 : 0),
          enrolments: context.stats.enrolments + (reply.status === "ok" && reply.body.kind === "enrolment" ? 1 : 0),
          ticketsIssued: context.stats.ticketsIssued + (reply.status === "ok" && reply.body.kind === "ticket" ? 1 : 0),
          bidsCertified: context.stats.bidsCertified + (reply.status === "ok" && reply.body.kind === "certified" ? 1 : 0),
        },
        errors:
          params.source && (reply.status === "error" || reply.body.kind === "notCertified")
            ? withError(context, { kind: "rejected", source: params.source, detail: reply.status === "error" ? describeRefusal(reply.refusal) : `notCertified: ${reply.body.kind === "notCertified" ? reply.body.reason : ""}` })
            : context.errors,
      });
      if (context.current) enqueue({ type: "replyToRequest", params: { requestId: context.current.requestId, reply } });
    }),
    /** Requests that cannot be served now (not ready, queue full, unknown match) are answered at once. */
    refuseRequest: decide<{ refusal: Refusal }>(({ event, enqueue }, params) => {
      const parsed = dsoEvents.parse(event);
      if (!parsed || !("requestId" in parsed)) return;
      enqueue({ type: "replyToRequest", params: { requestId: parsed.requestId, reply: { status: "error", refusal: params.refusal } } });
    }),
    /** Spawns the trade's child, or forwards a redelivery to the running one (which acks it). */
    startOrForwardTrade: decide<undefined>(({ context, event, enqueue, self }) => {
      const parsed = dsoEvents.parse(event);
      if (parsed?.type !== "MATCH.RECEIVED" || !context.market) return;
      const { match } = parsed;
      const id = tradeChildId(match.matchId);
      if (context.trades[match.matchId] && childExists(self, id)) {
        enqueue.sendTo(id, parsed as TradeSettlementEvent);
        return;
      }
      if (sameAddress(match.buyBidder, match.sellBidder)) {
        // Not a trade: ack so it is not redelivered forever, and keep a trace.
        enqueue({ type: "ackMessages", params: { messageIds: [parsed.messageId] } });
        enqueue.assign({
          errors: withError(context, { kind: "rejected", source: "MATCH.RECEIVED", detail: "buyer and seller are the same bidder" }),
        });
        return;
      }
      const input: TradeSettlementInput = { ...tradeInput(context, match), matchMessageIds: [parsed.messageId] };
      enqueue.spawnChild("tradeSettlement", { id, input });
      enqueue.assign({
        trades: { ...context.trades, [match.matchId]: { buyBidder: match.buyBidder, sellBidder: match.sellBidder } },
        stats: { ...context.stats, tradesStarted: context.stats.tradesStarted + 1 },
      });
    }),
    /** Openings, disputes and readings go to their trade; without one they are answered or acked and recorded. */
    routeToTrade: decide<undefined>(({ context, event, enqueue, self }) => {
      const parsed = dsoEvents.parse(event);
      if (parsed?.type !== "OPENING.RECEIVED" && parsed?.type !== "DISPUTE.RECEIVED" && parsed?.type !== "READING.RECEIVED") return;
      const id = tradeChildId(parsed.matchId);
      if (context.trades[parsed.matchId] && childExists(self, id)) {
        enqueue.sendTo(id, parsed as TradeSettlementEvent);
        return;
      }
      enqueue.assign({ errors: withError(context, { kind: "unroutable", source: parsed.type, detail: `no running trade ${parsed.matchId}` }) });
      if (parsed.type === "READING.RECEIVED") enqueue({ type: "ackMessages", params: { messageIds: [parsed.messageId] } });
      else enqueue({ type: "replyToRequest", params: { requestId: parsed.requestId, reply: refused("unknownMatch") } });
    }),
    /** Counts the outcome and stops the finished child (XState keeps finished children until stopped). */
    concludeTrade: decide<undefined>(({ context, event, enqueue }) => {
      const parsed = dsoEvents.parse(event);
      if (parsed?.type !== "TRADE.ENDED") return;
      const ended = parsed as TradeEnded;
      const { [ended.matchId]: _done, ...trades } = context.trades;
      const stats = { ...context.stats };
      if (ended.stage === "settled") stats.settled += 1;
      if (ended.stage === "voided") stats.voided += 1;
      if (ended.stage === "disputed") stats.disputed += 1;
      enqueue.assign({ trades, stats });
      enqueue.stopChild(tradeChildId(ended.matchId));
    }),
    resumeTrades: decide<{ trades: unknown }>(({ context, enqueue }, params) => {
      if (!context.market || !Array.isArray(params.trades)) return;
      const trades = { ...context.trades };
      let errors = context.errors;
      let resumed = 0;
      for (const candidate of params.trades) {
        if (!isTradeRecord(candidate) || candidate.closed || trades[candidate.matchId]) {
          errors = appendError(
            errors,
            { kind: "invalidOutput", source: "loadInFlightTrades", detail: "skipped a malformed, closed or duplicate row" },
            context.config.maxRecordedErrors,
          );
          continue;
        }
        const input: TradeSettlementInput = { ...tradeInput(context, candidate), matchMessageIds: [], resume: candidate };
        enqueue.spawnChild("tradeSettlement", { id: tradeChildId(candidate.matchId), input });
        trades[candidate.matchId] = { buyBidder: candidate.buyBidder, sellBidder: candidate.sellBidder };
        resumed += 1;
      }
      enqueue.assign({ trades, errors, stats: { ...context.stats, tradesResumed: context.stats.tradesResumed + resumed } });
    }),
  },
});

export type { TradeRecord };

/** A request step whose effect failed: the meter is told `unavailable` (it retries) and the cause is recorded. */
export function unavailableOnError(source: string) {
  return {
    target: "idle",
    actions: {
      type: "answerCurrent" as const,
      params: ({ event }: { event: { error?: unknown } }) => ({ reply: refused("unavailable"), source: `${source}: ${describeError(event.error)}` }),
    },
  };
}

/** A request step refuses the request being served. */
export function refuseCurrent(reply: RequestReply, source: string) {
  return { target: "idle", actions: { type: "answerCurrent" as const, params: { reply, source } } };
}

/** A setup step failed: count it, record it, wait (or give up) in `setupBackoff`. */
export function setupFailed(source: string) {
  return {
    target: "#dso.setupBackoff",
    actions: { type: "recordSetupFailure" as const, params: ({ event }: { event: { error?: unknown } }) => ({ source, error: event.error }) },
  };
}
