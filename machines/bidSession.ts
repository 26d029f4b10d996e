// One bid of a smart meter, from its one-time identity to settlement (PROTOCOL §4 identities/tickets/commitments,
// §5 bidding and trading steps 2, 4, 5, 6). Pure: every effect is an injected actor, every wait a named delay.
import { assign, enqueueActions, setup } from "xstate";
import type { MachineImplementationsFrom, PromiseActorLogic, SnapshotFrom } from "xstate";
import { z } from "zod";
import { backoffMs } from "./config.ts";
import type { MachineConfig } from "./config.ts";
import { fixTradeTerms, sameTerms } from "./tradeTerms.ts";
import {
  addressSchema,
  appendError,
  bidCiphertextSchema,
  bytes32Schema,
  describeError,
  describeIssues,
  hexSchema,
  matchSchema,
  openingSchema,
  sameAddress,
  settlementSchema,
  ticketSchema,
  tradeTermsSchema,
  voidReasonSchema,
} from "./types.ts";
import type {
  Address,
  BidCiphertext,
  Hex,
  MachineErrorRecord,
  MarketDescription,
  Match,
  Opening,
  Settlement,
  Side,
  SignedBid,
  Ticket,
  TradeTerms,
  VoidReason,
} from "./types.ts";
import { promiseEffect, unprovidedPromise } from "./effects.ts";
import type { Effect } from "./effects.ts";

// ---------------------------------------------------------------------------------------------------------------
// Events: what the meter routes to a session (from the gateway and the DSO) plus the cancel command.

const reason = () => z.string().max(512);

export const bidSessionEventSchemas = {
  /** Gateway: the contract emitted `Matched(buy, sell)` involving this session's bidder. */
  "MATCH.RECEIVED": z.object({ type: z.literal("MATCH.RECEIVED"), match: matchSchema }),
  /** Gateway: the contract dropped this bid as expired. */
  "BID.EXPIRED": z.object({ type: z.literal("BID.EXPIRED"), bidder: addressSchema }),
  /** Gateway: the contract refused the bid for good (bad ticket, bad signature, …). */
  "BID.REJECTED": z.object({ type: z.literal("BID.REJECTED"), bidder: addressSchema, reason: reason() }),
  /** Command (prosumer/runtime): withdraw this planned bid. */
  "BID.CANCEL": z.object({ type: z.literal("BID.CANCEL"), planId: z.string().min(1).max(256) }),
  /** Gateway: the contract removed the bid after its bidder's cancel. */
  "BID.CANCELLED": z.object({ type: z.literal("BID.CANCELLED"), bidder: addressSchema }),
  /** DSO: terms of the trade plus the counterpart's opening (decrypted by the runtime). */
  "TERMS.RECEIVED": z.object({
    type: z.literal("TERMS.RECEIVED"),
    bidder: addressSchema,
    terms: tradeTermsSchema,
    counterpartOpening: openingSchema,
  }),
  /** DSO: the match is void; `blamedBidders` did not open in time or their opening failed (may be empty). */
  "MATCH.VOIDED": z.object({
    type: z.literal("MATCH.VOIDED"),
    bidder: addressSchema,
    matchId: z.string().min(1),
    reason: voidReasonSchema,
    blamedBidders: z.array(addressSchema).max(2),
  }),
  /** DSO: the trade is disputed (by the counterpart or by this meter) and will not settle. */
  "TRADE.DISPUTED": z.object({
    type: z.literal("TRADE.DISPUTED"),
    bidder: addressSchema,
    matchId: z.string().min(1),
    reason: reason(),
  }),
  /** DSO: the trade is settled. */
  "SETTLEMENT.RECEIVED": z.object({
    type: z.literal("SETTLEMENT.RECEIVED"),
    bidder: addressSchema,
    settlement: settlementSchema,
  }),
} as const;

type Schemas = typeof bidSessionEventSchemas;
export type BidSessionEvent = { [K in keyof Schemas]: z.infer<Schemas[K]> }[keyof Schemas];
export type BidSessionEventType = BidSessionEvent["type"];
export const bidSessionEventTypes = Object.keys(bidSessionEventSchemas) as BidSessionEventType[];

/** Parses an event against its schema; `null` for unknown types or malformed payloads. */
export function parseBidSessionEvent(event: { type: string }): BidSessionEvent | null {
  const schema = (bidSessionEventSchemas as Record<string, z.ZodType<BidSessionEvent>>)[event.type];
  if (!schema) return null;
  const parsed = schema.safeParse(event);
  return parsed.success ? parsed.data : null;
}

// ---------------------------------------------------------------------------------------------------------------
// Effects the runtime provides.

