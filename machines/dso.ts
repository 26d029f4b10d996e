// The DSO (utility): market setup, enrolment and ticket requests, one tradeSettlement child per match, and resume of
// in-flight trades from its database after a restart (PROTOCOL §1 parties, §4 tickets, §5 setup and trading).
import { and, assign } from "xstate";
import type { MachineImplementationsFrom, SnapshotFrom } from "xstate";
import { z } from "zod";
import { sameAddress } from "../protocol/base/hex.ts";
import { addressSchema } from "../protocol/base/primitives.ts";
import { ticketSchema } from "../protocol/domain.ts";
import { dimensionFor } from "../protocol/encoding/priceEncoding.ts";
import type { Refusal } from "../protocol/reasons.ts";
import { promiseEffects } from "./kit/effects.ts";
import { provideTradeSettlement } from "./tradeSettlement.ts";
import { refused } from "./tradeSettlement/record.ts";
import type { DsoActions, DsoEffectActors, DsoEffects } from "./dso/effects.ts";
import { dsoEvents } from "./dso/events.ts";
import { currentRequest, marketOf, dsoSetup, initialContext, refuseCurrent, setupFailed, unavailableOnError } from "./dso/setup.ts";

export * from "./dso/effects.ts";
export * from "./dso/events.ts";
export { tradeChildId, type DsoContext, type DsoInput, type DsoOutput, type DsoStats, type PendingRequest } from "./dso/setup.ts";

/** `[well formed → actions, else record it as malformed]`: how every event is taken. */
function whenWellFormed<T>(actions: T) {
  return [{ guard: "isWellFormed" as const, actions }, { actions: "recordIfMalformed" as const }];
}

function refuse(reason: Refusal["reason"]) {
  return { type: "refuseRequest" as const, params: { refusal: { reason } } };
}

const deploymentSchema = z.object({ chainId: z.number().int().positive(), contractAddress: addressSchema, ticketSigner: addressSchema });

