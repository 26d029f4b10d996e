// The DSO's handling of one match, from the openings to the double-entry settlement (PROTOCOL §5 trading,
// steps 2–7). Spawned by the dso machine per match, or resumed from the database after a restart.
import { and, assign, enqueueActions, setup } from "xstate";
import type { MachineImplementationsFrom, PromiseActorLogic, SnapshotFrom } from "xstate";
import { z } from "zod";
import { backoffMs } from "./config.ts";
import type { MachineConfig } from "./config.ts";
import { fixTradeTerms, settleTrade } from "./tradeTerms.ts";
import {
  addressSchema,
  appendError,
  describeError,
  describeIssues,
  matchSchema,
  openingSchema,
  sameAddress,
} from "./types.ts";
import type {
  Address,
  MachineErrorRecord,
  MarketDescription,
  Match,
  Opening,
  Settlement,
  Side,
  TradeTerms,
  VoidReason,
} from "./types.ts";
import { promiseEffect, unprovidedPromise } from "./effects.ts";
import type { Effect } from "./effects.ts";

// ---------------------------------------------------------------------------------------------------------------
// Events (routed by the dso machine by matchId).

const requestId = () => z.string().min(1).max(256);
const messageId = () => z.string().min(1).max(256);

export const tradeSettlementEventSchemas = {
  /** JetStream (matches stream): a (re)delivery of this match; its message is acked once the match is recorded. */
  "MATCH.RECEIVED": z.object({ type: z.literal("MATCH.RECEIVED"), messageId: messageId(), match: matchSchema }),
  /** Request (a meter, decrypted and signature-checked by the runtime): a bid's opening. Answered by reply. */
  "OPENING.RECEIVED": z.object({
    type: z.literal("OPENING.RECEIVED"),
    requestId: requestId(),
    matchId: z.string().min(1),
    bidder: addressSchema,
    opening: openingSchema,
  }),
  /** Request (a meter): the counterpart's opening or the terms did not verify. Answered by reply. */
  "DISPUTE.RECEIVED": z.object({
    type: z.literal("DISPUTE.RECEIVED"),
    requestId: requestId(),
    matchId: z.string().min(1),
    bidder: addressSchema,
    reason: z.string().max(512),
  }),
  /** JetStream (readings stream): a meter's measured energy for the trade; acked when the trade is closed. */
  "READING.RECEIVED": z.object({
    type: z.literal("READING.RECEIVED"),
    messageId: messageId(),
    matchId: z.string().min(1),
    bidder: addressSchema,
    measuredWh: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  }),
} as const;

type Schemas = typeof tradeSettlementEventSchemas;
export type TradeSettlementEvent = { [K in keyof Schemas]: z.infer<Schemas[K]> }[keyof Schemas];
export type TradeSettlementEventType = TradeSettlementEvent["type"];
export const tradeSettlementEventTypes = Object.keys(tradeSettlementEventSchemas) as TradeSettlementEventType[];

export function parseTradeSettlementEvent(event: { type: string }): TradeSettlementEvent | null {
  const schema = (tradeSettlementEventSchemas as Record<string, z.ZodType<TradeSettlementEvent>>)[event.type];
  if (!schema) return null;
  const parsed = schema.safeParse(event);
  return parsed.success ? parsed.data : null;
}

// ---------------------------------------------------------------------------------------------------------------
// Persistent record and replies.

export type TradeStage = "awaitingOpenings" | "termsFixed" | "settled" | "voided" | "disputed";

export type TradeResolution =
  | { kind: "voided"; reason: VoidReason; blamedBidders: Address[] }
  | { kind: "disputed"; reason: string; raisedBy: Address };

/** One row per match in the DSO's database (unique on `matchId`); `closed` once the outcome was published. */
export type TradeRecord = {
  matchId: string;
  buyBidder: Address;
  sellBidder: Address;
  stage: TradeStage;
  closed: boolean;
  buyOpening: Opening | null;
  sellOpening: Opening | null;
  terms: TradeTerms | null;
  settlement: Settlement | null;
  resolution: TradeResolution | null;
};

