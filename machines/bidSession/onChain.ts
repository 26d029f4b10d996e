// PROTOCOL §5 bidding: the gateway places the bid; the session waits for a match, an expiry, a rejection or its cancel.
import { assign } from "xstate";
import { bidSessionEvents } from "./events.ts";
import { bidToSubmitOf, required } from "./context.ts";
import { failOnError, retryAfterFailure, step, type BidSessionStateNode } from "./setup.ts";

export const onChain: BidSessionStateNode = {
  initial: "submitting",
  after: {
    matchWaitTimeout: { target: "expired", actions: { type: "end", params: { outcome: { kind: "expired" } } } },
  },
  on: {
    // A match wins over a cancel in flight: the chain decided first.
    "MATCH.RECEIVED": {
      guard: "isOwnMatchEvent",
      target: "trading",
      actions: assign(({ event }) => {
        const parsed = bidSessionEvents.parse(event);
        return parsed?.type === "MATCH.RECEIVED" ? { match: parsed.match, failures: 0 } : {};
      }),
    },
    "BID.EXPIRED": { guard: "isOwnBidNotice", target: "expired", actions: { type: "end", params: { outcome: { kind: "expired" } } } },
    "BID.REJECTED": {
      guard: "isOwnBidNotice",
      target: "rejected",
      actions: { type: "end", params: ({ event }) => ({ outcome: { kind: "rejected", rejection: event.rejection } }) },
    },
  },
  states: {
    ...step(
      "submitting",
      {
        backoff: "submitBackoff",
        delay: "submitRetryDelay",
        // The failed submission may still have reached the queue: a cancel must go through the chain.
        whileWaiting: { on: { "BID.CANCEL": { guard: "isOwnCancelCommand", target: "cancelling" } } },
      },
      {
        on: { "BID.CANCEL": { guard: "isOwnCancelCommand", actions: assign({ cancelRequested: true }) } },
        invoke: {
          id: "submitBid",
          src: "submitBid",
          input: ({ context }) => bidToSubmitOf(context),
          onDone: [
            { guard: "cancelRequested", target: "cancelling", actions: "resetFailures" },
            { target: "awaitingMatch", actions: "resetFailures" },
          ],
          onError: [retryAfterFailure("submitBid", "submitBackoff", { guard: "submitRetriesLeft" }), failOnError("submission")],
        },
      },
    ),
    awaitingMatch: {
      on: { "BID.CANCEL": { guard: "isOwnCancelCommand", target: "cancelling" } },
    },
    cancelling: {
      invoke: {
        id: "cancelBid",
        src: "cancelBid",
        input: ({ context }) => ({ bidder: required(context, "bidder") }),
        onDone: "awaitingCancellation",
        onError: {
          target: "awaitingMatch",
          actions: { type: "recordEffectFailure", params: ({ event }) => ({ source: "cancelBid", error: event.error }) },
        },
      },
    },
    awaitingCancellation: {
      on: {
        "BID.CANCELLED": { guard: "isOwnBidNotice", target: "#bidSession.cancelled", actions: { type: "end", params: { outcome: { kind: "cancelled" } } } },
      },
    },
  },
};
