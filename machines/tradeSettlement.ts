// The DSO's handling of one match, from the openings to the double-entry settlement (PROTOCOL §5 trading, steps
// 1–6). Spawned by the dso machine per match, or resumed from the database after a restart. Version 2 (a market with
// slots, §5 v2): the record holds both certified openings from the start, so the trade goes from the match straight
// to its terms (no opening round trip, nothing to verify); readings come at the slot's end.
import { and, assign, enqueueActions } from "xstate";
import type { MachineImplementationsFrom, SnapshotFrom } from "xstate";
import type { Side } from "../protocol/domain.ts";
import { settleTrade } from "../protocol/settlement.ts";
import { promiseEffects } from "./kit/effects.ts";
import { MachineInvariantError } from "./kit/errors.ts";
import type { InvokeOf } from "./kit/steps.ts";
import type { TradeSettlementActions, TradeSettlementEffects } from "./tradeSettlement/effects.ts";
import { tradeSettlementEvents } from "./tradeSettlement/events.ts";
import {
  disputeRefusal,
  isCertifiedOpening,
  isTradeRecordFor,
  lateOpeningReply,
  missingOpeners,
  openingReply,
  type TradeResolution,
} from "./tradeSettlement/record.ts";
import {
  ackRemaining,
  initialContext,
  replyToDispute,
  replyToOpening,
  replyUnknownMatch,
  retryIn,
  step,
  tradeSettlementSetup,
  type TradeSettlementStateNode,
} from "./tradeSettlement/setup.ts";

export * from "./tradeSettlement/effects.ts";
export * from "./tradeSettlement/events.ts";
export * from "./tradeSettlement/record.ts";
export { tradeSettlementSetup, type TradeEnded, type TradeSettlementContext, type TradeSettlementInput, type TradeSettlementOutput } from "./tradeSettlement/setup.ts";

/** `[well formed → actions, else record it as malformed]`: how every request event is taken. */
function whenWellFormed<T>(actions: T) {
  return [{ guard: "isWellFormed" as const, actions }, { actions: "recordIfMalformed" as const }];
}

/** PROTOCOL §5 trading step 2: re-encrypt one side's opening with msk and compare it with the chain. */
function verifyOpeningOf(side: Side): InvokeOf<TradeSettlementStateNode> {
  return {
    id: side === "buy" ? "verifyBuyOpening" : "verifySellOpening",
    src: "verifyOpening",
    input: ({ context }) => {
      const opening = side === "buy" ? context.record.buyOpening : context.record.sellOpening;
      if (opening === null || isCertifiedOpening(opening)) throw new MachineInvariantError({ machine: "tradeSettlement", what: `the ${side} opening` });
      return { matchId: context.record.matchId, bidder: side === "buy" ? context.record.buyBidder : context.record.sellBidder, side, opening };
    },
    onDone: { actions: { type: "noteVerification", params: ({ event }) => ({ side, verdict: event.output }) } },
    onError: retryIn("verifyBackoff", "verifyOpening"),
  };
}

/**
 * PROTOCOL §5 trading step 2: the terms and the other side's opening to one meter, retried until sent; the effect says
 * when that meter's reading is due (version 2: its slot's end).
 */
function termsTo(side: Side): TradeSettlementStateNode {
  return {
    initial: "sending",
    states: {
      ...step(
        "sending",
        { backoff: "backoff", delay: "retryDelay" },
        {
          invoke: {
            id: side === "buy" ? "sendBuyerTerms" : "sendSellerTerms",
            src: "sendTerms",
            input: ({ context }) => {
              const { record } = context;
              const counterpartOpening = side === "buy" ? record.sellOpening : record.buyOpening;
              if (record.terms === null || counterpartOpening === null) throw new MachineInvariantError({ machine: "tradeSettlement", what: "the terms" });
              return { matchId: record.matchId, bidder: side === "buy" ? record.buyBidder : record.sellBidder, side, terms: record.terms, counterpartOpening };
            },
            onDone: { target: "sent", actions: { type: "noteReadingsDue", params: ({ event }) => ({ output: event.output }) } },
            onError: retryIn("backoff", "sendTerms"),
          },
        },
      ),
      sent: { type: "final" },
    },
  };
}

