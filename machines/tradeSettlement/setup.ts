// The named effects, delays, guards and actions of one trade's machine (machines/tradeSettlement.ts wires them).
import { assign, enqueueActions, setup } from "xstate";
import type { MarketDescription, Opening, Side } from "../../protocol/domain.ts";
import type { TradeStage } from "../../protocol/tradeLifecycle.ts";
import { backoffMs, type MachineConfig } from "../config.ts";
import { unprovidedEffects } from "../kit/effects.ts";
import { appendError, describeError, type MachineErrorRecord } from "../kit/errors.ts";
import { stepsOf, type StateNodeOf } from "../kit/steps.ts";
import {
  tradeSettlementActorNames,
  type AckMessagesParams,
  type ReplyToRequestParams,
  type TradeSettlementActors,
  type VerifyOpeningOutput,
} from "./effects.ts";
import { tradeSettlementEvents, type TradeSettlementEvent } from "./events.ts";
import { certifiedVerdicts, decideOpenings, freshRecord, partyOf, withOpening, type RequestReply, type TradeRecord, type TradeResolution } from "./record.ts";
import type { Match } from "../../protocol/domain.ts";

export type TradeSettlementInput = {
  config: MachineConfig;
  market: MarketDescription;
  match: Match;
  /** Deliveries of the match message to ack once the match is recorded (empty when resumed). */
  matchMessageIds: string[];
  /** The stored row when resuming after a restart (from `loadInFlightTrades`). */
  resume?: TradeRecord;
};

export type TradeSettlementContext = {
  config: MachineConfig;
  market: MarketDescription;
  record: TradeRecord;
  /** Match deliveries waiting for the record to exist. */
  pendingMatchAcks: string[];
  recorded: boolean;
  /** Reading deliveries, acked when the trade is closed. */
  readingMessageIds: string[];
  readings: { buyWh: number | null; sellWh: number | null };
  /**
   * How long after the terms the meters report (the `sendTerms` effects say, by the market clock): version 2's readings
   * come at the slot's end (PROTOCOL §5 trading step 5), version 1's at once (0).
   */
  readingsDueInMs: number;
  verification: { buy: VerifyOpeningOutput | null; sell: VerifyOpeningOutput | null };
  disputeWindowClosed: boolean;
  failures: number;
  /** Set by the final state. */
  ended: TradeEnded["stage"] | null;
  errors: MachineErrorRecord[];
};

export type TradeEnded = {
  type: "TRADE.ENDED";
  matchId: string;
  stage: "settled" | "voided" | "disputed" | "alreadyClosed";
  settlement: TradeRecord["settlement"];
  resolution: TradeResolution | null;
};
export type TradeSettlementOutput = TradeEnded;

export function initialContext(input: TradeSettlementInput): TradeSettlementContext {
  return {
    config: input.config,
    market: input.market,
    record: input.resume ?? freshRecord(input.match),
    pendingMatchAcks: [...input.matchMessageIds],
    recorded: input.resume !== undefined,
    readingMessageIds: [],
    readings: {
      buyWh: input.resume?.settlement?.buyReadingWh ?? null,
      sellWh: input.resume?.settlement?.sellReadingWh ?? null,
    },
    readingsDueInMs: 0,
    verification: { buy: null, sell: null },
    disputeWindowClosed: false,
    failures: 0,
    ended: null,
    errors: [],
  };
}

/** Version 2 (PROTOCOL §5 v2): the market has delivery slots, and its trades start with both certified openings. */
export function isSlotMarket(context: TradeSettlementContext): boolean {
  return context.market.slots !== undefined;
}

/**
 * The decision on the two openings: version 1's once both verifications are in (`deciding` runs after them), version
 * 2's on the certified openings the record holds from the start.
 */
export function decisionOf(context: TradeSettlementContext) {
  if (isSlotMarket(context)) return decideOpenings(context.record, certifiedVerdicts(context.record), context.market);
  const rejected = { valid: false, reason: "malformed-opening" } as const;
  return decideOpenings(context.record, { buy: context.verification.buy ?? rejected, sell: context.verification.sell ?? rejected }, context.market);
}