export type CreateOneTimeIdentityInput = { sessionId: string };
/** The runtime keeps the private key (keyed by `bidder`) for `signBid`/`cancelBid`; it never enters the machine. */
export type CreateOneTimeIdentityOutput = { bidder: Address };
export type RequestTicketInput = { bidder: Address; lifetimeSeconds: number };
export type RequestTicketOutput = { ticket: Ticket };
export type EncryptBidInput = { bidder: Address; side: Side; priceLevel: number; quantityWh: number };
/** α, β and salt are drawn by the runtime; `opening` must reproduce `ciphertext` and `commitment` (PROTOCOL §4). */
export type EncryptBidOutput = { ciphertext: BidCiphertext; commitment: Hex; opening: Opening };
export type SignBidInput = { bidder: Address; side: Side; ciphertext: BidCiphertext; commitment: Hex };
export type SignBidOutput = { bidderSignature: Hex };
export type SubmitBidInput = { bid: SignedBid };
export type CancelBidInput = { bidder: Address };
export type SendOpeningInput = { matchId: string; bidder: Address; side: Side; opening: Opening };
export type VerifyCounterpartOpeningInput = {
  matchId: string;
  counterpartBidder: Address;
  counterpartSide: Side;
  opening: Opening;
};
export type VerifyCounterpartOpeningOutput = { valid: boolean; reason?: string };
export type ReportDisputeInput = { matchId: string; bidder: Address; reason: string };
export type ReadMeterInput = { matchId: string; bidder: Address; side: Side; quantityWh: number };
export type ReadMeterOutput = { measuredWh: number };
export type ReportReadingInput = { matchId: string; bidder: Address; side: Side; measuredWh: number };

export type BidSessionActors = {
  createOneTimeIdentity: PromiseActorLogic<CreateOneTimeIdentityOutput, CreateOneTimeIdentityInput>;
  requestTicket: PromiseActorLogic<RequestTicketOutput, RequestTicketInput>;
  encryptBid: PromiseActorLogic<EncryptBidOutput, EncryptBidInput>;
  signBid: PromiseActorLogic<SignBidOutput, SignBidInput>;
  submitBid: PromiseActorLogic<void, SubmitBidInput>;
  cancelBid: PromiseActorLogic<void, CancelBidInput>;
  sendOpening: PromiseActorLogic<void, SendOpeningInput>;
  verifyCounterpartOpening: PromiseActorLogic<VerifyCounterpartOpeningOutput, VerifyCounterpartOpeningInput>;
  reportDispute: PromiseActorLogic<void, ReportDisputeInput>;
  readMeter: PromiseActorLogic<ReadMeterOutput, ReadMeterInput>;
  reportReading: PromiseActorLogic<void, ReportReadingInput>;
};
export const bidSessionActorNames = [
  "createOneTimeIdentity",
  "requestTicket",
  "encryptBid",
  "signBid",
  "submitBid",
  "cancelBid",
  "sendOpening",
  "verifyCounterpartOpening",
  "reportDispute",
  "readMeter",
  "reportReading",
] as const satisfies readonly (keyof BidSessionActors)[];

export const bidSessionDelayNames = [
  "ticketRetryDelay",
  "submitRetryDelay",
  "openingRetryDelay",
  "tradeStepRetryDelay",
  "matchWaitTimeout",
  "termsTimeout",
  "deliveryDuration",
  "settlementTimeout",
] as const;

// ---------------------------------------------------------------------------------------------------------------
// Input, context, output.

export type BidSessionInput = {
  config: MachineConfig;
  /** Unique per meter; the meter uses `${planId}#${attempt}`. */
  sessionId: string;
  planId: string;
  /** 1 for the first bid of a plan, +1 per re-bid. */
  attempt: number;
  side: Side;
  priceLevel: number;
  quantityWh: number;
  market: MarketDescription;
};

export type BidOutcome =
  | {
      kind: "settled";
      matchId: string;
      filledWh: number;
      /** Bid quantity minus the traded quantity: the meter re-bids it. */
      remainderWh: number;
      measuredWh: number | null;
      /** `null` when no settlement notice arrived within `settlementTimeout`. */
      settlement: Settlement | null;
    }
  | { kind: "voided"; matchId: string; reason: VoidReason; blamedSelf: boolean }
  | { kind: "disputed"; matchId: string; reason: string; raisedBy: "self" | "counterpart" }
  | { kind: "expired" }
  | { kind: "cancelled" }
  | { kind: "rejected"; reason: string }
  | { kind: "failed"; stage: FailureStage; reason: string };

export type FailureStage = "identity" | "ticket" | "encryption" | "signing" | "submission";

/** Sent to the parent (if any) when the session ends; also the machine's output (`outcome`). */
export type BidSessionEnded = {
  type: "BID.SESSION.ENDED";
  sessionId: string;
  planId: string;
  attempt: number;
  bidder: Address | null;
  outcome: BidOutcome;
};
/** Sent to the parent once the one-time identity exists, so it can route bidder-addressed events. */
export type BidSessionIdentified = { type: "BID.SESSION.IDENTIFIED"; sessionId: string; bidder: Address };

