// The chain gateway: consumes bid submissions from the durable queue, batches them into transactions, acks only on
// receipt (reused bidder = duplicate), relays cancels, and follows chain events from its last processed block to
// publish matches, expiries and cancellations (PROTOCOL §1 gateway, §5 bidding and matching, §6 messaging).
import { and, assign, not } from "xstate";
import type { MachineImplementationsFrom, SnapshotFrom } from "xstate";
import { eventSource, promiseEffects, type EffectsOf } from "./kit/effects.ts";
import type { SignedBid } from "../protocol/domain.ts";
import type { GatewayBid } from "./gateway/bids.ts";
import type { GatewayActions, GatewayEffects, GatewayPromiseActors } from "./gateway/effects.ts";
import { gatewayEvents, noticesOf } from "./gateway/events.ts";
import { failedTo, fromBlockOf, gatewaySetup, headCancel, headRange, initialContext, step } from "./gateway/setup.ts";

export * from "./gateway/bids.ts";
export * from "./gateway/chunking.ts";
export * from "./gateway/effects.ts";
export * from "./gateway/events.ts";
export {
  addDelivery,
  isReusedBidder,
  type BlockRange,
  type GatewayContext,
  type GatewayInput,
  type GatewayOutput,
  type GatewayStats,
  type PendingBid,
  type PendingCancel,
} from "./gateway/setup.ts";

/** Deliveries arriving while stopping are left unacked: the durable queue redelivers them after restart. */
function takeUnlessStopping<const TAction extends string>(action: TAction) {
  return [{ guard: and(["isWellFormed", not("stopping")]), actions: action }, { guard: "isWellFormed" as const }, { actions: "recordIfMalformed" as const }];
}

