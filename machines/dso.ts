// The DSO (utility): market setup, enrolment and ticket requests, one tradeSettlement child per match, and resume of
// in-flight trades from its database after a restart (PROTOCOL §1 parties, §4 tickets, §5 setup and trading). Version 2
// (input `slots`): epoch keys instead of one msk, the slot market, certified bids instead of tickets.
import { and, assign } from "xstate";
import type { MachineImplementationsFrom, SnapshotFrom } from "xstate";
import { z } from "zod";
import { sameAddress } from "../protocol/base/hex.ts";
import { addressSchema } from "../protocol/base/primitives.ts";
import { ticketSchema } from "../protocol/domain.ts";
import type { Refusal } from "../protocol/reasons.ts";
import { promiseEffects, type EffectsOf } from "./kit/effects.ts";
import { provideTradeSettlement } from "./tradeSettlement.ts";
import { refused } from "./tradeSettlement/record.ts";
import type { DsoActions, DsoEffectActors, DsoEffects } from "./dso/effects.ts";
import { dsoEvents } from "./dso/events.ts";
import { currentRequest, dimensionOf, marketOf, dsoSetup, initialContext, refuseCurrent, setupFailed, unavailableOnError } from "./dso/setup.ts";

export * from "./dso/effects.ts";
export * from "./dso/events.ts";
export { dimensionOf, tradeChildId, type DsoContext, type DsoInput, type DsoOutput, type DsoStats, type PendingRequest } from "./dso/setup.ts";

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
    "CERTIFY.REQUESTED": whenWellFormed(refuse("notReady")),
    "OPENING.RECEIVED": whenWellFormed(refuse("notReady")),
    "DISPUTE.RECEIVED": whenWellFormed(refuse("notReady")),
    "SHUTDOWN.REQUESTED": ".stopped",
  },
  initial: "settingUp",
  states: {
    // PROTOCOL §5 setup: FHIPE Setup(d) (version 2: the epochs' keys), deploy or attach the contract, publish the
    // market description.
    settingUp: {
      tags: ["settingUp"],
      initial: "choosingKeys",
      states: {
        choosingKeys: {
          always: [{ guard: "isSlotMarket", target: "preparingEpochKeys" }, { target: "preparingKey" }],
        },
        preparingKey: {
          invoke: {
            id: "prepareMasterKey",
            src: "prepareMasterKey",
            input: ({ context }) => ({ dimension: dimensionOf(context) }),
            onDone: "deployingContract",
            onError: setupFailed("prepareMasterKey"),
          },
        },
        // PROTOCOL §5 v2 setup and epochs: the current and the next epoch have their msk_e before bids come.
        preparingEpochKeys: {
          invoke: {
            id: "maintainEpochKeys",
            src: "maintainEpochKeys",
            input: () => ({}),
            onDone: { target: "deployingContract", actions: { type: "noteEpochKeys", params: ({ event }) => ({ output: event.output }) } },
            onError: setupFailed("maintainEpochKeys"),
          },
        },
        deployingContract: {
          invoke: {
            id: "deployOrAttachContract",
            src: "deployOrAttachContract",
            input: ({ context }) => ({
              marketId: context.marketId,
              dimension: dimensionOf(context),
              ...(context.slots === null ? {} : { slots: context.slots }),
            }),
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
                    fhipe: { curve: "BN254" as const, dimension: dimensionOf(context) },
                    priceLevels: context.config.market.priceLevels,
                    clearingRule: context.config.market.clearingRule,
                    ...(context.slots === null ? {} : { slots: context.slots }),
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
        // PROTOCOL §4/§5 setup: enrolment and ticket (version 2: certified-bid) requests, one at a time in arrival order.
        requests: {
          initial: "idle",
          on: {
            "ENROLMENT.REQUESTED": [{ guard: and(["isWellFormed", "queueHasRoom"]), actions: "queueRequest" }, ...whenWellFormed(refuse("busy"))],
            "TICKET.REQUESTED": [{ guard: and(["isWellFormed", "queueHasRoom"]), actions: "queueRequest" }, ...whenWellFormed(refuse("busy"))],
            "CERTIFY.REQUESTED": [{ guard: and(["isWellFormed", "queueHasRoom"]), actions: "queueRequest" }, ...whenWellFormed(refuse("busy"))],
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
                  if (current.kind === "ticket") return { purpose: "ticket" as const, ...signed, bidder: current.bidder, lifetimeSeconds: current.lifetimeSeconds };
                  if (current.kind === "certify") return { purpose: "certify" as const, ...signed, bidder: current.bidder };
                  return { purpose: "enrolment" as const, ...signed };
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
              always: [{ guard: "currentIsEnrolment", target: "sealing" }, { guard: "currentIsCertify", target: "certifying" }, { target: "storingPair" }],
            },
            // PROTOCOL §4 v2: the opening certified under its epoch's key and stored (with the pair permanent id ↔
            // bidder) before the slot ticket is signed; the certifier's rules refuse a bid by name.
            certifying: {
              invoke: {
                id: "certifyBid",
                src: "certifyBid",
                input: ({ context }) => {
                  const current = currentRequest(context, "certify");
                  return { permanentId: current.permanentId, bidder: current.bidder };
                },
                onDone: [
                  {
                    guard: ({ event }) => event.output?.outcome === "certified" && typeof event.output.certificate === "string",
                    target: "idle",
                    actions: {
                      type: "answerCurrent",
                      params: ({ event }) => ({
                        reply: { status: "ok", body: { kind: "certified", certificate: event.output.outcome === "certified" ? event.output.certificate : "" } },
                      }),
                    },
                  },
                  { guard: ({ event }) => event.output?.outcome === "conflict", ...refuseCurrent(refused("bidderTaken"), "certifyBid") },
                  {
                    guard: ({ event }) => event.output?.outcome === "refused" && typeof event.output.reason === "string",
                    target: "idle",
                    actions: {
                      type: "answerCurrent",
                      params: ({ event }) => ({
                        reply: { status: "ok", body: { kind: "notCertified", reason: event.output.outcome === "refused" ? event.output.reason : "" } },
                        source: "certifyBid",
                      }),
                    },
                  },
                  refuseCurrent(refused("unavailable"), "certifyBid: malformed result"),
                ],
                onError: unavailableOnError("certifyBid"),
              },
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
        // PROTOCOL §5 v2 setup and epochs: keys for the current and the next epoch, none kept past its retention, by
        // the market clock (the effect says when the routine is due again). Version 1 has one msk and no epochs.
        epochKeys: {
          initial: "choosing",
          states: {
            choosing: { always: [{ guard: "isSlotMarket", target: "waiting" }, { target: "noEpochs" }] },
            waiting: { after: { epochKeyCheck: "maintaining" } },
            maintaining: {
              invoke: {
                id: "maintainEpochKeys",
                src: "maintainEpochKeys",
                input: () => ({}),
                onDone: { target: "waiting", actions: { type: "noteEpochKeys", params: ({ event }) => ({ output: event.output }) } },
                onError: { target: "waiting", actions: { type: "recordEpochKeysFailure", params: ({ event }) => ({ error: event.error }) } },
              },
            },
            noEpochs: {},
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
  // Version 2's own effects may be missing from a version 1 runtime: their placeholders stay (and fail loudly if invoked).
  const provided = Object.fromEntries(Object.entries(own).filter(([, effect]) => effect !== undefined)) as EffectsOf<DsoEffectActors>;
  return dso.provide({
    actors: { ...(promiseEffects<DsoEffectActors>(provided) as Partial<DsoEffectActors>), tradeSettlement: provideTradeSettlement(tradeEffects, actions) },
    actions: {
      replyToRequest: (_args, params) => actions.replyToRequest(params),
      ackMessages: (_args, params) => actions.ackMessages(params),
    },
  });
}
