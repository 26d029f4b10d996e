// PROTOCOL §5 trading: the opening to the DSO, the check of the counterpart's opening and of the terms (step 3),
// the void (step 4), delivery and the reading (step 5), and the settlement notice (step 6).
import { assign } from "xstate";
import { sameAddress } from "../../protocol/base/hex.ts";
import { disputeClaimOf, type DisputeGround } from "../../protocol/reasons.ts";
import { describeError } from "../kit/errors.ts";
import { counterpartOf, ownSideOf, required, settlementFrom, v1OpeningOf, type BidSessionContext } from "./context.ts";
import { bidSessionEvents } from "./events.ts";
import { retryAfterFailure, step, type BidSessionStateNode } from "./setup.ts";

/** This meter disputes its own trade on `groundOf(...)` (PROTOCOL §5 trading step 4): the session ends disputed. */
function disputedBySelf<TArgs extends { context: BidSessionContext }>(groundOf: (args: TArgs) => DisputeGround) {
  return [
    "resetFailures" as const,
    {
      type: "end" as const,
      params: (args: TArgs) => ({
        outcome: { kind: "disputed" as const, matchId: args.context.match?.matchId ?? "", dispute: disputeClaimOf(groundOf(args)), raisedBy: "self" as const },
      }),
    },
  ];
}