export const dso = dsoSetup.createMachine({
  id: "dso",
  context: ({ input }) => initialContext(input),
  output: ({ context }) => ({ stats: context.stats, market: context.market }),
  on: {
    ...dsoEvents.fallback("recordIfMalformed"),
    // Before serving: requests are answered `notReady` (the meter retries); JetStream deliveries are left unacked
    // and come back (runtimes should start their consumers once the machine has the `serving` tag).
    "ENROLMENT.REQUESTED": whenWellFormed(refuse("notReady")),
    "TICKET.REQUESTED": whenWellFormed(refuse("notReady")),
    "OPENING.RECEIVED": whenWellFormed(refuse("notReady")),
    "DISPUTE.RECEIVED": whenWellFormed(refuse("notReady")),
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
            input: ({ context }) => ({ dimension: dimensionFor(context.config.market.priceLevels.count) }),
            onDone: "deployingContract",
            onError: setupFailed("prepareMasterKey"),
          },
        },
        deployingContract: {
          invoke: {
            id: "deployOrAttachContract",
            src: "deployOrAttachContract",
            input: ({ context }) => ({ marketId: context.marketId, dimension: dimensionFor(context.config.market.priceLevels.count) }),
            onDone: [
              {
                guard: ({ event }) => deploymentSchema.safeParse(event.output).success,
                target: "publishingMarket",
                actions: assign({
                  market: ({ context, event }) => ({
                    marketId: context.marketId,
                    chainId: event.output.chainId,
                    contractAddress: event.output.contractAddress,
                    ticketSigner: event.output.ticketSigner,
                    fhipe: { curve: "BN254" as const, dimension: dimensionFor(context.config.market.priceLevels.count) },
                    priceLevels: context.config.market.priceLevels,
                    clearingRule: context.config.market.clearingRule,
                  }),
                }),
              },
              {
                target: "#dso.setupBackoff",
                actions: { type: "recordSetupFailure", params: { source: "deployOrAttachContract", error: "malformed deployment result" } },
              },
            ],
            onError: setupFailed("deployOrAttachContract"),
          },
        },
        publishingMarket: {
          invoke: {
            id: "publishMarketDescription",
            src: "publishMarketDescription",
            input: ({ context }) => ({ market: marketOf(context) }),
            onDone: "resuming",
            onError: setupFailed("publishMarketDescription"),
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
                { type: "resumeTrades", params: ({ event }) => ({ trades: (event.output as { trades?: unknown } | undefined)?.trades }) },
                assign({ setupFailures: 0 }),
              ],
            },
            onError: setupFailed("loadInFlightTrades"),
          },
        },
        resume: { type: "history", history: "shallow" },
      },
    },
    setupBackoff: {
      tags: ["settingUp"],
      always: { guard: "setupGivenUp", target: "failed" },
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
            "ENROLMENT.REQUESTED": [{ guard: and(["isWellFormed", "queueHasRoom"]), actions: "queueRequest" }, ...whenWellFormed(refuse("busy"))],
            "TICKET.REQUESTED": [{ guard: and(["isWellFormed", "queueHasRoom"]), actions: "queueRequest" }, ...whenWellFormed(refuse("busy"))],
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
                  const current = currentRequest(context);
                  const signed = { permanentId: current.permanentId, payload: current.payload, signature: current.signature };
                  return current.kind === "ticket"
                    ? { purpose: "ticket" as const, ...signed, bidder: current.bidder, lifetimeSeconds: current.lifetimeSeconds }
                    : { purpose: "enrolment" as const, ...signed };
                },
                onDone: [
                  { guard: ({ event }) => event.output?.authentic === true, target: "routing" },
                  {
                    target: "idle",
                    actions: {
                      type: "answerCurrent",
                      params: ({ event }) => ({ reply: refused("unauthenticated", event.output?.authentic === false ? event.output.reason : undefined), source: "authenticateMeter" }),
                    },
                  },
                ],
                onError: unavailableOnError("authenticateMeter"),
              },
            },
            routing: {
              always: [{ guard: "currentIsEnrolment", target: "sealing" }, { target: "storingPair" }],
            },
            sealing: {
              invoke: {
                id: "sealEnrolment",
                src: "sealEnrolment",
                input: ({ context }) => ({ permanentId: currentRequest(context, "enrolment").permanentId }),
                onDone: [
                  {
                    guard: ({ event }) => typeof event.output?.sealedEnrolment === "string",
                    target: "idle",
                    actions: {
                      type: "answerCurrent",
                      params: ({ context, event }) => ({
                        reply: {
                          status: "ok",
                          body: { kind: "enrolment", sealedEnrolment: event.output.sealedEnrolment, market: marketOf(context) },
                        },
                      }),
                    },
                  },
                  refuseCurrent(refused("unavailable"), "sealEnrolment"),
                ],
                onError: unavailableOnError("sealEnrolment"),
              },
            },
            // PROTOCOL §4: the DSO stores (permanent id, bidder) before it signs; nobody else can link them.
            storingPair: {
              invoke: {
                id: "storeIdentityPair",
                src: "storeIdentityPair",
                input: ({ context }) => {
                  const current = currentRequest(context, "ticket");
                  return { permanentId: current.permanentId, bidder: current.bidder };
                },
                onDone: [
                  { guard: ({ event }) => event.output?.stored === true, target: "signingTicket" },
                  refuseCurrent(refused("bidderTaken"), "storeIdentityPair"),
                ],
                onError: unavailableOnError("storeIdentityPair"),
              },
            },
            signingTicket: {
              invoke: {
                id: "signTicket",
                src: "signTicket",
                input: ({ context }) => {
                  const current = currentRequest(context, "ticket");
                  return { bidder: current.bidder, lifetimeSeconds: Math.min(current.lifetimeSeconds, context.config.dso.maxTicketLifetimeSeconds) };
                },
                onDone: [
                  {
                    guard: ({ context, event }) => {
                      const parsed = ticketSchema.safeParse(event.output?.ticket);
                      return parsed.success && context.current?.kind === "ticket" && sameAddress(parsed.data.bidder, context.current.bidder);
                    },
                    target: "idle",
                    actions: {
                      type: "answerCurrent",
                      params: ({ event }) => ({ reply: { status: "ok", body: { kind: "ticket", ticket: event.output.ticket } } }),
                    },
                  },
                  refuseCurrent(refused("unavailable"), "signTicket: malformed ticket"),
                ],
                onError: unavailableOnError("signTicket"),
              },
            },
          },
        },
        // PROTOCOL §5 trading: one tradeSettlement child per match.
        trades: {
          on: {
            "MATCH.RECEIVED": whenWellFormed("startOrForwardTrade" as const),
            "OPENING.RECEIVED": whenWellFormed("routeToTrade" as const),
            "DISPUTE.RECEIVED": whenWellFormed("routeToTrade" as const),
            "READING.RECEIVED": whenWellFormed("routeToTrade" as const),
            "TRADE.ENDED": whenWellFormed("concludeTrade" as const),
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

/** Provides every effect at once (the types require all of them); the actions serve the trades too. */
export function provideDso(effects: DsoEffects, actions: DsoActions): DsoMachine {
  const { tradeSettlement: tradeEffects, ...own } = effects;
  return dso.provide({
    actors: { ...promiseEffects<DsoEffectActors>(own), tradeSettlement: provideTradeSettlement(tradeEffects, actions) },
    actions: {
      replyToRequest: (_args, params) => actions.replyToRequest(params),
      ackMessages: (_args, params) => actions.ackMessages(params),
    },
  });
}
