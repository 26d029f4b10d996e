// The DSO (utility): market setup, enrolment and ticket requests, one tradeSettlement child per match, and resume of
// in-flight trades from its database after a restart (PROTOCOL §1 parties, §4 tickets, §5 setup and trading).
import { and, assign, enqueueActions, setup } from "xstate";
import type { MachineImplementationsFrom, PromiseActorLogic, SnapshotFrom } from "xstate";
import { z } from "zod";
import { backoffMs } from "./config.ts";
import type { MachineConfig } from "./config.ts";
import {
  isTradeRecord,
  provideTradeSettlement,
  tradeSettlement,
  tradeSettlementEventSchemas,
} from "./tradeSettlement.ts";
import type {
  AckMessagesParams,
  ReplyToRequestParams,
  RequestReply,
  TradeEnded,
  TradeRecord,
  TradeSettlementEffects,
  TradeSettlementEvent,
  TradeSettlementInput,
  TradeSettlementMachine,
} from "./tradeSettlement.ts";
import {
  addressSchema,
  appendError,
  describeError,
  describeIssues,
  hexSchema,
  sameAddress,
  ticketSchema,
} from "./types.ts";
import type { Address, Hex, MachineErrorRecord, MarketDescription, Ticket } from "./types.ts";
import { promiseEffect, unprovidedPromise } from "./effects.ts";
import type { Effect } from "./effects.ts";

// ---------------------------------------------------------------------------------------------------------------
// Events.

const requestId = () => z.string().min(1).max(256);
const permanentId = () => z.string().min(1).max(256);

export const dsoEventSchemas = {
  ...tradeSettlementEventSchemas,
  /**
   * Request (a meter): enrol. `payload` is the signed request as the meter sent it, `signature` its long-term
   * key's signature over it; `authenticateMeter` checks both against the registry.
   */
  "ENROLMENT.REQUESTED": z.object({
    type: z.literal("ENROLMENT.REQUESTED"),
    requestId: requestId(),
    permanentId: permanentId(),
    payload: z.string().max(65_536),
    signature: hexSchema,
  }),
  /** Request (a meter, authenticated like enrolment): a ticket for a one-time identity (PROTOCOL §4). */
  "TICKET.REQUESTED": z.object({
    type: z.literal("TICKET.REQUESTED"),
    requestId: requestId(),
    permanentId: permanentId(),
    bidder: addressSchema,
    lifetimeSeconds: z.number().int().positive(),
    payload: z.string().max(65_536),
    signature: hexSchema,
  }),
  /** Internal, from a tradeSettlement child. */
  "TRADE.ENDED": z.object({
    type: z.literal("TRADE.ENDED"),
    matchId: z.string().min(1),
    stage: z.enum(["settled", "voided", "disputed", "alreadyClosed"]),
    settlement: z.unknown(),
    resolution: z.unknown(),
  }),
  /** Runtime: stop (in-flight trades live on in the database and are resumed at the next start). */
  "SHUTDOWN.REQUESTED": z.object({ type: z.literal("SHUTDOWN.REQUESTED") }),
} as const;

type Schemas = typeof dsoEventSchemas;
export type DsoEvent = { [K in keyof Schemas]: z.infer<Schemas[K]> }[keyof Schemas];
export type DsoEventType = DsoEvent["type"];
export const dsoEventTypes = Object.keys(dsoEventSchemas) as DsoEventType[];

export function parseDsoEvent(event: { type: string }): DsoEvent | null {
  const schema = (dsoEventSchemas as Record<string, z.ZodType<DsoEvent>>)[event.type];
  if (!schema) return null;
  const parsed = schema.safeParse(event);
  return parsed.success ? parsed.data : null;
}

// ---------------------------------------------------------------------------------------------------------------
// Effects.

