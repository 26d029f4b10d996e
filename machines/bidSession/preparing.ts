// PROTOCOL §4: one-time key → ticket → encryption and commitment → bidder signature; version 2: one-time key → the
// DSO's certified bid. Nothing is on chain yet.
import { assign } from "xstate";
import { certificationProblem, encryptionProblem, required } from "./context.ts";
import { failOnError, failWith, retryAfterFailure, step, type BidSessionStateNode } from "./setup.ts";

export const preparing: BidSessionStateNode = {
  initial: "creatingIdentity",
  on: {
    // Nothing is on chain yet: a cancel ends the session at once.
    "BID.CANCEL": { guard: "isOwnCancelCommand", target: "cancelled", actions: { type: "end", params: { outcome: { kind: "cancelled" } } } },
  },
  states: {
    creatingIdentity: {
      invoke: {
        id: "createOneTimeIdentity",
        src: "createOneTimeIdentity",
        input: ({ context }) => ({ sessionId: context.sessionId }),
        onDone: [
          {
            guard: { type: "isIdentity", params: ({ event }) => ({ output: event.output }) },
            target: "choosingPath",
            actions: [assign({ bidder: ({ event }) => event.output.bidder }), "announceIdentity"],
          },
          failWith("identity", "createOneTimeIdentity returned no address"),
        ],
        onError: failOnError("identity"),
      },
    },
    // Version 1: ticket, then the meter encrypts and signs. Version 2: the DSO certifies the opening (PROTOCOL §4 v2).
    choosingPath: {
      always: [{ guard: "isSlotMarket", target: "certifying" }, { target: "requestingTicket" }],
    },
    ...step(
      "certifying",
      { backoff: "certifyBackoff", delay: "ticketRetryDelay" },
      {
        invoke: {
          id: "certifyBid",
          src: "certifyBid",
          input: ({ context }) => ({
            bidder: required(context, "bidder"),
            side: context.side,
            slot: required(context, "slot"),
            priceLevel: context.priceLevel,
            quantityWh: context.quantityWh,
          }),
          onDone: [
            {
              guard: { type: "isOwnCertifiedBid", params: ({ event }) => ({ output: event.output }) },
              target: "#bidSession.onChain",
              actions: [
                assign(({ event }) =>
                  event.output.kind === "certified"
                    ? {
                        certified: event.output.bid,
                        opening: event.output.opening,
                        commitment: event.output.bid.commitment,
                        matchWaitMs: event.output.matchWaitMs,
                      }
                    : {},
                ),
                "resetFailures",
              ],
            },
            {
              guard: { type: "isClosedSlot", params: ({ event }) => ({ output: event.output }) },
              target: "#bidSession.closed",
              actions: {
                type: "end",
                params: ({ event }) => ({ outcome: { kind: "closed", reason: event.output.kind === "closed" ? event.output.reason : "closed" } }),
              },
            },
            {
              target: "#bidSession.failed",
              actions: {
                type: "end",
                params: ({ context, event }) => ({
                  outcome: { kind: "failed", stage: "ticket", reason: certificationProblem(context, event.output) ?? "not a certified bid" },
                }),
              },
            },
          ],
          onError: [retryAfterFailure("certifyBid", "certifyBackoff", { guard: "ticketRetriesLeft" }), failOnError("ticket")],
        },
      },
    ),
    ...step(
      "requestingTicket",
      { backoff: "ticketBackoff", delay: "ticketRetryDelay" },
      {
        invoke: {
          id: "requestTicket",
          src: "requestTicket",
          input: ({ context }) => ({ bidder: required(context, "bidder"), lifetimeSeconds: context.config.meter.bidLifetimeSeconds }),
          onDone: [
            {
              guard: { type: "isOwnTicket", params: ({ event }) => ({ output: event.output }) },
              target: "encrypting",
              actions: [assign({ ticket: ({ event }) => event.output.ticket }), "resetFailures"],
            },
            failWith("ticket", "ticket is malformed or for another bidder"),
          ],
          onError: [retryAfterFailure("requestTicket", "ticketBackoff", { guard: "ticketRetriesLeft" }), failOnError("ticket")],
        },
      },
    ),
    encrypting: {
      invoke: {
        id: "encryptBid",
        src: "encryptBid",
        input: ({ context }) => ({
          bidder: required(context, "bidder"),
          side: context.side,
          priceLevel: context.priceLevel,
          quantityWh: context.quantityWh,
        }),
        onDone: [
          {
            guard: { type: "isConsistentEncryption", params: ({ event }) => ({ output: event.output }) },
            target: "signing",
            actions: assign({
              ciphertext: ({ event }) => event.output.ciphertext,
              commitment: ({ event }) => event.output.commitment,
              opening: ({ event }) => event.output.opening,
            }),
          },
          {
            target: "#bidSession.failed",
            actions: {
              type: "end",
              params: ({ context, event }) => ({
                outcome: { kind: "failed", stage: "encryption", reason: encryptionProblem(context, event.output) ?? "inconsistent encryption" },
              }),
            },
          },
        ],
        onError: failOnError("encryption"),
      },
    },
    signing: {
      invoke: {
        id: "signBid",
        src: "signBid",
        input: ({ context }) => ({
          bidder: required(context, "bidder"),
          side: context.side,
          ciphertext: required(context, "ciphertext"),
          commitment: required(context, "commitment"),
        }),
        onDone: [
          {
            guard: { type: "isSignature", params: ({ event }) => ({ output: event.output }) },
            target: "#bidSession.onChain",
            actions: assign({ bidderSignature: ({ event }) => event.output.bidderSignature }),
          },
          failWith("signing", "signBid returned no 65-byte signature"),
        ],
        onError: failOnError("signing"),
      },
    },
  },
};