export const tradeSettlementSetup = setup({
  types: {
    input: {} as TradeSettlementInput,
    context: {} as TradeSettlementContext,
    events: {} as TradeSettlementEvent,
    output: {} as TradeSettlementOutput,
  },
  actors: unprovidedEffects<TradeSettlementActors>("tradeSettlement", tradeSettlementActorNames),
  delays: {
    openingTimeout: ({ context }) => context.config.dso.openingTimeoutMs,
    disputeWindow: ({ context }) => context.config.dso.disputeWindowMs,
    readingTimeout: ({ context }) => context.readingsDueInMs + context.config.dso.readingTimeoutMs,
    retryDelay: ({ context }) => backoffMs(context.failures, context.config.dso.retryBaseMs, context.config.dso.retryMaxMs),
  },
  guards: {
    isWellFormed: ({ event }) => tradeSettlementEvents.parse(event) !== null,
    isRecorded: ({ context }) => context.recorded,
    /** Version 2, a trade recorded (with its certified openings) whose terms are not fixed yet. */
    slotTradeWithoutTerms: ({ context }) => isSlotMarket(context) && context.record.stage === "awaitingOpenings" && !context.record.closed,
    resumeAt: ({ context }, params: { stages: TradeStage[]; closed?: boolean }) =>
      params.stages.includes(context.record.stage) && (params.closed === undefined || context.record.closed === params.closed),
    bothOpened: ({ context }) => context.record.buyOpening !== null && context.record.sellOpening !== null,
    bothVerified: ({ context }) => context.verification.buy !== null && context.verification.sell !== null,
    bothReadings: ({ context }) => context.readings.buyWh !== null && context.readings.sellWh !== null,
    openingsMakeTerms: ({ context }) => "terms" in decisionOf(context),
    isPartyDispute: ({ context, event }) => {
      const parsed = tradeSettlementEvents.parse(event);
      return (
        parsed?.type === "DISPUTE.RECEIVED" &&
        parsed.matchId === context.record.matchId &&
        partyOf(context.record, parsed.bidder) !== null &&
        !context.disputeWindowClosed
      );
    },
  },
  actions: {
    /** Runtime: answer a request on its reply subject (signed/encrypted as the message kind requires). */
    replyToRequest: (_args, _params: ReplyToRequestParams) => {},
    /** Runtime: ack JetStream deliveries by the ids it put in the events. */
    ackMessages: (_args, _params: AckMessagesParams) => {},
    recordIfMalformed: assign(({ context, event }) => ({
      errors: tradeSettlementEvents.recordIfMalformed(context.errors, event, context.config.maxRecordedErrors),
    })),
    recordEffectFailure: assign(({ context }, params: { source: string; error: unknown }) => ({
      failures: context.failures + 1,
      errors: appendError(
        context.errors,
        { kind: "effectFailed", source: params.source, detail: describeError(params.error) },
        context.config.maxRecordedErrors,
      ),
    })),
    resetFailures: assign({ failures: 0 }),
    markClosed: assign({ record: ({ context }) => ({ ...context.record, closed: true }) }),
    /** A redelivered match before the record exists: ack it once recorded. */
    holdMatchAck: assign(({ context, event }) => {
      const parsed = tradeSettlementEvents.parse(event);
      if (parsed?.type !== "MATCH.RECEIVED" || parsed.match.matchId !== context.record.matchId) return {};
      return { pendingMatchAcks: [...context.pendingMatchAcks, parsed.messageId] };
    }),
    storeOpening: assign(({ context, event }) => {
      const parsed = tradeSettlementEvents.parse(event);
      if (parsed?.type !== "OPENING.RECEIVED" || parsed.matchId !== context.record.matchId) return {};
      return { record: withOpening(context.record, parsed.bidder, parsed.opening) };
    }),
    storeDispute: assign(({ context, event }) => {
      const parsed = tradeSettlementEvents.parse(event);
      if (parsed?.type !== "DISPUTE.RECEIVED") return {};
      return { record: { ...context.record, resolution: { kind: "disputed", dispute: parsed.dispute, raisedBy: parsed.bidder } } };
    }),
    /** Keeps the first reading per party (readings are idempotent by party); every delivery is acked at close. */
    noteReading: assign(({ context, event }) => {
      const parsed = tradeSettlementEvents.parse(event);
      if (parsed?.type !== "READING.RECEIVED" || parsed.matchId !== context.record.matchId) return {};
      const side = partyOf(context.record, parsed.bidder);
      const readingMessageIds = [...context.readingMessageIds, parsed.messageId];
      if (side === null)
        return {
          readingMessageIds,
          errors: appendError(
            context.errors,
            { kind: "rejected", source: "READING.RECEIVED", detail: `not a party: ${parsed.bidder}` },
            context.config.maxRecordedErrors,
          ),
        };
      const key = side === "buy" ? "buyWh" : "sellWh";
      return { readingMessageIds, readings: context.readings[key] === null ? { ...context.readings, [key]: parsed.measuredWh } : context.readings };
    }),
    noteVerification: assign(({ context }, params: { side: Side; verdict: VerifyOpeningOutput }) => ({
      verification: { ...context.verification, [params.side]: params.verdict },
    })),
    /** The latest time a meter was told to report at (a malformed answer counts as "at once"). */
    noteReadingsDue: assign(({ context }, params: { output: unknown }) => {
      const dueInMs = (params.output as { readingsDueInMs?: unknown } | undefined)?.readingsDueInMs;
      const valid = typeof dueInMs === "number" && Number.isFinite(dueInMs) && dueInMs >= 0;
      return { readingsDueInMs: valid ? Math.max(context.readingsDueInMs, dueInMs) : context.readingsDueInMs };
    }),
    /** The decision on the openings: the terms, or the void it comes to. */
    applyDecision: assign(({ context }) => {
      const decision = decisionOf(context);
      return { failures: 0, record: "terms" in decision ? { ...context.record, terms: decision.terms } : { ...context.record, resolution: decision } };
    }),
    /** Final-state entry (after `ackMessages` of what is left): tell the parent dso. */
    finish: enqueueActions(({ context, enqueue, self }, params: { stage: TradeEnded["stage"] }) => {
      enqueue.assign({ pendingMatchAcks: [], readingMessageIds: [], ended: params.stage });
      if (self._parent) {
        const ended: TradeEnded = {
          type: "TRADE.ENDED",
          matchId: context.record.matchId,
          stage: params.stage,
          settlement: context.record.settlement,
          resolution: context.record.resolution,
        };
        enqueue.sendParent(ended);
      }
    }),
  },
});

