// PROTOCOL §4: one-time key → ticket → encryption and commitment → bidder signature. Nothing is on chain yet.
import { assign } from "xstate";
import { encryptionProblem, required } from "./context.ts";
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
            target: "requestingTicket",
            actions: [assign({ bidder: ({ event }) => event.output.bidder }), "announceIdentity"],
          },
          failWith("identity", "createOneTimeIdentity returned no address"),
        ],
        onError: failOnError("identity"),
      },
    },
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