export type PrepareMasterKeyInput = { dimension: number };
/** Loads the stored `msk` of this dimension, or runs FHIPE `Setup(d)` and stores it (never a second one). */
export type PrepareMasterKeyOutput = { created: boolean };
export type DeployOrAttachContractInput = { marketId: string; dimension: number };
export type DeployOrAttachContractOutput = {
  chainId: number;
  contractAddress: Address;
  ticketSigner: Address;
  deployed: boolean;
};
export type PublishMarketDescriptionInput = { market: MarketDescription };
export type LoadInFlightTradesInput = { marketId: string };
/** Rows with `closed = false`. */
export type LoadInFlightTradesOutput = { trades: TradeRecord[] };
export type AuthenticateMeterInput = {
  purpose: "enrolment" | "ticket";
  permanentId: string;
  payload: string;
  signature: Hex;
  /** For tickets: the fields the signed payload must bind. */
  bidder?: Address;
  lifetimeSeconds?: number;
};
export type AuthenticateMeterOutput = { authentic: boolean; reason?: string };
export type SealEnrolmentInput = { permanentId: string };
/** `pp` and `msk` encrypted to the meter's registered key and signed by the DSO (opaque to the machine). */
export type SealEnrolmentOutput = { sealedEnrolment: string };
export type StoreIdentityPairInput = { permanentId: string; bidder: Address };
/** `stored: false` when the bidder is already paired with another permanent id (unique constraint). */
export type StoreIdentityPairOutput = { stored: boolean };
export type SignTicketInput = { bidder: Address; lifetimeSeconds: number };
/** EIP-712 signature by the ticket key over `(bidder, notAfter = now + lifetimeSeconds)`. */
export type SignTicketOutput = { ticket: Ticket };

export type DsoActors = {
  prepareMasterKey: PromiseActorLogic<PrepareMasterKeyOutput, PrepareMasterKeyInput>;
  deployOrAttachContract: PromiseActorLogic<DeployOrAttachContractOutput, DeployOrAttachContractInput>;
  publishMarketDescription: PromiseActorLogic<void, PublishMarketDescriptionInput>;
  loadInFlightTrades: PromiseActorLogic<LoadInFlightTradesOutput, LoadInFlightTradesInput>;
  authenticateMeter: PromiseActorLogic<AuthenticateMeterOutput, AuthenticateMeterInput>;
  sealEnrolment: PromiseActorLogic<SealEnrolmentOutput, SealEnrolmentInput>;
  storeIdentityPair: PromiseActorLogic<StoreIdentityPairOutput, StoreIdentityPairInput>;
  signTicket: PromiseActorLogic<SignTicketOutput, SignTicketInput>;
  /** `provideTradeSettlement({ actors, actions })` from ./tradeSettlement.ts. */
  tradeSettlement: TradeSettlementMachine;
};
/** Fire-and-forget effects, shared with the tradeSettlement children: they must not throw. */
export type DsoActions = {
  replyToRequest: (params: ReplyToRequestParams) => void;
  ackMessages: (params: AckMessagesParams) => void;
};
export const dsoActorNames = [
  "prepareMasterKey",
  "deployOrAttachContract",
  "publishMarketDescription",
  "loadInFlightTrades",
  "authenticateMeter",
  "sealEnrolment",
  "storeIdentityPair",
  "signTicket",
  "tradeSettlement",
] as const satisfies readonly (keyof DsoActors)[];
export const dsoActionNames = ["replyToRequest", "ackMessages"] as const;
export const dsoDelayNames = ["setupRetryDelay"] as const;

// ---------------------------------------------------------------------------------------------------------------
// Input, context, output.

export type DsoInput = { config: MachineConfig; marketId: string };

export type PendingRequest =
  | { kind: "enrolment"; requestId: string; permanentId: string; payload: string; signature: Hex }
  | {
      kind: "ticket";
      requestId: string;
      permanentId: string;
      bidder: Address;
      lifetimeSeconds: number;
      payload: string;
      signature: Hex;
    };

