// The bid session's named effects, delays, guards and actions: what its stages (preparing.ts, onChain.ts, trading.ts)
// wire together. Pure: every effect is an injected actor, every wait a named delay from the configuration.
import { assign, enqueueActions, setup } from "xstate";
import { sameAddress } from "../../protocol/base/hex.ts";
import { addressSchema, signatureSchema } from "../../protocol/base/primitives.ts";
import { ticketSchema } from "../../protocol/domain.ts";
import { backoffMs } from "../config.ts";
import { unprovidedEffects } from "../kit/effects.ts";
import { appendError, describeError } from "../kit/errors.ts";
import { stepsOf, type StateNodeOf } from "../kit/steps.ts";
import {
  certificationProblem,
  encryptionProblem,
  initialContext,
  isForThisTrade,
  isOwnMatch,
  isSlotMarket,
  termsFollowFromOpenings,
  type BidOutcome,
  type BidSessionContext,
  type BidSessionEnded,
  type BidSessionFilled,
  type BidSessionIdentified,
  type BidSessionInput,
  type BidSessionOutput,
  type FailureStage,
} from "./context.ts";
import { bidSessionActorNames, type BidSessionActors, type CertifyBidOutput, type EncryptBidOutput, type VerifyCounterpartOpeningOutput } from "./effects.ts";
import { bidSessionEvents, type BidSessionEvent } from "./events.ts";

const retryDelay = ({ context }: { context: BidSessionContext }) =>
  backoffMs(context.failures, context.config.meter.requestRetryBaseMs, context.config.meter.requestRetryMaxMs);

export const bidSessionSetup = setup({
  types: {
    input: {} as BidSessionInput,
    context: {} as BidSessionContext,
    events: {} as BidSessionEvent,
    output: {} as BidSessionOutput,
  },
  actors: unprovidedEffects<BidSessionActors>("bidSession", bidSessionActorNames),
  delays: {
    ticketRetryDelay: retryDelay,
    submitRetryDelay: retryDelay,
    openingRetryDelay: retryDelay,
    tradeStepRetryDelay: retryDelay,
    /**
     * Ticket lifetime plus grace: after it the bid is treated as expired even without the gateway's notice. A version 2
     * bid lives until its slot's gate closure (the runtime computed the wall time at certification).
     */
    matchWaitTimeout: ({ context }) =>
      (context.matchWaitMs ?? context.config.meter.bidLifetimeSeconds * 1000) + context.config.meter.expiryGraceMs,
    termsTimeout: ({ context }) => context.config.meter.termsTimeoutMs,
    deliveryDuration: ({ context }) => context.config.meter.deliveryDurationMs,
    settlementTimeout: ({ context }) => context.config.meter.settlementTimeoutMs,
  },
  guards: {
    isOwnMatchEvent: ({ context, event }) => {
      const parsed = bidSessionEvents.parse(event);
      return parsed?.type === "MATCH.RECEIVED" && isOwnMatch(context, parsed.match);
    },
    isOwnBidNotice: ({ context, event }) => {
      const parsed = bidSessionEvents.parse(event);
      return (
        (parsed?.type === "BID.EXPIRED" || parsed?.type === "BID.REJECTED" || parsed?.type === "BID.CANCELLED") &&
        sameAddress(parsed.bidder, context.bidder)
      );
    },
    isOwnCancelCommand: ({ context, event }) => {
      const parsed = bidSessionEvents.parse(event);
      return parsed?.type === "BID.CANCEL" && parsed.planId === context.planId;
    },
    isOwnTradeNotice: ({ context, event }) => {
      const parsed = bidSessionEvents.parse(event);
      switch (parsed?.type) {
        case "MATCH.VOIDED":
        case "TRADE.DISPUTED":
          return isForThisTrade(context, parsed);
        case "TERMS.RECEIVED":
          return isForThisTrade(context, { bidder: parsed.bidder, matchId: parsed.terms.matchId });
        case "SETTLEMENT.RECEIVED":
          return isForThisTrade(context, { bidder: parsed.bidder, matchId: parsed.notice.matchId });
        default:
          return false;
      }
    },
    cancelRequested: ({ context }) => context.cancelRequested,
    isSlotMarket: ({ context }) => isSlotMarket(context),
    /** The DSO certified this bid: our bidder, side, slot, level and quantity. */
    isOwnCertifiedBid: ({ context }, params: { output: CertifyBidOutput | undefined }) => certificationProblem(context, params.output) === null,
    isClosedSlot: (_, params: { output: CertifyBidOutput | undefined }) => params.output?.kind === "closed",
    ticketRetriesLeft: ({ context }) => context.failures + 1 < context.config.meter.ticketMaxAttempts,
    submitRetriesLeft: ({ context }) => context.failures + 1 < context.config.meter.submitMaxAttempts,
    tradeStepRetriesLeft: ({ context }) => context.failures + 1 < context.config.meter.tradeStepMaxAttempts,
    // Effect outputs are checked before they enter the context: a runtime bug fails the session, it never corrupts it.
    isIdentity: (_, params: { output: unknown }) => addressSchema.safeParse((params.output as { bidder?: unknown } | undefined)?.bidder).success,
    /** The DSO must have signed for this bidder, not another one. */
    isOwnTicket: ({ context }, params: { output: unknown }) => {
      const parsed = ticketSchema.safeParse((params.output as { ticket?: unknown } | undefined)?.ticket);
      return parsed.success && sameAddress(parsed.data.bidder, context.bidder);
    },
    isConsistentEncryption: ({ context }, params: { output: EncryptBidOutput }) => encryptionProblem(context, params.output) === null,
    isSignature: (_, params: { output: unknown }) =>
      signatureSchema.safeParse((params.output as { bidderSignature?: unknown } | undefined)?.bidderSignature).success,
    acceptsTrade: ({ context }, params: { verdict: VerifyCounterpartOpeningOutput | undefined }) =>
      params.verdict?.valid === true &&
      context.terms !== null &&
      context.counterpartOpening !== null &&
      termsFollowFromOpenings(context, context.terms, context.counterpartOpening),
    isWholeWh: (_, params: { measuredWh: unknown }) => Number.isSafeInteger(params.measuredWh) && (params.measuredWh as number) >= 0,
  },
  actions: {
    /** Records any external event that failed its schema (XState already ignores unknown types). */
    recordIfMalformed: assign(({ context, event }) => ({
      errors: bidSessionEvents.recordIfMalformed(context.errors, event, context.config.maxRecordedErrors),
    })),
    countFailure: assign({ failures: ({ context }) => context.failures + 1 }),
    resetFailures: assign({ failures: 0 }),
    recordEffectFailure: assign(({ context }, params: { source: string; error: unknown }) => ({
      errors: appendError(
        context.errors,
        { kind: "effectFailed", source: params.source, detail: describeError(params.error) },
        context.config.maxRecordedErrors,
      ),
    })),
    recordInvalidOutput: assign(({ context }, params: { source: string; detail: string }) => ({
      errors: appendError(context.errors, { kind: "invalidOutput", source: params.source, detail: params.detail }, context.config.maxRecordedErrors),
    })),
    /** Fixes how the session ends (read by the final state's entry). */
    end: assign((_, params: { outcome: BidOutcome }) => ({ ending: params.outcome })),
    /** Tells the parent meter the one-time id, so it can route bidder-addressed events here. */
    announceIdentity: enqueueActions(({ context, enqueue, self }) => {
      if (!self._parent || !context.bidder) return;
      const identified: BidSessionIdentified = { type: "BID.SESSION.IDENTIFIED", sessionId: context.sessionId, bidder: context.bidder };
      enqueue.sendParent(identified);
    }),
    /**
     * Version 2: the terms are accepted while the slot is still open, so the parent re-bids the unfilled remainder now
     * (PROTOCOL §5 trading step 4), not after settlement at the slot's end, when the gate has closed.
     */
    announceFill: enqueueActions(({ context, enqueue, self }) => {
      if (!self._parent || !isSlotMarket(context) || context.terms === null) return;
      const filled: BidSessionFilled = {
        type: "BID.SESSION.FILLED",
        sessionId: context.sessionId,
        remainderWh: Math.max(0, context.quantityWh - context.terms.quantityWh),
      };
      enqueue.sendParent(filled);
    }),
    /** Final-state entry: fix the outcome and tell the parent meter (if the session runs under one). */
    finish: enqueueActions(({ context, enqueue, self }) => {
      const outcome: BidOutcome = context.ending ?? { kind: "failed", stage: "identity", reason: "no outcome" };
      enqueue.assign({ outcome });
      if (self._parent) {
        const ended: BidSessionEnded = {
          type: "BID.SESSION.ENDED",
          sessionId: context.sessionId,
          planId: context.planId,
          attempt: context.attempt,
          bidder: context.bidder,
          outcome,
        };
        enqueue.sendParent(ended);
      }
    }),
  },
});