const tradeRecordSchema: z.ZodType<TradeRecord> = z.object({
  matchId: z.string().min(1),
  buyBidder: addressSchema,
  sellBidder: addressSchema,
  stage: z.enum(["awaitingOpenings", "termsFixed", "settled", "voided", "disputed"]),
  closed: z.boolean(),
  buyOpening: openingSchema.nullable(),
  sellOpening: openingSchema.nullable(),
  terms: z.custom<TradeTerms>().nullable(),
  settlement: z.custom<Settlement>().nullable(),
  resolution: z.custom<TradeResolution>().nullable(),
}) as z.ZodType<TradeRecord>;
export function isTradeRecord(value: unknown): value is TradeRecord {
  return tradeRecordSchema.safeParse(value).success;
}

/** The answer to a request (enrolment, ticket, opening, dispute); the runtime sends it on the request's reply subject. */
export type RequestReply =
  | { status: "ok"; body: ReplyBody }
  | { status: "error"; reason: string };
export type ReplyBody =
  | { kind: "enrolment"; sealedEnrolment: string; market: MarketDescription }
  | { kind: "ticket"; ticket: { bidder: Address; notAfter: number; signature: `0x${string}` } }
  | { kind: "openingAccepted" }
  | { kind: "disputeRecorded" };
export type ReplyToRequestParams = { requestId: string; reply: RequestReply };
export type AckMessagesParams = { messageIds: string[] };

/** Published to both meters (settlements stream); the meter runtime turns it into its own notice event. */
export type TradeOutcomeNotice = { kind: "settled"; settlement: Settlement } | TradeResolution;

// ---------------------------------------------------------------------------------------------------------------
// Effects.

export type RegisterMatchInput = { match: Match };
/** Insert-if-absent (unique on matchId); returns the stored row, new or existing. */
export type RegisterMatchOutput = { record: TradeRecord; created: boolean };
export type SaveTradeInput = { record: TradeRecord };
export type VerifyOpeningInput = { matchId: string; bidder: Address; side: Side; opening: Opening };
/** Re-encrypts with `msk` and compares with the bid's on-chain ciphertexts and commitment (PROTOCOL §5 step 3). */
export type VerifyOpeningOutput = { valid: boolean; reason?: string };
export type SendTermsInput = {
  matchId: string;
  bidder: Address;
  side: Side;
  terms: TradeTerms;
  counterpartOpening: Opening;
};
/** One database transaction: the ledger lines plus the record at stage `settled`; idempotent per matchId. */
export type WriteSettlementInput = { record: TradeRecord };
export type PublishTradeOutcomeInput = { matchId: string; recipients: Address[]; outcome: TradeOutcomeNotice };

export type TradeSettlementActors = {
  registerMatch: PromiseActorLogic<RegisterMatchOutput, RegisterMatchInput>;
  saveTrade: PromiseActorLogic<void, SaveTradeInput>;
  verifyOpening: PromiseActorLogic<VerifyOpeningOutput, VerifyOpeningInput>;
  sendTerms: PromiseActorLogic<void, SendTermsInput>;
  writeSettlement: PromiseActorLogic<void, WriteSettlementInput>;
  publishTradeOutcome: PromiseActorLogic<void, PublishTradeOutcomeInput>;
};
/** Fire-and-forget effects: they must not throw (log and drop instead). */
export type TradeSettlementActions = {
  replyToRequest: (params: ReplyToRequestParams) => void;
  ackMessages: (params: AckMessagesParams) => void;
};
export const tradeSettlementActorNames = [
  "registerMatch",
  "saveTrade",
  "verifyOpening",
  "sendTerms",
  "writeSettlement",
  "publishTradeOutcome",
] as const satisfies readonly (keyof TradeSettlementActors)[];
export const tradeSettlementActionNames = ["replyToRequest", "ackMessages"] as const;
export const tradeSettlementDelayNames = ["openingTimeout", "disputeWindow", "readingTimeout", "retryDelay"] as const;

// ---------------------------------------------------------------------------------------------------------------
// Input, context, output.

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
  verification: { buy: VerifyOpeningOutput | null; sell: VerifyOpeningOutput | null };
  termsSent: { buy: boolean; sell: boolean };
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
  settlement: Settlement | null;
  resolution: TradeResolution | null;
};
export type TradeSettlementOutput = TradeEnded;

// ---------------------------------------------------------------------------------------------------------------
// Pure helpers.

function partyOf(record: TradeRecord, bidder: string): Side | null {
  if (sameAddress(record.buyBidder, bidder)) return "buy";
  if (sameAddress(record.sellBidder, bidder)) return "sell";
  return null;
}