export type BidSessionContext = BidSessionInput & {
  bidder: Address | null;
  ticket: Ticket | null;
  ciphertext: BidCiphertext | null;
  commitment: Hex | null;
  opening: Opening | null;
  bidderSignature: Hex | null;
  cancelRequested: boolean;
  match: Match | null;
  terms: TradeTerms | null;
  counterpartOpening: Opening | null;
  measuredWh: number | null;
  settlement: Settlement | null;
  /** Consecutive failures of the step being retried (reset when a step succeeds). */
  failures: number;
  /** Set by the transition into a final state; read by its entry action. */
  ending: BidOutcome | null;
  outcome: BidOutcome | null;
  errors: MachineErrorRecord[];
};

export type BidSessionOutput = BidSessionEnded;

// ---------------------------------------------------------------------------------------------------------------
// Pure checks.

function ownSide(context: BidSessionContext): Side {
  return context.side;
}
function counterpartOf(context: BidSessionContext, match: Match): { bidder: Address; side: Side } {
  return context.side === "buy" ? { bidder: match.sellBidder, side: "sell" } : { bidder: match.buyBidder, side: "buy" };
}

/** The match names our bidder on our side. */
export function isOwnMatch(context: BidSessionContext, match: Match): boolean {
  return sameAddress(context.side === "buy" ? match.buyBidder : match.sellBidder, context.bidder);
}

/** What `encryptBid` returned is shaped for this market and opens to what we asked for. */
function encryptionIsConsistent(context: BidSessionContext, output: EncryptBidOutput): string | null {
  const parsed = z
    .object({ ciphertext: bidCiphertextSchema, commitment: bytes32Schema, opening: openingSchema })
    .safeParse(output);
  if (!parsed.success) return describeIssues(parsed.error);
  const d = context.market.dimension;
  if (output.ciphertext.left.length !== 2 * d) return `left has ${output.ciphertext.left.length} words, expected ${2 * d}`;
  if (output.ciphertext.right.length !== 4 * d)
    return `right has ${output.ciphertext.right.length} words, expected ${4 * d}`;
  if (output.opening.priceLevel !== context.priceLevel || output.opening.quantityWh !== context.quantityWh)
    return "opening does not match the requested price level and quantity";
  return null;
}

/**
 * A meter accepts terms only if they follow from its own opening and the counterpart's under the market's rule:
 * the DSO cannot silently change quantity or price.
 */
export function termsFollowFromOpenings(context: BidSessionContext, terms: TradeTerms, counterpart: Opening): boolean {
  if (!context.opening || !context.match) return false;
  const buyOpening = context.side === "buy" ? context.opening : counterpart;
  const sellOpening = context.side === "sell" ? context.opening : counterpart;
  const expected = fixTradeTerms({
    matchId: context.match.matchId,
    buyBidder: context.match.buyBidder,
    sellBidder: context.match.sellBidder,
    buyOpening,
    sellOpening,
    priceLevels: context.market.priceLevels,
    clearingRule: context.market.clearingRule,
  });
  return expected.ok && sameTerms(expected.terms, terms);
}

function isForThisTrade(context: BidSessionContext, event: { bidder: string; matchId: string }): boolean {
  return sameAddress(event.bidder, context.bidder) && context.match?.matchId === event.matchId;
}

const retryDelay = (context: BidSessionContext) =>
  backoffMs(context.failures, context.config.meter.requestRetryBaseMs, context.config.meter.requestRetryMaxMs);

// ---------------------------------------------------------------------------------------------------------------
// The machine.