export type TradeSettlementStateNode = StateNodeOf<typeof tradeSettlementSetup>;
/** `step(name, { backoff, delay }, state)`: a retried step and its backoff state. */
export const step = stepsOf<TradeSettlementStateNode>();

/** The error transition of a step: record the failure, wait in `backoff`, try again (the DSO never gives up). */
export function retryIn<const TBackoff extends string>(backoff: TBackoff, source: string) {
  return {
    target: backoff,
    actions: { type: "recordEffectFailure" as const, params: ({ event }: { event: { error?: unknown } }) => ({ source, error: event.error }) },
  };
}

/** Answers an opening request with `decide(record, request)`. */
export function replyToOpening(decide: (record: TradeRecord, request: { matchId: string; bidder: string; opening: Opening }) => RequestReply) {
  return tradeSettlementSetup.enqueueActions(({ context, event, enqueue }) => {
    const parsed = tradeSettlementEvents.parse(event);
    if (parsed?.type !== "OPENING.RECEIVED") return;
    enqueue({ type: "replyToRequest", params: { requestId: parsed.requestId, reply: decide(context.record, parsed) } });
  });
}

/** Answers a dispute with `decide(record, request)`. */
export function replyToDispute(decide: (record: TradeRecord, request: { matchId: string; bidder: string }) => RequestReply) {
  return tradeSettlementSetup.enqueueActions(({ context, event, enqueue }) => {
    const parsed = tradeSettlementEvents.parse(event);
    if (parsed?.type !== "DISPUTE.RECEIVED") return;
    enqueue({ type: "replyToRequest", params: { requestId: parsed.requestId, reply: decide(context.record, parsed) } });
  });
}

/** A request that arrives before the match is recorded is "not known yet" (retryable), not "too late". */
export const replyUnknownMatch = tradeSettlementSetup.enqueueActions(({ event, enqueue }) => {
  if (event.type !== "OPENING.RECEIVED") return;
  enqueue({ type: "replyToRequest", params: { requestId: event.requestId, reply: { status: "error", refusal: { reason: "unknownMatch" } } } });
});

/** Final-state entry: ack the match and reading deliveries still held (the outcome is durable by now). */
export const ackRemaining = tradeSettlementSetup.enqueueActions(({ context, enqueue }) => {
  const messageIds = [...context.pendingMatchAcks, ...context.readingMessageIds];
  if (messageIds.length > 0) enqueue({ type: "ackMessages", params: { messageIds } });
});