function sameOpening(a: Opening | null, b: Opening): boolean {
  return (
    a !== null &&
    a.priceLevel === b.priceLevel &&
    a.quantityWh === b.quantityWh &&
    a.salt.toLowerCase() === b.salt.toLowerCase() &&
    a.alpha === b.alpha &&
    a.beta === b.beta
  );
}

/** Decision after both verifications (PROTOCOL §5 steps 3 and 5). */
export function decideOpenings(
  record: TradeRecord,
  verification: { buy: VerifyOpeningOutput; sell: VerifyOpeningOutput },
  market: MarketDescription,
): { terms: TradeTerms } | TradeResolution {
  const invalid: Address[] = [];
  if (verification.buy.valid !== true) invalid.push(record.buyBidder);
  if (verification.sell.valid !== true) invalid.push(record.sellBidder);
  if (invalid.length > 0 || !record.buyOpening || !record.sellOpening)
    return { kind: "voided", reason: "openingInvalid", blamedBidders: invalid };
  const fixed = fixTradeTerms({
    matchId: record.matchId,
    buyBidder: record.buyBidder,
    sellBidder: record.sellBidder,
    buyOpening: record.buyOpening,
    sellOpening: record.sellOpening,
    priceLevels: market.priceLevels,
    clearingRule: market.clearingRule,
  });
  if (fixed.ok) return { terms: fixed.terms };
  switch (fixed.reason) {
    case "buyLevelOutOfRange":
      return { kind: "voided", reason: "openingInvalid", blamedBidders: [record.buyBidder] };
    case "sellLevelOutOfRange":
      return { kind: "voided", reason: "openingInvalid", blamedBidders: [record.sellBidder] };
    case "levelOrder":
      // Both openings are genuine, yet the chain matched buy < sell: nobody to blame among the meters.
      return { kind: "voided", reason: "levelOrder", blamedBidders: [] };
  }
}

function missingOpeners(record: TradeRecord): Address[] {
  const missing: Address[] = [];
  if (!record.buyOpening) missing.push(record.buyBidder);
  if (!record.sellOpening) missing.push(record.sellBidder);
  return missing;
}

function withError(context: TradeSettlementContext, entry: MachineErrorRecord): MachineErrorRecord[] {
  return appendError(context.errors, entry, context.config.maxRecordedErrors);
}

/** Params of the `recordEffectFailure` action for an actor's error event. */
function failureOf(source: string) {
  return { type: "recordEffectFailure" as const, params: ({ event }: { event: { error?: unknown } }) => ({ source, error: event.error }) };
}

/** Reply to an opening request while the openings are being collected (first opening of each party stands). */
export function openingReply(record: TradeRecord, event: { matchId: string; bidder: string; opening: Opening }): RequestReply {
  const side = event.matchId === record.matchId ? partyOf(record, event.bidder) : null;
  if (side === null) return { status: "error", reason: "notAParty" };
  const stored = side === "buy" ? record.buyOpening : record.sellOpening;
  if (stored === null || sameOpening(stored, event.opening)) return { status: "ok", body: { kind: "openingAccepted" } };
  return { status: "error", reason: "alreadyOpened" };
}

/** Reply to an opening request after the opening window: only an identical resend is acknowledged. */
export function lateOpeningReply(record: TradeRecord, event: { matchId: string; bidder: string; opening: Opening }): RequestReply {
  const side = event.matchId === record.matchId ? partyOf(record, event.bidder) : null;
  if (side === null) return { status: "error", reason: "notAParty" };
  const stored = side === "buy" ? record.buyOpening : record.sellOpening;
  return sameOpening(stored, event.opening)
    ? { status: "ok", body: { kind: "openingAccepted" } }
    : { status: "error", reason: "openingWindowClosed" };
}

/** Why a dispute is refused outside the dispute window. */
export function disputeRefusal(record: TradeRecord, event: { matchId: string; bidder: string }): RequestReply {
  if (event.matchId !== record.matchId || partyOf(record, event.bidder) === null) return { status: "error", reason: "notAParty" };
  return { status: "error", reason: record.terms === null ? "noTermsYet" : "disputeWindowClosed" };
}