export const bidSession = setup({
  types: {
    input: {} as BidSessionInput,
    context: {} as BidSessionContext,
    events: {} as BidSessionEvent,
    output: {} as BidSessionOutput,
  },
  actors: {
    createOneTimeIdentity: unprovidedPromise<CreateOneTimeIdentityOutput, CreateOneTimeIdentityInput>(
      "bidSession",
      "createOneTimeIdentity",
    ),
    requestTicket: unprovidedPromise<RequestTicketOutput, RequestTicketInput>("bidSession", "requestTicket"),
    encryptBid: unprovidedPromise<EncryptBidOutput, EncryptBidInput>("bidSession", "encryptBid"),
    signBid: unprovidedPromise<SignBidOutput, SignBidInput>("bidSession", "signBid"),
    submitBid: unprovidedPromise<void, SubmitBidInput>("bidSession", "submitBid"),
    cancelBid: unprovidedPromise<void, CancelBidInput>("bidSession", "cancelBid"),
    sendOpening: unprovidedPromise<void, SendOpeningInput>("bidSession", "sendOpening"),
    verifyCounterpartOpening: unprovidedPromise<VerifyCounterpartOpeningOutput, VerifyCounterpartOpeningInput>(
      "bidSession",
      "verifyCounterpartOpening",
    ),
    reportDispute: unprovidedPromise<void, ReportDisputeInput>("bidSession", "reportDispute"),
    readMeter: unprovidedPromise<ReadMeterOutput, ReadMeterInput>("bidSession", "readMeter"),
    reportReading: unprovidedPromise<void, ReportReadingInput>("bidSession", "reportReading"),
  },
  delays: {
    ticketRetryDelay: ({ context }) => retryDelay(context),
    submitRetryDelay: ({ context }) => retryDelay(context),
    openingRetryDelay: ({ context }) => retryDelay(context),
    tradeStepRetryDelay: ({ context }) => retryDelay(context),
    /** Ticket lifetime plus grace: after it the bid is treated as expired even without the gateway's notice. */
    matchWaitTimeout: ({ context }) =>
      context.config.meter.bidLifetimeSeconds * 1000 + context.config.meter.expiryGraceMs,
    termsTimeout: ({ context }) => context.config.meter.termsTimeoutMs,
    deliveryDuration: ({ context }) => context.config.meter.deliveryDurationMs,
    settlementTimeout: ({ context }) => context.config.meter.settlementTimeoutMs,
  },
  guards: {
    isOwnMatchEvent: ({ context, event }) => {
      const parsed = parseBidSessionEvent(event);
      return parsed?.type === "MATCH.RECEIVED" && isOwnMatch(context, parsed.match);
    },
    isOwnBidNotice: ({ context, event }) => {
      const parsed = parseBidSessionEvent(event);
      return (
        (parsed?.type === "BID.EXPIRED" || parsed?.type === "BID.REJECTED" || parsed?.type === "BID.CANCELLED") &&
        sameAddress(parsed.bidder, context.bidder)
      );
    },
    isOwnCancelCommand: ({ context, event }) => {
      const parsed = parseBidSessionEvent(event);
      return parsed?.type === "BID.CANCEL" && parsed.planId === context.planId;
    },
    isOwnTradeNotice: ({ context, event }) => {
      const parsed = parseBidSessionEvent(event);
      if (parsed?.type === "MATCH.VOIDED" || parsed?.type === "TRADE.DISPUTED") return isForThisTrade(context, parsed);
      if (parsed?.type === "TERMS.RECEIVED") return isForThisTrade(context, { bidder: parsed.bidder, matchId: parsed.terms.matchId });
      if (parsed?.type === "SETTLEMENT.RECEIVED")
        return isForThisTrade(context, { bidder: parsed.bidder, matchId: parsed.settlement.matchId });
      return false;
    },
    cancelRequested: ({ context }) => context.cancelRequested,
    ticketRetriesLeft: ({ context }) => context.failures + 1 < context.config.meter.ticketMaxAttempts,
    submitRetriesLeft: ({ context }) => context.failures + 1 < context.config.meter.submitMaxAttempts,
    tradeStepRetriesLeft: ({ context }) => context.failures + 1 < context.config.meter.tradeStepMaxAttempts,
  },
  actions: {
    /** Records any external event that failed its schema (XState already ignores unknown types). */
    recordIfMalformed: assign(({ context, event }) => {
      if (parseBidSessionEvent(event)) return {};
      const schema = (bidSessionEventSchemas as Record<string, z.ZodType>)[event.type];
      const detail = schema ? describeIssues(schema.safeParse(event).error ?? new z.ZodError([])) : "unknown type";
      return {
        errors: appendError(
          context.errors,
          { kind: "malformedEvent", source: String(event.type), detail },
          context.config.maxRecordedErrors,
        ),
      };
    }),
    countFailure: assign({ failures: ({ context }) => context.failures + 1 }),
    resetFailures: assign({ failures: 0 }),
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
}).createMachine({
  id: "bidSession",
  context: ({ input }) => ({
    ...input,
    bidder: null,
    ticket: null,
    ciphertext: null,
    commitment: null,
    opening: null,
    bidderSignature: null,
    cancelRequested: false,
    match: null,
    terms: null,
    counterpartOpening: null,
    measuredWh: null,
    settlement: null,
    failures: 0,
    ending: null,
    outcome: null,
    errors: [],
  }),
  // Malformed external events end here (state handlers only take well-formed ones) and are recorded.
  on: Object.fromEntries(bidSessionEventTypes.map((type) => [type, { actions: "recordIfMalformed" }])),
  initial: "preparing",
  output: ({ context }) => ({
    type: "BID.SESSION.ENDED",
    sessionId: context.sessionId,
    planId: context.planId,
    attempt: context.attempt,
    bidder: context.bidder,
    outcome: context.outcome ?? { kind: "failed", stage: "identity", reason: "no outcome" },
  }),
  states: {
    // PROTOCOL §4: one-time key → ticket → encryption and commitment → bidder signature.
    preparing: {
      initial: "creatingIdentity",
      on: {
        // Nothing is on chain yet: a cancel ends the session at once.
        "BID.CANCEL": {
          guard: "isOwnCancelCommand",
          target: "cancelled",
          actions: assign({ ending: { kind: "cancelled" } }),
        },
      },
      states: {
        creatingIdentity: {
          invoke: {
            id: "createOneTimeIdentity",
            src: "createOneTimeIdentity",
            input: ({ context }) => ({ sessionId: context.sessionId }),
            onDone: [
              {
                guard: ({ event }) => addressSchema.safeParse(event.output?.bidder).success,
                target: "requestingTicket",
                actions: [
                  assign({ bidder: ({ event }) => event.output.bidder }),
                  enqueueActions(({ context, event, enqueue, self }) => {
                    if (!self._parent) return;
                    const identified: BidSessionIdentified = {
                      type: "BID.SESSION.IDENTIFIED",
                      sessionId: context.sessionId,
                      bidder: event.output.bidder,
                    };
                    enqueue.sendParent(identified);
                  }),
                ],
              },
              {
                target: "#bidSession.failed",
                actions: assign({
                  ending: { kind: "failed", stage: "identity", reason: "createOneTimeIdentity returned no address" },
                }),
              },
            ],
            onError: {
              target: "#bidSession.failed",
              actions: assign({
                ending: ({ event }) => ({ kind: "failed", stage: "identity", reason: describeError(event.error) }),
              }),
            },
          },
        },
        requestingTicket: {
          invoke: {
            id: "requestTicket",
            src: "requestTicket",
            input: ({ context }) => ({
              bidder: context.bidder as Address,
              lifetimeSeconds: context.config.meter.bidLifetimeSeconds,
            }),
            onDone: [
              {
                // The DSO must have signed for this bidder, not another one.
                guard: ({ context, event }) => {
                  const parsed = ticketSchema.safeParse(event.output?.ticket);
                  return parsed.success && sameAddress(parsed.data.bidder, context.bidder);
                },
                target: "encrypting",
                actions: [assign({ ticket: ({ event }) => event.output.ticket }), "resetFailures"],
              },
              {
                target: "#bidSession.failed",
                actions: assign({
                  ending: { kind: "failed", stage: "ticket", reason: "ticket is malformed or for another bidder" },
                }),
              },
            ],
            onError: [
              {
                guard: "ticketRetriesLeft",
                target: "ticketBackoff",
                actions: [
                  "countFailure",
                  assign({
                    errors: ({ context, event }) =>
                      appendError(
                        context.errors,
                        { kind: "effectFailed", source: "requestTicket", detail: describeError(event.error) },
                        context.config.maxRecordedErrors,
                      ),
                  }),
                ],
              },
              {
                target: "#bidSession.failed",
                actions: assign({
                  ending: ({ event }) => ({ kind: "failed", stage: "ticket", reason: describeError(event.error) }),
                }),
              },
            ],
          },
        },
        ticketBackoff: { after: { ticketRetryDelay: "requestingTicket" } },
        encrypting: {
          invoke: {
            id: "encryptBid",
            src: "encryptBid",
            input: ({ context }) => ({
              bidder: context.bidder as Address,
              side: context.side,
              priceLevel: context.priceLevel,
              quantityWh: context.quantityWh,
            }),
            onDone: [
              {
                guard: ({ context, event }) => encryptionIsConsistent(context, event.output) === null,
                target: "signing",
                actions: assign({
                  ciphertext: ({ event }) => event.output.ciphertext,
                  commitment: ({ event }) => event.output.commitment,
                  opening: ({ event }) => event.output.opening,
                }),
              },
              {
                target: "#bidSession.failed",
                actions: assign({
                  ending: ({ context, event }) => ({
                    kind: "failed",
                    stage: "encryption",
                    reason: encryptionIsConsistent(context, event.output) ?? "inconsistent encryption",
                  }),
                }),
              },
            ],
            onError: {
              target: "#bidSession.failed",
              actions: assign({
                ending: ({ event }) => ({ kind: "failed", stage: "encryption", reason: describeError(event.error) }),
              }),
            },
          },
        },
        signing: {
          invoke: {
            id: "signBid",
            src: "signBid",
            input: ({ context }) => ({
              bidder: context.bidder as Address,
              side: context.side,
              ciphertext: context.ciphertext as BidCiphertext,
              commitment: context.commitment as Hex,
            }),
            onDone: [
              {
                guard: ({ event }) => hexSchema.safeParse(event.output?.bidderSignature).success,
                target: "#bidSession.onChain",
                actions: assign({ bidderSignature: ({ event }) => event.output.bidderSignature }),
              },
              {
                target: "#bidSession.failed",
                actions: assign({ ending: { kind: "failed", stage: "signing", reason: "signature is not hex" } }),
              },
            ],
            onError: {
              target: "#bidSession.failed",
              actions: assign({
                ending: ({ event }) => ({ kind: "failed", stage: "signing", reason: describeError(event.error) }),
              }),
            },
          },
        },
      },
    },

    // PROTOCOL §5 bidding: the gateway places the bid; we wait for a match, an expiry, a rejection or our cancel.
    onChain: {
      initial: "submitting",
      after: {
        matchWaitTimeout: { target: "expired", actions: assign({ ending: { kind: "expired" } }) },
      },
      on: {
        // A match wins over a cancel in flight: the chain decided first.
        "MATCH.RECEIVED": {
          guard: "isOwnMatchEvent",
          target: "trading",
          actions: assign({
            match: ({ event }) => (event.type === "MATCH.RECEIVED" ? event.match : null),
            failures: 0,
          }),
        },
        "BID.EXPIRED": { guard: "isOwnBidNotice", target: "expired", actions: assign({ ending: { kind: "expired" } }) },
        "BID.REJECTED": {
          guard: "isOwnBidNotice",
          target: "rejected",
          actions: assign({
            ending: ({ event }) => ({ kind: "rejected", reason: event.type === "BID.REJECTED" ? event.reason : "" }),
          }),
        },
      },
      states: {
        submitting: {
          on: { "BID.CANCEL": { guard: "isOwnCancelCommand", actions: assign({ cancelRequested: true }) } },
          invoke: {
            id: "submitBid",
            src: "submitBid",
            input: ({ context }) => ({
              bid: {
                bidder: context.bidder as Address,
                side: context.side,
                ciphertext: context.ciphertext as BidCiphertext,
                commitment: context.commitment as Hex,
                ticket: context.ticket as Ticket,
                bidderSignature: context.bidderSignature as Hex,
              },
            }),
            onDone: [
              { guard: "cancelRequested", target: "cancelling", actions: "resetFailures" },
              { target: "awaitingMatch", actions: "resetFailures" },
            ],
            onError: [
              {
                guard: "submitRetriesLeft",
                target: "submitBackoff",
                actions: [
                  "countFailure",
                  assign({
                    errors: ({ context, event }) =>
                      appendError(
                        context.errors,
                        { kind: "effectFailed", source: "submitBid", detail: describeError(event.error) },
                        context.config.maxRecordedErrors,
                      ),
                  }),
                ],
              },
              {
                target: "#bidSession.failed",
                actions: assign({
                  ending: ({ event }) => ({ kind: "failed", stage: "submission", reason: describeError(event.error) }),
                }),
              },
            ],
          },
        },
        submitBackoff: {
          // The failed submission may still have reached the queue: a cancel must go through the chain.
          on: { "BID.CANCEL": { guard: "isOwnCancelCommand", target: "cancelling" } },
          after: { submitRetryDelay: "submitting" },
        },
        awaitingMatch: {
          on: { "BID.CANCEL": { guard: "isOwnCancelCommand", target: "cancelling" } },
        },
        cancelling: {
          invoke: {
            id: "cancelBid",
            src: "cancelBid",
            input: ({ context }) => ({ bidder: context.bidder as Address }),
            onDone: "awaitingCancellation",
            onError: {
              target: "awaitingMatch",
              actions: assign({
                errors: ({ context, event }) =>
                  appendError(
                    context.errors,
                    { kind: "effectFailed", source: "cancelBid", detail: describeError(event.error) },
                    context.config.maxRecordedErrors,
                  ),
              }),
            },
          },
        },
        awaitingCancellation: {
          on: {
            "BID.CANCELLED": {
              guard: "isOwnBidNotice",
              target: "#bidSession.cancelled",
              actions: assign({ ending: { kind: "cancelled" } }),
            },
          },
        },
      },
    },

    // PROTOCOL §5 trading, steps 2 (opening), 4 (verify counterpart), 5 (void), 6 (delivery, reading), 7 (settled).
    trading: {
      initial: "opening",
      on: {
        "MATCH.VOIDED": {
          guard: "isOwnTradeNotice",
          target: "voided",
          actions: assign({
            ending: ({ context, event }) =>
              event.type === "MATCH.VOIDED"
                ? {
                    kind: "voided",
                    matchId: event.matchId,
                    reason: event.reason,
                    blamedSelf: event.blamedBidders.some((blamed) => sameAddress(blamed, context.bidder)),
                  }
                : null,
          }),
        },
        "TRADE.DISPUTED": {
          guard: "isOwnTradeNotice",
          target: "disputed",
          actions: assign({
            ending: ({ event }) =>
              event.type === "TRADE.DISPUTED"
                ? { kind: "disputed", matchId: event.matchId, reason: event.reason, raisedBy: "counterpart" }
                : null,
          }),
        },
      },
      states: {
        opening: {
          initial: "sendingOpening",
          after: {
            termsTimeout: {
              target: "#bidSession.voided",
              actions: assign({
                ending: ({ context }) => ({
                  kind: "voided",
                  matchId: context.match?.matchId ?? "",
                  reason: "termsTimeout",
                  blamedSelf: false,
                }),
              }),
            },
          },
          on: {
            "TERMS.RECEIVED": {
              guard: "isOwnTradeNotice",
              target: "verifying",
              actions: assign({
                terms: ({ event }) => (event.type === "TERMS.RECEIVED" ? event.terms : null),
                counterpartOpening: ({ event }) => (event.type === "TERMS.RECEIVED" ? event.counterpartOpening : null),
                failures: 0,
              }),
            },
          },
          states: {
            sendingOpening: {
              invoke: {
                id: "sendOpening",
                src: "sendOpening",
                input: ({ context }) => ({
                  matchId: (context.match as Match).matchId,
                  bidder: context.bidder as Address,
                  side: ownSide(context),
                  opening: context.opening as Opening,
                }),
                onDone: "awaitingTerms",
                // Retried until the terms timeout: the DSO may not have seen the match yet.
                onError: {
                  target: "openingBackoff",
                  actions: [
                    "countFailure",
                    assign({
                      errors: ({ context, event }) =>
                        appendError(
                          context.errors,
                          { kind: "effectFailed", source: "sendOpening", detail: describeError(event.error) },
                          context.config.maxRecordedErrors,
                        ),
                    }),
                  ],
                },
              },
            },
            openingBackoff: { after: { openingRetryDelay: "sendingOpening" } },
            awaitingTerms: {},
          },
        },
        verifying: {
          invoke: {
            id: "verifyCounterpartOpening",
            src: "verifyCounterpartOpening",
            input: ({ context }) => {
              const match = context.match as Match;
              const counterpart = counterpartOf(context, match);
              return {
                matchId: match.matchId,
                counterpartBidder: counterpart.bidder,
                counterpartSide: counterpart.side,
                opening: context.counterpartOpening as Opening,
              };
            },
            onDone: [
              {
                guard: ({ context, event }) =>
                  event.output?.valid === true &&
                  context.terms !== null &&
                  context.counterpartOpening !== null &&
                  termsFollowFromOpenings(context, context.terms, context.counterpartOpening),
                target: "delivering",
                actions: "resetFailures",
              },
              {
                target: "reportingDispute",
                actions: assign({
                  failures: 0,
                  ending: ({ context, event }) => ({
                    kind: "disputed",
                    matchId: context.match?.matchId ?? "",
                    reason:
                      event.output?.valid === true
                        ? "termsDoNotFollowFromOpenings"
                        : `counterpartOpeningInvalid${event.output?.reason ? `: ${event.output.reason}` : ""}`,
                    raisedBy: "self",
                  }),
                }),
              },
            ],
            onError: [
              { guard: "tradeStepRetriesLeft", target: "verifyBackoff", actions: "countFailure" },
              {
                // We could not check the counterpart's opening at all: we do not accept the trade unverified.
                target: "reportingDispute",
                actions: assign({
                  failures: 0,
                  ending: ({ context, event }) => ({
                    kind: "disputed",
                    matchId: context.match?.matchId ?? "",
                    reason: `counterpartUnverifiable: ${describeError(event.error)}`,
                    raisedBy: "self",
                  }),
                }),
              },
            ],
          },
        },
        verifyBackoff: { after: { tradeStepRetryDelay: "verifying" } },
        reportingDispute: {
          invoke: {
            id: "reportDispute",
            src: "reportDispute",
            input: ({ context }) => ({
              matchId: (context.match as Match).matchId,
              bidder: context.bidder as Address,
              reason: context.ending?.kind === "disputed" ? context.ending.reason : "dispute",
            }),
            onDone: "#bidSession.disputed",
            onError: [
              { guard: "tradeStepRetriesLeft", target: "disputeBackoff", actions: "countFailure" },
              {
                // Not reported, but the trade is still not accepted by this meter.
                target: "#bidSession.disputed",
                actions: assign({
                  errors: ({ context, event }) =>
                    appendError(
                      context.errors,
                      { kind: "effectFailed", source: "reportDispute", detail: describeError(event.error) },
                      context.config.maxRecordedErrors,
                    ),
                }),
              },
            ],
          },
        },
        disputeBackoff: { after: { tradeStepRetryDelay: "reportingDispute" } },
        delivering: { after: { deliveryDuration: "measuring" } },
        measuring: {
          invoke: {
            id: "readMeter",
            src: "readMeter",
            input: ({ context }) => ({
              matchId: (context.match as Match).matchId,
              bidder: context.bidder as Address,
              side: context.side,
              quantityWh: (context.terms as TradeTerms).quantityWh,
            }),
            onDone: [
              {
                guard: ({ event }) => z.number().int().nonnegative().safeParse(event.output?.measuredWh).success,
                target: "reportingReading",
                actions: [assign({ measuredWh: ({ event }) => event.output.measuredWh }), "resetFailures"],
              },
              {
                target: "awaitingSettlement",
                actions: assign({
                  errors: ({ context }) =>
                    appendError(
                      context.errors,
                      { kind: "invalidOutput", source: "readMeter", detail: "measuredWh is not a whole Wh" },
                      context.config.maxRecordedErrors,
                    ),
                }),
              },
            ],
            onError: [
              { guard: "tradeStepRetriesLeft", target: "measureBackoff", actions: "countFailure" },
              // No reading: the DSO settles with what it has (PROTOCOL §5 step 7; docs/machines.md).
              { target: "awaitingSettlement", actions: "resetFailures" },
            ],
          },
        },
        measureBackoff: { after: { tradeStepRetryDelay: "measuring" } },
        reportingReading: {
          invoke: {
            id: "reportReading",
            src: "reportReading",
            input: ({ context }) => ({
              matchId: (context.match as Match).matchId,
              bidder: context.bidder as Address,
              side: context.side,
              measuredWh: context.measuredWh ?? 0,
            }),
            onDone: { target: "awaitingSettlement", actions: "resetFailures" },
            onError: [
              { guard: "tradeStepRetriesLeft", target: "readingBackoff", actions: "countFailure" },
              {
                target: "awaitingSettlement",
                actions: [
                  "resetFailures",
                  assign({
                    errors: ({ context, event }) =>
                      appendError(
                        context.errors,
                        { kind: "effectFailed", source: "reportReading", detail: describeError(event.error) },
                        context.config.maxRecordedErrors,
                      ),
                  }),
                ],
              },
            ],
          },
        },
        readingBackoff: { after: { tradeStepRetryDelay: "reportingReading" } },
        awaitingSettlement: {
          after: {
            settlementTimeout: {
              target: "#bidSession.settled",
              actions: assign({ settlement: null }),
            },
          },
          on: {
            "SETTLEMENT.RECEIVED": {
              guard: "isOwnTradeNotice",
              target: "#bidSession.settled",
              actions: assign({
                settlement: ({ event }) => (event.type === "SETTLEMENT.RECEIVED" ? event.settlement : null),
              }),
            },
          },
        },
      },
    },

    settled: {
      type: "final",
      entry: [
        assign({
          ending: ({ context }) => {
            const filledWh = context.terms?.quantityWh ?? 0;
            return {
              kind: "settled",
              matchId: context.match?.matchId ?? "",
              filledWh,
              remainderWh: Math.max(0, context.quantityWh - filledWh),
              measuredWh: context.measuredWh,
              settlement: context.settlement,
            };
          },
        }),
        "finish",
      ],
    },
    voided: { type: "final", entry: "finish" },
    disputed: { type: "final", entry: "finish" },
    expired: { type: "final", entry: "finish" },
    cancelled: { type: "final", entry: "finish" },
    rejected: { type: "final", entry: "finish" },
    failed: { type: "final", entry: "finish" },
  },
});

export type BidSessionMachine = typeof bidSession;
export type BidSessionSnapshot = SnapshotFrom<typeof bidSession>;
export type BidSessionImplementations = MachineImplementationsFrom<typeof bidSession>;

/** Every effect a bid session needs, as plain async functions (see docs/machines.md#bidsession). */
export type BidSessionEffects = {
  [K in keyof BidSessionActors]: BidSessionActors[K] extends PromiseActorLogic<infer TOutput, infer TInput>
    ? Effect<TInput, TOutput>
    : never;
};

/** Provides every effect at once, so a runtime cannot forget one (the type requires all of them). */
export function provideBidSession(effects: BidSessionEffects): BidSessionMachine {
  return bidSession.provide({
    actors: {
      createOneTimeIdentity: promiseEffect(effects.createOneTimeIdentity),
      requestTicket: promiseEffect(effects.requestTicket),
      encryptBid: promiseEffect(effects.encryptBid),
      signBid: promiseEffect(effects.signBid),
      submitBid: promiseEffect(effects.submitBid),
      cancelBid: promiseEffect(effects.cancelBid),
      sendOpening: promiseEffect(effects.sendOpening),
      verifyCounterpartOpening: promiseEffect(effects.verifyCounterpartOpening),
      reportDispute: promiseEffect(effects.reportDispute),
      readMeter: promiseEffect(effects.readMeter),
      reportReading: promiseEffect(effects.reportReading),
    },
  });
}