export type DsoStats = {
  enrolments: number;
  ticketsIssued: number;
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
  market: MarketDescription | null;
  setupFailures: number;
  requestQueue: PendingRequest[];
  current: PendingRequest | null;
  /** Trades with a running tradeSettlement child, by matchId. */
  trades: Record<string, { buyBidder: Address; sellBidder: Address }>;
  stats: DsoStats;
  errors: MachineErrorRecord[];
};

export type DsoOutput = { stats: DsoStats; market: MarketDescription | null };

// ---------------------------------------------------------------------------------------------------------------
// Pure helpers.

export function tradeChildId(matchId: string): string {
  return `trade:${matchId}`;
}

function withError(context: DsoContext, entry: MachineErrorRecord): MachineErrorRecord[] {
  return appendError(context.errors, entry, context.config.maxRecordedErrors);
}

/** A child that can still take events (finished children are stopped, but be safe against the gap). */
function childExists(self: { getSnapshot(): { children: unknown } }, id: string): boolean {
  const child = (self.getSnapshot().children as Record<string, { getSnapshot(): { status: string } } | undefined>)[id];
  return child !== undefined && child.getSnapshot().status === "active";
}

function tradeInput(context: DsoContext, record: Pick<TradeRecord, "matchId" | "buyBidder" | "sellBidder">) {
  return {
    config: context.config,
    market: context.market as MarketDescription,
    match: { matchId: record.matchId, buyBidder: record.buyBidder, sellBidder: record.sellBidder },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The machine.

const dsoSetup = setup({
  types: {
    input: {} as DsoInput,
    context: {} as DsoContext,
    events: {} as DsoEvent,
    output: {} as DsoOutput,
  },
  actors: {
    prepareMasterKey: unprovidedPromise<PrepareMasterKeyOutput, PrepareMasterKeyInput>("dso", "prepareMasterKey"),
    deployOrAttachContract: unprovidedPromise<DeployOrAttachContractOutput, DeployOrAttachContractInput>(
      "dso",
      "deployOrAttachContract",
    ),
    publishMarketDescription: unprovidedPromise<void, PublishMarketDescriptionInput>("dso", "publishMarketDescription"),
    loadInFlightTrades: unprovidedPromise<LoadInFlightTradesOutput, LoadInFlightTradesInput>("dso", "loadInFlightTrades"),
    authenticateMeter: unprovidedPromise<AuthenticateMeterOutput, AuthenticateMeterInput>("dso", "authenticateMeter"),
    sealEnrolment: unprovidedPromise<SealEnrolmentOutput, SealEnrolmentInput>("dso", "sealEnrolment"),
    storeIdentityPair: unprovidedPromise<StoreIdentityPairOutput, StoreIdentityPairInput>("dso", "storeIdentityPair"),
    signTicket: unprovidedPromise<SignTicketOutput, SignTicketInput>("dso", "signTicket"),
    tradeSettlement,
  },
  delays: {
    setupRetryDelay: ({ context }) =>
      backoffMs(context.setupFailures, context.config.dso.setupRetryBaseMs, context.config.dso.setupRetryMaxMs),
  },
  guards: {
    isWellFormed: ({ event }) => parseDsoEvent(event) !== null,
    setupRetriesLeft: ({ context }) =>
      context.config.dso.setupMaxAttempts === 0 || context.setupFailures + 1 < context.config.dso.setupMaxAttempts,
    hasQueuedRequest: ({ context }) => context.requestQueue.length > 0,
    queueHasRoom: ({ context }) => context.requestQueue.length < context.config.dso.requestQueueLimit,
    currentIsEnrolment: ({ context }) => context.current?.kind === "enrolment",
  },
  actions: {
    /** Runtime: answer a request on its reply subject. */
    replyToRequest: (_args, _params: ReplyToRequestParams) => {},
    /** Runtime: ack JetStream deliveries by id. */
    ackMessages: (_args, _params: AckMessagesParams) => {},
    recordIfMalformed: assign(({ context, event }) => {
      if (parseDsoEvent(event)) return {};
      const schema = (dsoEventSchemas as Record<string, z.ZodType>)[event.type];
      const result = schema?.safeParse(event);
      return {
        errors: withError(context, {
          kind: "malformedEvent",
          source: String(event.type),
          detail: result && !result.success ? describeIssues(result.error) : "unknown type",
        }),
      };
    }),
    recordSetupFailure: assign(({ context }, params: { source: string; error: unknown }) => ({
      setupFailures: context.setupFailures + 1,
      errors: withError(context, { kind: "effectFailed", source: params.source, detail: describeError(params.error) }),
    })),
    queueRequest: assign(({ context, event }) => {
      const parsed = parseDsoEvent(event);
      if (parsed?.type === "ENROLMENT.REQUESTED")
        return {
          requestQueue: [
            ...context.requestQueue,
            {
              kind: "enrolment" as const,
              requestId: parsed.requestId,
              permanentId: parsed.permanentId,
              payload: parsed.payload,
              signature: parsed.signature,
            },
          ],
        };
      if (parsed?.type === "TICKET.REQUESTED")
        return {
          requestQueue: [
            ...context.requestQueue,
            {
              kind: "ticket" as const,
              requestId: parsed.requestId,
              permanentId: parsed.permanentId,
              bidder: parsed.bidder,
              lifetimeSeconds: parsed.lifetimeSeconds,
              payload: parsed.payload,
              signature: parsed.signature,
            },
          ],
        };
      return {};
    }),
    takeNextRequest: assign(({ context }) => ({
      current: context.requestQueue[0] ?? null,
      requestQueue: context.requestQueue.slice(1),
    })),
  },
});

/** The runtime-provided actions, as the decision actions below enqueue them. */
type DsoRuntimeAction =
  | { type: "replyToRequest"; params: ReplyToRequestParams }
  | { type: "ackMessages"; params: AckMessagesParams };
type DsoChildActor = { src: "tradeSettlement"; logic: TradeSettlementMachine; id: string | undefined };

/** `enqueueActions` typed with the runtime actions and the child logic (setup cannot infer them for its own actions). */
function decide<TParams extends Record<string, unknown> | undefined>(
  collect: Parameters<typeof enqueueActions<DsoContext, DsoEvent, TParams, DsoEvent, DsoChildActor, DsoRuntimeAction, never>>[0],
) {
  return enqueueActions<DsoContext, DsoEvent, TParams, DsoEvent, DsoChildActor, DsoRuntimeAction, never>(collect);
}

/** Decision actions that enqueue the runtime-provided ones (extend() makes their names known to the machine). */
const dsoActionsSetup = dsoSetup.extend({
  actions: {
    answerCurrent: decide<{ reply: RequestReply; source?: string }>(({ context, enqueue }, params) => {
      const current = context.current;
      enqueue.assign({
        current: null,
        stats: {
          ...context.stats,
          requestsRefused: context.stats.requestsRefused + (params.reply.status === "error" ? 1 : 0),
          enrolments:
            context.stats.enrolments + (params.reply.status === "ok" && params.reply.body.kind === "enrolment" ? 1 : 0),
          ticketsIssued:
            context.stats.ticketsIssued + (params.reply.status === "ok" && params.reply.body.kind === "ticket" ? 1 : 0),
        },
        errors:
          params.source && params.reply.status === "error"
            ? withError(context, { kind: "rejected", source: params.source, detail: params.reply.reason })
            : context.errors,
      });
      if (current) enqueue({ type: "replyToRequest", params: { requestId: current.requestId, reply: params.reply } });
    }),
    /** Requests that cannot be served now (not ready, queue full, unknown match) are answered at once. */
    refuseRequest: decide<{ reason: string }>(({ event, enqueue }, params) => {
      const parsed = parseDsoEvent(event);
      if (!parsed || !("requestId" in parsed)) return;
      enqueue({
        type: "replyToRequest",
        params: { requestId: parsed.requestId, reply: { status: "error", reason: params.reason } },
      });
    }),
    /** Spawns the trade's child, or forwards a redelivery to the running one (which acks it). */
    startOrForwardTrade: decide<undefined>(({ context, event, enqueue, self }) => {
      const parsed = parseDsoEvent(event);
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
      const parsed = parseDsoEvent(event);
      if (parsed?.type !== "OPENING.RECEIVED" && parsed?.type !== "DISPUTE.RECEIVED" && parsed?.type !== "READING.RECEIVED")
        return;
      const id = tradeChildId(parsed.matchId);
      if (context.trades[parsed.matchId] && childExists(self, id)) {
        enqueue.sendTo(id, parsed as TradeSettlementEvent);
        return;
      }
      enqueue.assign({
        errors: withError(context, { kind: "unroutable", source: parsed.type, detail: `no running trade ${parsed.matchId}` }),
      });
      if (parsed.type === "READING.RECEIVED")
        enqueue({ type: "ackMessages", params: { messageIds: [parsed.messageId] } });
      else
        enqueue({
          type: "replyToRequest",
          params: { requestId: parsed.requestId, reply: { status: "error", reason: "unknownMatch" } },
        });
    }),
    /** Counts the outcome and stops the finished child (XState keeps finished children until stopped). */
    concludeTrade: decide<undefined>(({ context, event, enqueue }) => {
      const parsed = parseDsoEvent(event);
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
      enqueue.assign({
        trades,
        errors,
        stats: { ...context.stats, tradesResumed: context.stats.tradesResumed + resumed },
      });
    }),
  },
});

export const dso = dsoActionsSetup.createMachine({
  id: "dso",
  context: ({ input }) => ({
    config: input.config,
    marketId: input.marketId,
    market: null,
    setupFailures: 0,
    requestQueue: [],
    current: null,
    trades: {},
    stats: {
      enrolments: 0,
      ticketsIssued: 0,
      requestsRefused: 0,
      tradesStarted: 0,
      tradesResumed: 0,
      settled: 0,
      voided: 0,
      disputed: 0,
    },
    errors: [],
  }),
  output: ({ context }) => ({ stats: context.stats, market: context.market }),
  on: {
    ...Object.fromEntries(dsoEventTypes.map((type) => [type, { actions: "recordIfMalformed" }])),
    // Before serving: requests are answered `notReady` (the meter retries); JetStream deliveries are left unacked
    // and come back (runtimes should start their consumers once the machine has the `serving` tag).
    "ENROLMENT.REQUESTED": [
      { guard: "isWellFormed", actions: { type: "refuseRequest", params: { reason: "notReady" } } },
      { actions: "recordIfMalformed" },
    ],
    "TICKET.REQUESTED": [
      { guard: "isWellFormed", actions: { type: "refuseRequest", params: { reason: "notReady" } } },
      { actions: "recordIfMalformed" },
    ],
    "OPENING.RECEIVED": [
      { guard: "isWellFormed", actions: { type: "refuseRequest", params: { reason: "notReady" } } },
      { actions: "recordIfMalformed" },
    ],
    "DISPUTE.RECEIVED": [
      { guard: "isWellFormed", actions: { type: "refuseRequest", params: { reason: "notReady" } } },
      { actions: "recordIfMalformed" },
    ],
    "SHUTDOWN.REQUESTED": ".stopped",
  },
  initial: "settingUp",
  states: {
    // PROTOCOL §5 setup: FHIPE Setup(d), deploy or attach the contract, publish the market description.
    settingUp: {
      tags: ["settingUp"],
      initial: "preparingKey",
      states: {
        preparingKey: {
          invoke: {
            id: "prepareMasterKey",
            src: "prepareMasterKey",
            input: ({ context }) => ({ dimension: context.config.market.priceLevels.count + 1 }),
            onDone: "deployingContract",
            onError: {
              target: "#dso.setupBackoff",
              actions: { type: "recordSetupFailure", params: ({ event }) => ({ source: "prepareMasterKey", error: event.error }) },
            },
          },
        },
        deployingContract: {
          invoke: {
            id: "deployOrAttachContract",
            src: "deployOrAttachContract",
            input: ({ context }) => ({ marketId: context.marketId, dimension: context.config.market.priceLevels.count + 1 }),
            onDone: [
              {
                guard: ({ event }) =>
                  z
                    .object({ chainId: z.number().int().positive(), contractAddress: addressSchema, ticketSigner: addressSchema })
                    .safeParse(event.output).success,
                target: "publishingMarket",
                actions: assign({
                  market: ({ context, event }) => ({
                    marketId: context.marketId,
                    chainId: event.output.chainId,
                    contractAddress: event.output.contractAddress,
                    ticketSigner: event.output.ticketSigner,
                    dimension: context.config.market.priceLevels.count + 1,
                    priceLevels: context.config.market.priceLevels,
                    clearingRule: context.config.market.clearingRule,
                  }),
                }),
              },
              {
                target: "#dso.setupBackoff",
                actions: {
                  type: "recordSetupFailure",
                  params: { source: "deployOrAttachContract", error: "malformed deployment result" },
                },
              },
            ],
            onError: {
              target: "#dso.setupBackoff",
              actions: {
                type: "recordSetupFailure",
                params: ({ event }) => ({ source: "deployOrAttachContract", error: event.error }),
              },
            },
          },
        },
        publishingMarket: {
          invoke: {
            id: "publishMarketDescription",
            src: "publishMarketDescription",
            input: ({ context }) => ({ market: context.market as MarketDescription }),
            onDone: "resuming",
            onError: {
              target: "#dso.setupBackoff",
              actions: {
                type: "recordSetupFailure",
                params: ({ event }) => ({ source: "publishMarketDescription", error: event.error }),
              },
            },
          },
        },
        // DSO restart: every trade not yet closed continues from its stored stage.
        resuming: {
          invoke: {
            id: "loadInFlightTrades",
            src: "loadInFlightTrades",
            input: ({ context }) => ({ marketId: context.marketId }),
            onDone: {
              target: "#dso.serving",
              actions: [
                { type: "resumeTrades", params: ({ event }) => ({ trades: (event.output as { trades?: unknown })?.trades }) },
                assign({ setupFailures: 0 }),
              ],
            },
            onError: {
              target: "#dso.setupBackoff",
              actions: {
                type: "recordSetupFailure",
                params: ({ event }) => ({ source: "loadInFlightTrades", error: event.error }),
              },
            },
          },
        },
        resume: { type: "history", history: "shallow" },
      },
    },
    setupBackoff: {
      tags: ["settingUp"],
      always: { guard: ({ context }) => context.config.dso.setupMaxAttempts !== 0 && context.setupFailures >= context.config.dso.setupMaxAttempts, target: "failed" },
      after: { setupRetryDelay: "settingUp.resume" },
    },

    serving: {
      tags: ["serving"],
      type: "parallel",
      states: {
        // PROTOCOL §4/§5 setup: enrolment and ticket requests, one at a time in arrival order.
        requests: {
          initial: "idle",
          on: {
            "ENROLMENT.REQUESTED": [
              { guard: and(["isWellFormed", "queueHasRoom"]), actions: "queueRequest" },
              { guard: "isWellFormed", actions: { type: "refuseRequest", params: { reason: "busy" } } },
              { actions: "recordIfMalformed" },
            ],
            "TICKET.REQUESTED": [
              { guard: and(["isWellFormed", "queueHasRoom"]), actions: "queueRequest" },
              { guard: "isWellFormed", actions: { type: "refuseRequest", params: { reason: "busy" } } },
              { actions: "recordIfMalformed" },
            ],
          },
          states: {
            idle: {
              always: { guard: "hasQueuedRequest", target: "authenticating", actions: "takeNextRequest" },
            },
            authenticating: {
              invoke: {
                id: "authenticateMeter",
                src: "authenticateMeter",
                input: ({ context }) => {
                  const current = context.current as PendingRequest;
                  return current.kind === "ticket"
                    ? {
                        purpose: "ticket" as const,
                        permanentId: current.permanentId,
                        payload: current.payload,
                        signature: current.signature,
                        bidder: current.bidder,
                        lifetimeSeconds: current.lifetimeSeconds,
                      }
                    : {
                        purpose: "enrolment" as const,
                        permanentId: current.permanentId,
                        payload: current.payload,
                        signature: current.signature,
                      };
                },
                onDone: [
                  { guard: ({ event }) => event.output?.authentic === true, target: "routing" },
                  {
                    target: "idle",
                    actions: {
                      type: "answerCurrent",
                      params: ({ event }) => ({
                        reply: { status: "error", reason: `unauthenticated${event.output?.reason ? `: ${event.output.reason}` : ""}` },
                        source: "authenticateMeter",
                      }),
                    },
                  },
                ],
                onError: {
                  target: "idle",
                  actions: {
                    type: "answerCurrent",
                    params: ({ event }) => ({
                      reply: { status: "error", reason: "unavailable" },
                      source: `authenticateMeter: ${describeError(event.error)}`,
                    }),
                  },
                },
              },
            },
            routing: {
              always: [{ guard: "currentIsEnrolment", target: "sealing" }, { target: "storingPair" }],
            },
            sealing: {
              invoke: {
                id: "sealEnrolment",
                src: "sealEnrolment",
                input: ({ context }) => ({ permanentId: (context.current as PendingRequest).permanentId }),
                onDone: [
                  {
                    guard: ({ event }) => typeof event.output?.sealedEnrolment === "string",
                    target: "idle",
                    actions: {
                      type: "answerCurrent",
                      params: ({ context, event }) => ({
                        reply: {
                          status: "ok",
                          body: {
                            kind: "enrolment",
                            sealedEnrolment: event.output.sealedEnrolment,
                            market: context.market as MarketDescription,
                          },
                        },
                      }),
                    },
                  },
                  {
                    target: "idle",
                    actions: {
                      type: "answerCurrent",
                      params: { reply: { status: "error", reason: "unavailable" }, source: "sealEnrolment" },
                    },
                  },
                ],
                onError: {
                  target: "idle",
                  actions: {
                    type: "answerCurrent",
                    params: ({ event }) => ({
                      reply: { status: "error", reason: "unavailable" },
                      source: `sealEnrolment: ${describeError(event.error)}`,
                    }),
                  },
                },
              },
            },
            // PROTOCOL §4: the DSO stores (permanent id, bidder) before it signs; nobody else can link them.
            storingPair: {
              invoke: {
                id: "storeIdentityPair",
                src: "storeIdentityPair",
                input: ({ context }) => {
                  const current = context.current as Extract<PendingRequest, { kind: "ticket" }>;
                  return { permanentId: current.permanentId, bidder: current.bidder };
                },
                onDone: [
                  { guard: ({ event }) => event.output?.stored === true, target: "signingTicket" },
                  {
                    target: "idle",
                    actions: {
                      type: "answerCurrent",
                      params: { reply: { status: "error", reason: "bidderTaken" }, source: "storeIdentityPair" },
                    },
                  },
                ],
                onError: {
                  target: "idle",
                  actions: {
                    type: "answerCurrent",
                    params: ({ event }) => ({
                      reply: { status: "error", reason: "unavailable" },
                      source: `storeIdentityPair: ${describeError(event.error)}`,
                    }),
                  },
                },
              },
            },
            signingTicket: {
              invoke: {
                id: "signTicket",
                src: "signTicket",
                input: ({ context }) => {
                  const current = context.current as Extract<PendingRequest, { kind: "ticket" }>;
                  return {
                    bidder: current.bidder,
                    lifetimeSeconds: Math.min(current.lifetimeSeconds, context.config.dso.maxTicketLifetimeSeconds),
                  };
                },
                onDone: [
                  {
                    guard: ({ context, event }) => {
                      const parsed = ticketSchema.safeParse(event.output?.ticket);
                      const current = context.current;
                      return parsed.success && current?.kind === "ticket" && sameAddress(parsed.data.bidder, current.bidder);
                    },
                    target: "idle",
                    actions: {
                      type: "answerCurrent",
                      params: ({ event }) => ({ reply: { status: "ok", body: { kind: "ticket", ticket: event.output.ticket } } }),
                    },
                  },
                  {
                    target: "idle",
                    actions: {
                      type: "answerCurrent",
                      params: { reply: { status: "error", reason: "unavailable" }, source: "signTicket: malformed ticket" },
                    },
                  },
                ],
                onError: {
                  target: "idle",
                  actions: {
                    type: "answerCurrent",
                    params: ({ event }) => ({
                      reply: { status: "error", reason: "unavailable" },
                      source: `signTicket: ${describeError(event.error)}`,
                    }),
                  },
                },
              },
            },
          },
        },
        // PROTOCOL §5 trading: one tradeSettlement child per match.
        trades: {
          on: {
            "MATCH.RECEIVED": [{ guard: "isWellFormed", actions: "startOrForwardTrade" }, { actions: "recordIfMalformed" }],
            "OPENING.RECEIVED": [{ guard: "isWellFormed", actions: "routeToTrade" }, { actions: "recordIfMalformed" }],
            "DISPUTE.RECEIVED": [{ guard: "isWellFormed", actions: "routeToTrade" }, { actions: "recordIfMalformed" }],
            "READING.RECEIVED": [{ guard: "isWellFormed", actions: "routeToTrade" }, { actions: "recordIfMalformed" }],
            "TRADE.ENDED": [{ guard: "isWellFormed", actions: "concludeTrade" }, { actions: "recordIfMalformed" }],
          },
        },
      },
    },
    failed: { type: "final", tags: ["stopped"] },
    stopped: { type: "final", tags: ["stopped"] },
  },
});

export type DsoMachine = typeof dso;
export type DsoSnapshot = SnapshotFrom<typeof dso>;
export type DsoImplementations = MachineImplementationsFrom<typeof dso>;

/** Every async effect of the DSO and of its trades, as plain functions. */
export type DsoEffects = {
  [K in Exclude<keyof DsoActors, "tradeSettlement">]: DsoActors[K] extends PromiseActorLogic<infer TOutput, infer TInput>
    ? Effect<TInput, TOutput>
    : never;
} & { tradeSettlement: TradeSettlementEffects };

/** Provides every effect at once (the types require all of them); the actions serve the trades too. */
export function provideDso(effects: DsoEffects, actions: DsoActions): DsoMachine {
  return dso.provide({
    actors: {
      prepareMasterKey: promiseEffect(effects.prepareMasterKey),
      deployOrAttachContract: promiseEffect(effects.deployOrAttachContract),
      publishMarketDescription: promiseEffect(effects.publishMarketDescription),
      loadInFlightTrades: promiseEffect(effects.loadInFlightTrades),
      authenticateMeter: promiseEffect(effects.authenticateMeter),
      sealEnrolment: promiseEffect(effects.sealEnrolment),
      storeIdentityPair: promiseEffect(effects.storeIdentityPair),
      signTicket: promiseEffect(effects.signTicket),
      tradeSettlement: provideTradeSettlement(effects.tradeSettlement, actions),
    },
    actions: {
      replyToRequest: (_args, params) => actions.replyToRequest(params),
      ackMessages: (_args, params) => actions.ackMessages(params),
    },
  });
}