function freshRecord(match: Match): TradeRecord {
  return {
    matchId: match.matchId,
    buyBidder: match.buyBidder,
    sellBidder: match.sellBidder,
    stage: "awaitingOpenings",
    closed: false,
    buyOpening: null,
    sellOpening: null,
    terms: null,
    settlement: null,
    resolution: null,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The machine.

export const tradeSettlementSetup = setup({
  types: {
    input: {} as TradeSettlementInput,
    context: {} as TradeSettlementContext,
    events: {} as TradeSettlementEvent,
    output: {} as TradeSettlementOutput,
  },
  actors: {
    registerMatch: unprovidedPromise<RegisterMatchOutput, RegisterMatchInput>("tradeSettlement", "registerMatch"),
    saveTrade: unprovidedPromise<void, SaveTradeInput>("tradeSettlement", "saveTrade"),
    verifyOpening: unprovidedPromise<VerifyOpeningOutput, VerifyOpeningInput>("tradeSettlement", "verifyOpening"),
    sendTerms: unprovidedPromise<void, SendTermsInput>("tradeSettlement", "sendTerms"),
    writeSettlement: unprovidedPromise<void, WriteSettlementInput>("tradeSettlement", "writeSettlement"),
    publishTradeOutcome: unprovidedPromise<void, PublishTradeOutcomeInput>("tradeSettlement", "publishTradeOutcome"),
  },
  delays: {
    openingTimeout: ({ context }) => context.config.dso.openingTimeoutMs,
    disputeWindow: ({ context }) => context.config.dso.disputeWindowMs,
    readingTimeout: ({ context }) => context.config.dso.readingTimeoutMs,
    retryDelay: ({ context }) => backoffMs(context.failures, context.config.dso.retryBaseMs, context.config.dso.retryMaxMs),
  },
  guards: {
    isWellFormed: ({ event }) => parseTradeSettlementEvent(event) !== null,
    isRecorded: ({ context }) => context.recorded,
    resumeAt: ({ context }, params: { stages: TradeStage[]; closed?: boolean }) =>
      params.stages.includes(context.record.stage) && (params.closed === undefined || context.record.closed === params.closed),
    bothOpened: ({ context }) => context.record.buyOpening !== null && context.record.sellOpening !== null,
    bothVerified: ({ context }) => context.verification.buy !== null && context.verification.sell !== null,
    bothTermsSent: ({ context }) => context.termsSent.buy && context.termsSent.sell,
    bothReadings: ({ context }) => context.readings.buyWh !== null && context.readings.sellWh !== null,
    isPartyDispute: ({ context, event }) => {
      const parsed = parseTradeSettlementEvent(event);
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
    recordIfMalformed: assign(({ context, event }) => {
      if (parseTradeSettlementEvent(event)) return {};
      const schema = (tradeSettlementEventSchemas as Record<string, z.ZodType>)[event.type];
      const result = schema?.safeParse(event);
      return {
        errors: withError(context, {
          kind: "malformedEvent",
          source: String(event.type),
          detail: result && !result.success ? describeIssues(result.error) : "unknown type",
        }),
      };
    }),
    recordEffectFailure: assign(({ context }, params: { source: string; error: unknown }) => ({
      failures: context.failures + 1,
      errors: withError(context, { kind: "effectFailed", source: params.source, detail: describeError(params.error) }),
    })),
    /** A redelivered match before the record exists: ack it once recorded. */
    holdMatchAck: assign(({ context, event }) => {
      const parsed = parseTradeSettlementEvent(event);
      if (parsed?.type !== "MATCH.RECEIVED" || parsed.match.matchId !== context.record.matchId) return {};
      return { pendingMatchAcks: [...context.pendingMatchAcks, parsed.messageId] };
    }),
    storeOpening: assign(({ context, event }) => {
      const parsed = parseTradeSettlementEvent(event);
      if (parsed?.type !== "OPENING.RECEIVED" || parsed.matchId !== context.record.matchId) return {};
      const side = partyOf(context.record, parsed.bidder);
      if (side === "buy" && context.record.buyOpening === null)
        return { record: { ...context.record, buyOpening: parsed.opening } };
      if (side === "sell" && context.record.sellOpening === null)
        return { record: { ...context.record, sellOpening: parsed.opening } };
      return {};
    }),
    storeDispute: assign(({ context, event }) => {
      const parsed = parseTradeSettlementEvent(event);
      if (parsed?.type !== "DISPUTE.RECEIVED") return {};
      return {
        record: { ...context.record, resolution: { kind: "disputed", reason: parsed.reason, raisedBy: parsed.bidder } },
      };
    }),
    /** Keeps the first reading per party (readings are idempotent by party); every delivery is acked at close. */
    noteReading: assign(({ context, event }) => {
      const parsed = parseTradeSettlementEvent(event);
      if (parsed?.type !== "READING.RECEIVED" || parsed.matchId !== context.record.matchId) return {};
      const side = partyOf(context.record, parsed.bidder);
      if (side === null)
        return {
          readingMessageIds: [...context.readingMessageIds, parsed.messageId],
          errors: withError(context, { kind: "rejected", source: "READING.RECEIVED", detail: `not a party: ${parsed.bidder}` }),
        };
      const key = side === "buy" ? "buyWh" : "sellWh";
      return {
        readingMessageIds: [...context.readingMessageIds, parsed.messageId],
        readings: context.readings[key] === null ? { ...context.readings, [key]: parsed.measuredWh } : context.readings,
      };
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

/** Final-state entry: ack the match and reading deliveries still held (the outcome is durable by now). */
/** Before the match is recorded an opening is "not known yet" (retryable), in every state that records it. */
const replyUnknownMatch = tradeSettlementSetup.enqueueActions(({ event, enqueue }) => {
  if (event.type !== "OPENING.RECEIVED") return;
  enqueue({ type: "replyToRequest", params: { requestId: event.requestId, reply: { status: "error", reason: "unknownMatch" } } });
});

const ackRemaining = tradeSettlementSetup.enqueueActions(({ context, enqueue }) => {
  const messageIds = [...context.pendingMatchAcks, ...context.readingMessageIds];
  if (messageIds.length > 0) enqueue({ type: "ackMessages", params: { messageIds } });
});

export const tradeSettlement = tradeSettlementSetup.createMachine({
  id: "tradeSettlement",
  context: ({ input }) => ({
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
    verification: { buy: null, sell: null },
    termsSent: { buy: false, sell: false },
    disputeWindowClosed: false,
    failures: 0,
    ended: null,
    errors: [],
  }),
  output: ({ context }) => ({
    type: "TRADE.ENDED",
    matchId: context.record.matchId,
    stage: context.ended ?? "alreadyClosed",
    settlement: context.record.settlement,
    resolution: context.record.resolution,
  }),
  on: {
    ...Object.fromEntries(tradeSettlementEventTypes.map((type) => [type, { actions: "recordIfMalformed" }])),
    "MATCH.RECEIVED": [
      {
        guard: and(["isWellFormed", "isRecorded"]),
        actions: { type: "ackMessages", params: ({ event }) => ({ messageIds: [event.messageId] }) },
      },
      { guard: "isWellFormed", actions: "holdMatchAck" },
      { actions: "recordIfMalformed" },
    ],
    "OPENING.RECEIVED": [
      {
        guard: "isWellFormed",
        actions: {
          type: "replyToRequest",
          params: ({ context, event }) => ({ requestId: event.requestId, reply: lateOpeningReply(context.record, event) }),
        },
      },
      { actions: "recordIfMalformed" },
    ],
    "DISPUTE.RECEIVED": [
      {
        guard: "isWellFormed",
        actions: {
          type: "replyToRequest",
          params: ({ context, event }) => ({ requestId: event.requestId, reply: disputeRefusal(context.record, event) }),
        },
      },
      { actions: "recordIfMalformed" },
    ],
    "READING.RECEIVED": [{ guard: "isWellFormed", actions: "noteReading" }, { actions: "recordIfMalformed" }],
  },
  initial: "starting",
  states: {
    // A resumed trade continues where its stored stage says (DSO restart, PROTOCOL §6 "no … lost").
    starting: {
      always: [
        { guard: ({ context }) => !context.recorded, target: "registering" },
        { guard: { type: "resumeAt", params: { stages: ["awaitingOpenings"], closed: false } }, target: "awaitingOpenings" },
        { guard: { type: "resumeAt", params: { stages: ["termsFixed"], closed: false } }, target: "afterTerms" },
        {
          guard: { type: "resumeAt", params: { stages: ["settled", "voided", "disputed"], closed: false } },
          target: "publishingOutcome",
        },
        { target: "alreadyClosed" },
      ],
    },
    // Until the match is recorded, an opening is "not known yet" (retryable), not "too late": the meters often
    // hear of the match before the DSO has recorded it.
    registering: {
      on: {
        "OPENING.RECEIVED": [{ guard: "isWellFormed", actions: replyUnknownMatch }, { actions: "recordIfMalformed" }],
      },
      invoke: {
        id: "registerMatch",
        src: "registerMatch",
        input: ({ context }) => ({
          match: { matchId: context.record.matchId, buyBidder: context.record.buyBidder, sellBidder: context.record.sellBidder },
        }),
        onDone: [
          {
            // An existing row (redelivered match after a restart): continue from it, never start over.
            guard: ({ context, event }) =>
              isTradeRecord(event.output?.record) && event.output.record.matchId === context.record.matchId,
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
            actions: assign({
              failures: ({ context }) => context.failures + 1,
              errors: ({ context }) =>
                withError(context, { kind: "invalidOutput", source: "registerMatch", detail: "not a trade record for this match" }),
            }),
          },
        ],
        onError: { target: "registerBackoff", actions: failureOf("registerMatch") },
      },
    },
    registerBackoff: {
      after: { retryDelay: "registering" },
      on: {
        "OPENING.RECEIVED": [{ guard: "isWellFormed", actions: replyUnknownMatch }, { actions: "recordIfMalformed" }],
      },
    },

    // PROTOCOL §5 step 2: each matched meter sends its opening.
    awaitingOpenings: {
      always: { guard: "bothOpened", target: "verifying" },
      after: {
        openingTimeout: {
          target: "voiding",
          actions: assign({
            record: ({ context }) => ({
              ...context.record,
              resolution: { kind: "voided", reason: "openingTimeout", blamedBidders: missingOpeners(context.record) },
            }),
          }),
        },
      },
      on: {
        "OPENING.RECEIVED": [
          {
            guard: "isWellFormed",
            actions: [
              {
                type: "replyToRequest",
                params: ({ context, event }) => ({ requestId: event.requestId, reply: openingReply(context.record, event) }),
              },
              "storeOpening",
            ],
          },
          { actions: "recordIfMalformed" },
        ],
      },
    },

    // PROTOCOL §5 step 3: re-encrypt each opening with msk, compare with the chain; then fix the terms.
    verifying: {
      entry: assign({ verification: { buy: null, sell: null } }),
      invoke: [
        {
          id: "verifyBuyOpening",
          src: "verifyOpening",
          input: ({ context }) => ({
            matchId: context.record.matchId,
            bidder: context.record.buyBidder,
            side: "buy" as const,
            opening: context.record.buyOpening as Opening,
          }),
          onDone: { actions: assign({ verification: ({ context, event }) => ({ ...context.verification, buy: event.output }) }) },
          onError: { target: "verifyBackoff", actions: failureOf("verifyOpening") },
        },
        {
          id: "verifySellOpening",
          src: "verifyOpening",
          input: ({ context }) => ({
            matchId: context.record.matchId,
            bidder: context.record.sellBidder,
            side: "sell" as const,
            opening: context.record.sellOpening as Opening,
          }),
          onDone: { actions: assign({ verification: ({ context, event }) => ({ ...context.verification, sell: event.output }) }) },
          onError: { target: "verifyBackoff", actions: failureOf("verifyOpening") },
        },
      ],
      always: {
        guard: "bothVerified",
        target: "deciding",
      },
    },
    verifyBackoff: { after: { retryDelay: "verifying" } },
    deciding: {
      always: [
        {
          guard: ({ context }) => {
            const { buy, sell } = context.verification;
            return buy !== null && sell !== null && "terms" in decideOpenings(context.record, { buy, sell }, context.market);
          },
          target: "storingTerms",
          actions: assign({
            failures: 0,
            record: ({ context }) => {
              const decision = decideOpenings(
                context.record,
                { buy: context.verification.buy ?? { valid: false }, sell: context.verification.sell ?? { valid: false } },
                context.market,
              );
              return "terms" in decision ? { ...context.record, terms: decision.terms } : context.record;
            },
          }),
        },
        {
          target: "voiding",
          actions: assign({
            failures: 0,
            record: ({ context }) => {
              const decision = decideOpenings(
                context.record,
                { buy: context.verification.buy ?? { valid: false }, sell: context.verification.sell ?? { valid: false } },
                context.market,
              );
              return "terms" in decision ? context.record : { ...context.record, resolution: decision };
            },
          }),
        },
      ],
    },
    storingTerms: {
      invoke: {
        id: "saveTerms",
        src: "saveTrade",
        input: ({ context }) => ({ record: { ...context.record, stage: "termsFixed" as const } }),
        onDone: {
          target: "afterTerms",
          actions: assign({ record: ({ context }) => ({ ...context.record, stage: "termsFixed" as const }), failures: 0 }),
        },
        onError: { target: "storingTermsBackoff", actions: failureOf("saveTrade") },
      },
    },
    storingTermsBackoff: { after: { retryDelay: "storingTerms" } },

    // PROTOCOL §5 steps 3–6: terms + counterpart's opening to each meter; disputes within the window; readings.
    afterTerms: {
      initial: "sendingTerms",
      on: {
        "DISPUTE.RECEIVED": [
          {
            guard: "isPartyDispute",
            target: "disputing",
            actions: [
              {
                type: "replyToRequest",
                params: ({ event }) => ({ requestId: event.requestId, reply: { status: "ok", body: { kind: "disputeRecorded" } } }),
              },
              "storeDispute",
            ],
          },
          {
            guard: "isWellFormed",
            actions: {
              type: "replyToRequest",
              params: ({ context, event }) => ({ requestId: event.requestId, reply: disputeRefusal(context.record, event) }),
            },
          },
          { actions: "recordIfMalformed" },
        ],
      },
      states: {
        sendingTerms: {
          type: "parallel",
          onDone: "collecting",
          states: {
            buyer: {
              initial: "sending",
              states: {
                sending: {
                  invoke: {
                    id: "sendBuyerTerms",
                    src: "sendTerms",
                    input: ({ context }) => ({
                      matchId: context.record.matchId,
                      bidder: context.record.buyBidder,
                      side: "buy" as const,
                      terms: context.record.terms as TradeTerms,
                      counterpartOpening: context.record.sellOpening as Opening,
                    }),
                    onDone: "sent",
                    onError: { target: "backoff", actions: failureOf("sendTerms") },
                  },
                },
                backoff: { after: { retryDelay: "sending" } },
                sent: { type: "final" },
              },
            },
            seller: {
              initial: "sending",
              states: {
                sending: {
                  invoke: {
                    id: "sendSellerTerms",
                    src: "sendTerms",
                    input: ({ context }) => ({
                      matchId: context.record.matchId,
                      bidder: context.record.sellBidder,
                      side: "sell" as const,
                      terms: context.record.terms as TradeTerms,
                      counterpartOpening: context.record.buyOpening as Opening,
                    }),
                    onDone: "sent",
                    onError: { target: "backoff", actions: failureOf("sendTerms") },
                  },
                },
                backoff: { after: { retryDelay: "sending" } },
                sent: { type: "final" },
              },
            },
          },
        },
        collecting: {
          type: "parallel",
          entry: assign({ failures: 0 }),
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

    // PROTOCOL §5 step 7: double-entry settlement, one database transaction.
    settling: {
      entry: assign({
        record: ({ context }) => ({
          ...context.record,
          stage: "settled" as const,
          settlement: settleTrade({
            terms: context.record.terms as TradeTerms,
            buyReadingWh: context.readings.buyWh,
            sellReadingWh: context.readings.sellWh,
            tariffs: context.config.market,
          }),
        }),
      }),
      invoke: {
        id: "writeSettlement",
        src: "writeSettlement",
        input: ({ context }) => ({ record: context.record }),
        onDone: { target: "publishingOutcome", actions: assign({ failures: 0 }) },
        onError: { target: "settlingBackoff", actions: failureOf("writeSettlement") },
      },
    },
    // The settlement is a pure function of the record, so re-entering `settling` recomputes the same lines.
    settlingBackoff: { after: { retryDelay: "settling" } },

    // PROTOCOL §5 step 5: the match is void; the resolution says why and whom to blame.
    voiding: {
      invoke: {
        id: "saveVoided",
        src: "saveTrade",
        input: ({ context }) => ({ record: { ...context.record, stage: "voided" as const } }),
        onDone: {
          target: "publishingOutcome",
          actions: assign({ record: ({ context }) => ({ ...context.record, stage: "voided" as const }), failures: 0 }),
        },
        onError: { target: "voidingBackoff", actions: failureOf("saveTrade") },
      },
    },
    voidingBackoff: { after: { retryDelay: "voiding" } },

    // A party disputed: the trade is flagged and not settled.
    disputing: {
      invoke: {
        id: "saveDisputed",
        src: "saveTrade",
        input: ({ context }) => ({ record: { ...context.record, stage: "disputed" as const } }),
        onDone: {
          target: "publishingOutcome",
          actions: assign({ record: ({ context }) => ({ ...context.record, stage: "disputed" as const }), failures: 0 }),
        },
        onError: { target: "disputingBackoff", actions: failureOf("saveTrade") },
      },
    },
    disputingBackoff: { after: { retryDelay: "disputing" } },

    publishingOutcome: {
      invoke: {
        id: "publishTradeOutcome",
        src: "publishTradeOutcome",
        input: ({ context }) => ({
          matchId: context.record.matchId,
          recipients: [context.record.buyBidder, context.record.sellBidder],
          outcome:
            context.record.stage === "settled" && context.record.settlement
              ? { kind: "settled" as const, settlement: context.record.settlement }
              : (context.record.resolution as TradeResolution),
        }),
        onDone: { target: "closing", actions: assign({ failures: 0 }) },
        onError: { target: "publishingBackoff", actions: failureOf("publishTradeOutcome") },
      },
    },
    publishingBackoff: { after: { retryDelay: "publishingOutcome" } },
    closing: {
      invoke: {
        id: "saveClosed",
        src: "saveTrade",
        input: ({ context }) => ({ record: { ...context.record, closed: true } }),
        onDone: [
          {
            guard: ({ context }) => context.record.stage === "settled",
            target: "settled",
            actions: assign({ record: ({ context }) => ({ ...context.record, closed: true }) }),
          },
          {
            guard: ({ context }) => context.record.stage === "disputed",
            target: "disputed",
            actions: assign({ record: ({ context }) => ({ ...context.record, closed: true }) }),
          },
          { target: "voided", actions: assign({ record: ({ context }) => ({ ...context.record, closed: true }) }) },
        ],
        onError: { target: "closingBackoff", actions: failureOf("saveTrade") },
      },
    },
    closingBackoff: { after: { retryDelay: "closing" } },

    settled: { type: "final", entry: [ackRemaining, { type: "finish", params: { stage: "settled" } }] },
    voided: { type: "final", entry: [ackRemaining, { type: "finish", params: { stage: "voided" } }] },
    disputed: { type: "final", entry: [ackRemaining, { type: "finish", params: { stage: "disputed" } }] },
    alreadyClosed: { type: "final", entry: [ackRemaining, { type: "finish", params: { stage: "alreadyClosed" } }] },
  },
});

export type TradeSettlementMachine = typeof tradeSettlement;
export type TradeSettlementSnapshot = SnapshotFrom<typeof tradeSettlement>;
export type TradeSettlementImplementations = MachineImplementationsFrom<typeof tradeSettlement>;

/** Every async effect of a trade, as plain functions. */
export type TradeSettlementEffects = {
  [K in keyof TradeSettlementActors]: TradeSettlementActors[K] extends PromiseActorLogic<infer TOutput, infer TInput>
    ? Effect<TInput, TOutput>
    : never;
};

/** Provides every effect at once (the types require all of them). */
export function provideTradeSettlement(
  effects: TradeSettlementEffects,
  actions: TradeSettlementActions,
): TradeSettlementMachine {
  return tradeSettlement.provide({
    actors: {
      registerMatch: promiseEffect(effects.registerMatch),
      saveTrade: promiseEffect(effects.saveTrade),
      verifyOpening: promiseEffect(effects.verifyOpening),
      sendTerms: promiseEffect(effects.sendTerms),
      writeSettlement: promiseEffect(effects.writeSettlement),
      publishTradeOutcome: promiseEffect(effects.publishTradeOutcome),
    },
    actions: {
      replyToRequest: (_args, params) => actions.replyToRequest(params),
      ackMessages: (_args, params) => actions.ackMessages(params),
    },
  });
}