export const tradeSettlement = tradeSettlementSetup.createMachine({
  id: "tradeSettlement",
  context: ({ input }) => initialContext(input),
  output: ({ context }) => ({
    type: "TRADE.ENDED",
    matchId: context.record.matchId,
    stage: context.ended ?? "alreadyClosed",
    settlement: context.record.settlement,
    resolution: context.record.resolution,
  }),
  on: {
    ...tradeSettlementEvents.fallback("recordIfMalformed"),
    "MATCH.RECEIVED": [
      { guard: and(["isWellFormed", "isRecorded"]), actions: { type: "ackMessages", params: ({ event }) => ({ messageIds: [event.messageId] }) } },
      ...whenWellFormed("holdMatchAck" as const),
    ],
    "OPENING.RECEIVED": whenWellFormed(replyToOpening(lateOpeningReply)),
    "DISPUTE.RECEIVED": whenWellFormed(replyToDispute(disputeRefusal)),
    "READING.RECEIVED": whenWellFormed("noteReading" as const),
  },
  initial: "starting",
  states: {
    // A resumed trade continues where its stored stage says (DSO restart, PROTOCOL §6 "no … lost").
    starting: {
      always: [
        { guard: ({ context }) => !context.recorded, target: "registering" },
        // Version 2: both certified openings came with the record; the terms are fixed at once (§5 v2 step 2).
        { guard: "slotTradeWithoutTerms", target: "deciding" },
        { guard: { type: "resumeAt", params: { stages: ["awaitingOpenings"], closed: false } }, target: "awaitingOpenings" },
        { guard: { type: "resumeAt", params: { stages: ["termsFixed"], closed: false } }, target: "afterTerms" },
        { guard: { type: "resumeAt", params: { stages: ["settled", "voided", "disputed"], closed: false } }, target: "publishingOutcome" },
        { target: "alreadyClosed" },
      ],
    },
    // Until the match is recorded, an opening is "not known yet" (retryable), not "too late": the meters often
    // hear of the match before the DSO has recorded it.
    ...step(
      "registering",
      { backoff: "registerBackoff", delay: "retryDelay", whileWaiting: { on: { "OPENING.RECEIVED": whenWellFormed(replyUnknownMatch) } } },
      {
        on: { "OPENING.RECEIVED": whenWellFormed(replyUnknownMatch) },
        invoke: {
          id: "registerMatch",
          src: "registerMatch",
          input: ({ context }) => ({
            match: { matchId: context.record.matchId, buyBidder: context.record.buyBidder, sellBidder: context.record.sellBidder },
          }),
          onDone: [
            {
              // An existing row (redelivered match after a restart): continue from it, never start over.
              guard: ({ context, event }) => isTradeRecordFor(event.output?.record, context.record.matchId),
              target: "starting",
              actions: [
                assign({ record: ({ event }) => event.output.record, recorded: true, failures: 0 }),
                enqueueActions(({ context, enqueue }) => {
                  if (context.pendingMatchAcks.length === 0) return;
                  enqueue({ type: "ackMessages", params: { messageIds: [...context.pendingMatchAcks] } });
                  enqueue.assign({ pendingMatchAcks: [] });
                }),
              ],
            },
            {
              target: "registerBackoff",
              actions: {
                type: "recordEffectFailure",
                params: { source: "registerMatch", error: "not a trade record for this match" },
              },
            },
          ],
          onError: retryIn("registerBackoff", "registerMatch"),
        },
      },
    ),

    // PROTOCOL §5 trading step 1 (version 1): each matched meter sends its opening.
    awaitingOpenings: {
      always: { guard: "bothOpened", target: "verifying" },
      after: {
        openingTimeout: {
          target: "resolving",
          actions: assign({
            record: ({ context }) => ({
              ...context.record,
              resolution: { kind: "voided", reason: "openingTimeout", blamedBidders: missingOpeners(context.record) },
            }),
          }),
        },
      },
      on: {
        "OPENING.RECEIVED": whenWellFormed([replyToOpening(openingReply), "storeOpening" as const]),
      },
    },

    // PROTOCOL §5 trading step 2 (version 1): re-encrypt each opening with msk, compare with the chain; then fix the terms.
    ...step(
      "verifying",
      { backoff: "verifyBackoff", delay: "retryDelay" },
      {
        entry: assign({ verification: { buy: null, sell: null } }),
        invoke: [verifyOpeningOf("buy"), verifyOpeningOf("sell")],
        always: { guard: "bothVerified", target: "deciding" },
      },
    ),
    deciding: {
      always: [
        { guard: "openingsMakeTerms", target: "storingTerms", actions: "applyDecision" },
        { target: "resolving", actions: "applyDecision" },
      ],
    },
    ...step(
      "storingTerms",
      { backoff: "storingTermsBackoff", delay: "retryDelay" },
      {
        invoke: {
          id: "saveTerms",
          src: "saveTrade",
          input: ({ context }) => ({ record: { ...context.record, stage: "termsFixed" as const } }),
          onDone: {
            target: "afterTerms",
            actions: [assign({ record: ({ context }) => ({ ...context.record, stage: "termsFixed" as const }) }), "resetFailures"],
          },
          onError: retryIn("storingTermsBackoff", "saveTrade"),
        },
      },
    ),

    // PROTOCOL §5 trading steps 2–5: terms + counterpart's opening to each meter; disputes within the window; readings.
    afterTerms: {
      initial: "sendingTerms",
      on: {
        "DISPUTE.RECEIVED": [
          {
            guard: "isPartyDispute",
            target: "resolving",
            actions: [
              {
                type: "replyToRequest",
                params: ({ event }) => ({ requestId: event.requestId, reply: { status: "ok", body: { kind: "disputeRecorded" } } }),
              },
              "storeDispute",
            ],
          },
          ...whenWellFormed(replyToDispute(disputeRefusal)),
        ],
      },
      states: {
        sendingTerms: {
          type: "parallel",
          onDone: "collecting",
          states: { buyer: termsTo("buy"), seller: termsTo("sell") },
        },
        collecting: {
          type: "parallel",
          entry: "resetFailures",
          onDone: "#tradeSettlement.settling",
          states: {
            disputeWindow: {
              initial: "open",
              states: {
                open: { after: { disputeWindow: { target: "closed", actions: assign({ disputeWindowClosed: true }) } } },
                closed: { type: "final" },
              },
            },
            readings: {
              initial: "waiting",
              states: {
                waiting: {
                  always: { guard: "bothReadings", target: "complete" },
                  after: { readingTimeout: "timedOut" },
                },
                complete: { type: "final" },
                // Settle with what was reported: a missing seller reading counts as nothing delivered.
                timedOut: { type: "final" },
              },
            },
          },
        },
      },
    },

    // PROTOCOL §5 trading step 6: double-entry settlement, one database transaction. The settlement is a pure
    // function of the record, so re-entering `settling` after a failure recomputes the same lines.
    ...step(
      "settling",
      { backoff: "settlingBackoff", delay: "retryDelay" },
      {
        entry: assign({
          record: ({ context }) => {
            const { terms } = context.record;
            if (terms === null) throw new MachineInvariantError({ machine: "tradeSettlement", what: "the terms" });
            return {
              ...context.record,
              stage: "settled" as const,
              settlement: settleTrade({ terms, buyReadingWh: context.readings.buyWh, sellReadingWh: context.readings.sellWh, tariffs: context.config.market }),
            };
          },
        }),
        invoke: {
          id: "writeSettlement",
          src: "writeSettlement",
          input: ({ context }) => ({ record: context.record }),
          onDone: { target: "publishingOutcome", actions: "resetFailures" },
          onError: retryIn("settlingBackoff", "writeSettlement"),
        },
      },
    ),

    // The match is void (PROTOCOL §5 trading step 4) or a party disputed it (step 3): the resolution says why and
    // whom to blame; the trade is stored at that stage and not settled.
    ...step(
      "resolving",
      { backoff: "resolvingBackoff", delay: "retryDelay" },
      {
        invoke: {
          id: "saveResolution",
          src: "saveTrade",
          input: ({ context }) => ({ record: { ...context.record, stage: resolvedStageOf(context.record.resolution) } }),
          onDone: {
            target: "publishingOutcome",
            actions: [
              assign({ record: ({ context }) => ({ ...context.record, stage: resolvedStageOf(context.record.resolution) }) }),
              "resetFailures",
            ],
          },
          onError: retryIn("resolvingBackoff", "saveTrade"),
        },
      },
    ),

    ...step(
      "publishingOutcome",
      { backoff: "publishingBackoff", delay: "retryDelay" },
      {
        invoke: {
          id: "publishTradeOutcome",
          src: "publishTradeOutcome",
          input: ({ context }) => {
            const { record } = context;
            const outcome =
              record.stage === "settled" && record.settlement ? { kind: "settled" as const, settlement: record.settlement } : record.resolution;
            if (outcome === null) throw new MachineInvariantError({ machine: "tradeSettlement", what: "the outcome" });
            return { matchId: record.matchId, recipients: [record.buyBidder, record.sellBidder], outcome };
          },
          onDone: { target: "closing", actions: "resetFailures" },
          onError: retryIn("publishingBackoff", "publishTradeOutcome"),
        },
      },
    ),
    ...step(
      "closing",
      { backoff: "closingBackoff", delay: "retryDelay" },
      {
        invoke: {
          id: "saveClosed",
          src: "saveTrade",
          input: ({ context }) => ({ record: { ...context.record, closed: true } }),
          onDone: [
            { guard: ({ context }) => context.record.stage === "settled", target: "settled", actions: "markClosed" },
            { guard: ({ context }) => context.record.stage === "disputed", target: "disputed", actions: "markClosed" },
            { target: "voided", actions: "markClosed" },
          ],
          onError: retryIn("closingBackoff", "saveTrade"),
        },
      },
    ),

    settled: { type: "final", entry: [ackRemaining, { type: "finish", params: { stage: "settled" } }] },
    voided: { type: "final", entry: [ackRemaining, { type: "finish", params: { stage: "voided" } }] },
    disputed: { type: "final", entry: [ackRemaining, { type: "finish", params: { stage: "disputed" } }] },
    alreadyClosed: { type: "final", entry: [ackRemaining, { type: "finish", params: { stage: "alreadyClosed" } }] },
  },
});

function resolvedStageOf(resolution: TradeResolution | null): "voided" | "disputed" {
  return resolution?.kind === "disputed" ? "disputed" : "voided";
}

export type TradeSettlementMachine = typeof tradeSettlement;
export type TradeSettlementSnapshot = SnapshotFrom<typeof tradeSettlement>;
export type TradeSettlementImplementations = MachineImplementationsFrom<typeof tradeSettlement>;

/** Provides every effect at once (the types require all of them). */
export function provideTradeSettlement(effects: TradeSettlementEffects, actions: TradeSettlementActions): TradeSettlementMachine {
  return tradeSettlement.provide({
    actors: promiseEffects(effects),
    actions: {
      replyToRequest: (_args, params) => actions.replyToRequest(params),
      ackMessages: (_args, params) => actions.ackMessages(params),
    },
  });
}