export const trading: BidSessionStateNode = {
  initial: "opening",
  on: {
    "MATCH.VOIDED": {
      guard: "isOwnTradeNotice",
      target: "voided",
      actions: {
        type: "end",
        params: ({ context, event }) => ({
          outcome: {
            kind: "voided",
            matchId: event.matchId,
            reason: event.reason,
            blamedSelf: event.blamedBidders.some((blamed) => sameAddress(blamed, context.bidder)),
          },
        }),
      },
    },
    "TRADE.DISPUTED": {
      guard: "isOwnTradeNotice",
      target: "disputed",
      actions: {
        type: "end",
        params: ({ event }) => ({ outcome: { kind: "disputed", matchId: event.matchId, dispute: event.dispute, raisedBy: "counterpart" } }),
      },
    },
  },
  states: {
    opening: {
      initial: "startingTrade",
      after: {
        termsTimeout: {
          target: "#bidSession.voided",
          actions: {
            type: "end",
            params: ({ context }) => ({
              outcome: { kind: "voided", matchId: context.match?.matchId ?? "", reason: "termsTimeout", blamedSelf: false },
            }),
          },
        },
      },
      on: {
        "TERMS.RECEIVED": {
          guard: "isOwnTradeNotice",
          target: "verifying",
          actions: assign(({ event }) => {
            const parsed = bidSessionEvents.parse(event);
            return parsed?.type === "TERMS.RECEIVED" ? { terms: parsed.terms, counterpartOpening: parsed.counterpartOpening, failures: 0 } : {};
          }),
        },
      },
      states: {
        // Version 2 has no opening round trip: the DSO holds both certified openings (PROTOCOL §5 v2 trading step 2).
        startingTrade: {
          always: [{ guard: "isSlotMarket", target: "awaitingTerms" }, { target: "sendingOpening" }],
        },
        ...step(
          "sendingOpening",
          { backoff: "openingBackoff", delay: "openingRetryDelay" },
          {
            invoke: {
              id: "sendOpening",
              src: "sendOpening",
              input: ({ context }) => ({ ...ownSideOf(context), opening: v1OpeningOf(context) }),
              onDone: "awaitingTerms",
              // Retried until the terms timeout: the DSO may not have seen the match yet.
              onError: retryAfterFailure("sendOpening", "openingBackoff"),
            },
          },
        ),
        awaitingTerms: {},
      },
    },
    ...step(
      "verifying",
      { backoff: "verifyBackoff", delay: "tradeStepRetryDelay" },
      {
        invoke: {
          id: "verifyCounterpartOpening",
          src: "verifyCounterpartOpening",
          input: ({ context }) => {
            const counterpart = counterpartOf(context);
            return {
              matchId: required(context, "match").matchId,
              counterpartBidder: counterpart.bidder,
              counterpartSide: counterpart.side,
              opening: required(context, "counterpartOpening"),
            };
          },
          onDone: [
            { guard: { type: "acceptsTrade", params: ({ event }) => ({ verdict: event.output }) }, target: "delivering", actions: ["resetFailures", "announceFill"] },
            {
              target: "reportingDispute",
              actions: disputedBySelf(({ event }) =>
                event.output?.valid === true
                  ? { kind: "termsMismatch" }
                  : { kind: "counterpartOpeningInvalid", check: event.output?.valid === false ? event.output.reason : null },
              ),
            },
          ],
          onError: [
            retryAfterFailure("verifyCounterpartOpening", "verifyBackoff", { guard: "tradeStepRetriesLeft", record: false }),
            {
              // We could not check the counterpart's opening at all: we do not accept the trade unverified.
              target: "reportingDispute",
              actions: disputedBySelf(({ event }) => ({ kind: "counterpartUnverifiable", error: describeError(event.error) })),
            },
          ],
        },
      },
    ),
    ...step(
      "reportingDispute",
      { backoff: "disputeBackoff", delay: "tradeStepRetryDelay" },
      {
        invoke: {
          id: "reportDispute",
          src: "reportDispute",
          input: ({ context }) => {
            const ending = context.ending;
            return {
              matchId: required(context, "match").matchId,
              bidder: required(context, "bidder"),
              claim: ending?.kind === "disputed" ? ending.dispute : { code: "malformed-opening" as const, detail: "dispute" },
            };
          },
          onDone: "#bidSession.disputed",
          onError: [
            retryAfterFailure("reportDispute", "disputeBackoff", { guard: "tradeStepRetriesLeft", record: false }),
            {
              // Not reported, but the trade is still not accepted by this meter.
              target: "#bidSession.disputed",
              actions: { type: "recordEffectFailure", params: ({ event }) => ({ source: "reportDispute", error: event.error }) },
            },
          ],
        },
      },
    ),
    // Version 1: a configured delivery time. Version 2: until the delivery slot ends (PROTOCOL §5 trading step 5).
    delivering: {
      always: { guard: "isSlotMarket", target: "awaitingSlotEnd" },
      after: { deliveryDuration: "measuring" },
    },
    awaitingSlotEnd: {
      invoke: {
        id: "awaitSlotEnd",
        src: "awaitSlotEnd",
        input: ({ context }) => ({ slot: required(context, "slot") }),
        onDone: "measuring",
        // The clock cannot fail; if the effect does, measure now rather than never.
        onError: { target: "measuring", actions: { type: "recordEffectFailure", params: ({ event }) => ({ source: "awaitSlotEnd", error: event.error }) } },
      },
    },
    ...step(
      "measuring",
      { backoff: "measureBackoff", delay: "tradeStepRetryDelay" },
      {
        invoke: {
          id: "readMeter",
          src: "readMeter",
          input: ({ context }) => ({ ...ownSideOf(context), quantityWh: required(context, "terms").quantityWh }),
          onDone: [
            {
              guard: { type: "isWholeWh", params: ({ event }) => ({ measuredWh: event.output?.measuredWh }) },
              target: "reportingReading",
              actions: [assign({ measuredWh: ({ event }) => event.output.measuredWh }), "resetFailures"],
            },
            {
              target: "awaitingSettlement",
              actions: { type: "recordInvalidOutput", params: { source: "readMeter", detail: "measuredWh is not a whole Wh" } },
            },
          ],
          onError: [
            retryAfterFailure("readMeter", "measureBackoff", { guard: "tradeStepRetriesLeft", record: false }),
            // No reading: the DSO settles with what it has (PROTOCOL §5 trading step 6; docs/machines.md).
            { target: "awaitingSettlement", actions: "resetFailures" },
          ],
        },
      },
    ),
    ...step(
      "reportingReading",
      { backoff: "readingBackoff", delay: "tradeStepRetryDelay" },
      {
        invoke: {
          id: "reportReading",
          src: "reportReading",
          input: ({ context }) => ({ ...ownSideOf(context), measuredWh: context.measuredWh ?? 0 }),
          onDone: { target: "awaitingSettlement", actions: "resetFailures" },
          onError: [
            retryAfterFailure("reportReading", "readingBackoff", { guard: "tradeStepRetriesLeft", record: false }),
            {
              target: "awaitingSettlement",
              actions: ["resetFailures", { type: "recordEffectFailure", params: ({ event }) => ({ source: "reportReading", error: event.error }) }],
            },
          ],
        },
      },
    ),
    awaitingSettlement: {
      after: { settlementTimeout: { target: "#bidSession.settled", actions: assign({ settlement: null }) } },
      on: {
        "SETTLEMENT.RECEIVED": {
          guard: "isOwnTradeNotice",
          target: "#bidSession.settled",
          actions: assign({ settlement: ({ context, event }) => settlementFrom(context, event.notice) }),
        },
      },
    },
  },
};