export type BidSessionStateNode = StateNodeOf<typeof bidSessionSetup>;
/** `step(name, { backoff, delay }, state)`: a retried step and its backoff state. */
export const step = stepsOf<BidSessionStateNode>();
export { initialContext };

type ErrorEvent = { event: { error?: unknown } };

/** The error transition of a retried step: count (and record) the failure, then wait in its backoff state. */
export function retryAfterFailure<const TBackoff extends string>(
  source: string,
  backoff: TBackoff,
  options: { guard?: "ticketRetriesLeft" | "submitRetriesLeft" | "tradeStepRetriesLeft"; record?: boolean } = {},
) {
  return {
    ...(options.guard ? { guard: options.guard } : {}),
    target: backoff,
    actions: [
      { type: "countFailure" as const },
      ...(options.record === false
        ? []
        : [{ type: "recordEffectFailure" as const, params: ({ event }: ErrorEvent) => ({ source, error: event.error }) }]),
    ],
  };
}

/** The session fails at `stage` with the effect's error as the reason. */
export function failOnError(stage: FailureStage) {
  return {
    target: "#bidSession.failed",
    actions: {
      type: "end" as const,
      params: ({ event }: ErrorEvent) => ({ outcome: { kind: "failed", stage, reason: describeError(event.error) } as BidOutcome }),
    },
  };
}

/** The session fails at `stage` because an effect returned something unusable. */
export function failWith(stage: FailureStage, reason: string) {
  return { target: "#bidSession.failed", actions: { type: "end" as const, params: { outcome: { kind: "failed", stage, reason } as BidOutcome } } };
}