export const gateway = gatewaySetup.createMachine({
  id: "gateway",
  context: ({ input }) => initialContext(input),
  output: ({ context }) => ({ stats: context.stats, lastProcessedBlock: context.lastProcessedBlock }),
  on: gatewayEvents.fallback("recordIfMalformed"),
  initial: "running",
  states: {
    running: {
      type: "parallel",
      onDone: "stopped",
      on: {
        "BID.RECEIVED": takeUnlessStopping("takeBid"),
        "CANCEL.RECEIVED": takeUnlessStopping("takeCancel"),
        "SHUTDOWN.REQUESTED": { actions: "startStopping" },
      },
      states: {
        // Bid submissions → batches → transactions; acks only after the receipt.
        intake: {
          initial: "idle",
          states: {
            idle: {
              always: [
                { guard: "hasPending", target: "collecting" },
                { guard: "stopping", target: "done" },
              ],
            },
            collecting: {
              always: [
                { guard: "batchFull", target: "submitting", actions: "takeBatch" },
                { guard: "stopping", target: "submitting", actions: "takeBatch" },
              ],
              after: { batchMaxDelay: { target: "submitting", actions: "takeBatch" } },
            },
            ...step(
              "submitting",
              { backoff: "submitBackoff", delay: "submitRetryDelay" },
              {
                invoke: {
                  id: "submitBids",
                  src: "submitBids",
                  input: ({ context }) => ({ bids: context.inFlight.map((entry) => entry.bid) }),
                  onDone: [
                    {
                      guard: ({ event }) => event.output?.kind === "mined" && Array.isArray(event.output.results),
                      target: "settled",
                      actions: { type: "settleMinedBatch", params: ({ event }) => ({ output: event.output }) },
                    },
                    {
                      guard: ({ event }) => event.output?.kind === "reverted",
                      target: "resubmitting",
                      actions: { type: "settleRevertedBid", params: ({ event }) => ({ output: event.output }) },
                    },
                    {
                      target: "submitFailed",
                      actions: { type: "recordFailure", params: { counter: "submitFailures", source: "submitBids", error: "malformed result" } },
                    },
                  ],
                  onError: failedTo("submitFailed", "submitFailures", "submitBids"),
                },
              },
            ),
            // After a blamed revert: what is left of the batch goes again at once (it did nothing wrong).
            resubmitting: {
              always: [
                { guard: and(["inFlightLeft", "submitRetriesLeft"]), target: "submitting" },
                { guard: "inFlightLeft", target: "settled", actions: "nakInFlight" },
                { target: "settled" },
              ],
            },
            submitFailed: {
              always: [{ guard: "submitRetriesLeft", target: "submitBackoff" }, { target: "settled", actions: "nakInFlight" }],
            },
            settled: {
              always: [
                { guard: "batchFull", target: "submitting", actions: "takeBatch" },
                { guard: "hasPending", target: "collecting" },
                { target: "idle" },
              ],
            },
            done: { type: "final" },
          },
        },

        // Cancels, one transaction each (they are rare and must not wait for a batch).
        cancels: {
          initial: "idle",
          states: {
            idle: {
              always: [
                { guard: "hasCancel", target: "relaying" },
                { guard: "stopping", target: "done" },
              ],
            },
            ...step(
              "relaying",
              { backoff: "relayBackoff", delay: "cancelRetryDelay" },
              {
                invoke: {
                  id: "submitCancel",
                  src: "submitCancel",
                  input: ({ context }) => ({ cancel: headCancel(context).cancel }),
                  onDone: {
                    target: "idle",
                    actions: {
                      type: "settleCancel",
                      params: ({ event }) => ({ output: event.output?.kind === "mined" || event.output?.kind === "reverted" ? event.output : null }),
                    },
                  },
                  onError: failedTo("relayFailed", "cancelFailures", "submitCancel"),
                },
              },
            ),
            relayFailed: {
              always: [{ guard: "cancelRetriesLeft", target: "relayBackoff" }, { target: "idle", actions: "nakHeadCancel" }],
            },
            done: { type: "final" },
          },
        },

        // Chain → notices, from the last processed block; the cursor is saved only after publishing.
        chain: {
          type: "parallel",
          states: {
            follower: {
              initial: "loadingCursor",
              states: {
                ...step(
                  "loadingCursor",
                  { backoff: "cursorBackoff", delay: "followRetryDelay" },
                  {
                    invoke: {
                      id: "loadCursor",
                      src: "loadCursor",
                      input: () => ({}),
                      onDone: [
                        {
                          guard: { type: "isCursor", params: ({ event }) => ({ output: event.output }) },
                          target: "following",
                          actions: assign({ lastProcessedBlock: ({ event }) => event.output.lastProcessedBlock }),
                        },
                        {
                          target: "cursorBackoff",
                          actions: { type: "recordFailure", params: { counter: "followFailures", source: "loadCursor", error: "malformed cursor" } },
                        },
                      ],
                      onError: failedTo("cursorBackoff", "followFailures", "loadCursor"),
                    },
                  },
                ),
                ...step(
                  "following",
                  // Restarts the follower from the block after the last one received.
                  { backoff: "followBackoff", delay: "followRetryDelay", whileWaiting: { always: { guard: "stopping", target: "done" } } },
                  {
                    always: { guard: "stopping", target: "done" },
                    invoke: {
                      id: "followChain",
                      src: "followChain",
                      input: ({ context }) => ({ fromBlock: fromBlockOf(context) }),
                      onError: failedTo("followBackoff", "followFailures", "followChain"),
                    },
                    on: {
                      "CHAIN.EVENTS.RECEIVED": [
                        {
                          guard: and(["isWellFormed", "rangeLeavesGap"]),
                          target: "followBackoff",
                          actions: {
                            type: "recordFailure",
                            params: ({ context, event }) => ({
                              counter: "followFailures" as const,
                              source: "followChain",
                              error: `gap: expected block ${fromBlockOf(context)}, got ${event.fromBlock}`,
                            }),
                          },
                        },
                        { guard: "isWellFormed", actions: "takeRange" },
                        { actions: "recordIfMalformed" },
                      ],
                      "CHAIN.FOLLOW.FAILED": [
                        {
                          guard: "isWellFormed",
                          target: "followBackoff",
                          actions: { type: "recordFailure", params: ({ event }) => ({ counter: "followFailures" as const, source: "followChain", error: event.error }) },
                        },
                        { actions: "recordIfMalformed" },
                      ],
                    },
                  },
                ),
                done: { type: "final" },
              },
            },
            publisher: {
              initial: "idle",
              states: {
                idle: {
                  always: [
                    { guard: and(["hasRange", "headRangeHasNotices"]), target: "publishing" },
                    { guard: "hasRange", target: "savingCursor" },
                    { guard: "stopping", target: "done" },
                  ],
                },
                ...step(
                  "publishing",
                  { backoff: "publishBackoff", delay: "publishRetryDelay" },
                  {
                    invoke: {
                      id: "publishNotices",
                      src: "publishNotices",
                      input: ({ context }) => ({ notices: noticesOf(headRange(context).events) }),
                      onDone: {
                        target: "savingCursor",
                        actions: assign({
                          publishFailures: 0,
                          stats: ({ context }) => ({
                            ...context.stats,
                            noticesPublished: context.stats.noticesPublished + noticesOf(headRange(context).events).length,
                          }),
                        }),
                      },
                      onError: failedTo("publishBackoff", "publishFailures", "publishNotices"),
                    },
                  },
                ),
                ...step(
                  "savingCursor",
                  { backoff: "savingBackoff", delay: "publishRetryDelay" },
                  {
                    invoke: {
                      id: "saveCursor",
                      src: "saveCursor",
                      input: ({ context }) => ({ lastProcessedBlock: headRange(context).toBlock }),
                      onDone: {
                        target: "idle",
                        actions: assign({
                          publishFailures: 0,
                          lastProcessedBlock: ({ context }) => headRange(context).toBlock,
                          ranges: ({ context }) => context.ranges.slice(1),
                        }),
                      },
                      onError: failedTo("savingBackoff", "publishFailures", "saveCursor"),
                    },
                  },
                ),
                done: { type: "final" },
              },
            },
          },
        },
      },
    },
    stopped: { type: "final", tags: ["stopped"] },
  },
});

export type GatewayMachine = typeof gateway;
export type GatewaySnapshot = SnapshotFrom<typeof gateway>;
export type GatewayImplementations = MachineImplementationsFrom<typeof gateway>;

/**
 * Provides every effect at once (the types require all of them). `TBid` is the kind of bid the runtime's market takes
 * (version 1's by default): the machine must be started with the matching `design`, which lets no other bid through.
 */
export function provideGateway<TBid extends GatewayBid = SignedBid>(effects: GatewayEffects<TBid>, actions: GatewayActions): GatewayMachine {
  const { followChain, ...promises } = effects;
  return gateway.provide({
    actors: { ...promiseEffects<GatewayPromiseActors>(promises as EffectsOf<GatewayPromiseActors>), followChain: eventSource(followChain) },
    actions: {
      ackMessages: (_args, params) => actions.ackMessages(params),
      nakMessages: (_args, params) => actions.nakMessages(params),
      notifyBidRejected: (_args, params) => actions.notifyBidRejected(params),
    },
  });
}
