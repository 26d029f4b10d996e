// Which message travels on which subject (PROTOCOL §6), once: each request/reply subject with its request and reply
// schemas (and, for a sealed endpoint, the schemas of the sealed payloads), and each meter-inbox subject with the
// payload its sealed notices carry. The NATS adapters (actors/nats/rpc.ts `call`, `answer`; actors/secure/sealedRpc.ts
// `callSealed`, `answerSealed`, `notifySealed`, `listenSealed`) take an entry of these tables, so no call site pairs a
// subject with schemas by hand.
import { z } from "zod";
import type { MarketSubjects } from "./subjects.ts";
import {
  cancelReplySchema,
  cancelRequestSchema,
  certifyReplySchema,
  certifyRequestSchema,
  hintsReplySchema,
  hintsRequestSchema,
  disputeAckSchema,
  disputeSchema,
  disputedNoticeSchema,
  enrolReplySchema,
  enrolRequestSchema,
  marketInfoReplySchema,
  marketInfoRequestSchema,
  openingAckSchema,
  openingSubmissionSchema,
  sealedReplySchema,
  sealedRequestSchema,
  settlementNoticeSchema,
  ticketReplySchema,
  ticketRequestSchema,
  tradeTermsPayloadSchema,
  slotTradeTermsPayloadSchema,
  voidedNoticeSchema,
} from "./schemas.ts";

/** A request/reply subject: who answers it, and what is asked and answered. */
export type Endpoint<Q extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> = {
  readonly subject: (subjects: MarketSubjects) => string;
  readonly request: Q;
  readonly reply: R;
};

/** A request/reply subject whose request is sealed to the answering party and whose reply is sealed back. */
export type SealedEndpoint<Q extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> = Endpoint<
  typeof sealedRequestSchema,
  typeof sealedReplySchema
> & { readonly payload: { readonly request: Q; readonly reply: R } };

function endpoint<Q extends z.ZodType, R extends z.ZodType>(
  subject: (subjects: MarketSubjects) => string,
  request: Q,
  reply: R,
): Endpoint<Q, R> {
  return { subject, request, reply };
}

function sealedEndpoint<Q extends z.ZodType, R extends z.ZodType>(
  subject: (subjects: MarketSubjects) => string,
  request: Q,
  reply: R,
): SealedEndpoint<Q, R> {
  return { subject, request: sealedRequestSchema, reply: sealedReplySchema, payload: { request, reply } };
}

/** Every request/reply subject of a market. */
export const endpoints = {
  /** Public: the market description and the DSO's identity (the gateway's start-up, a meter before enrolling). */
  marketInfo: endpoint((s) => s.dso.market, marketInfoRequestSchema, marketInfoReplySchema),
  /** PROTOCOL §5 setup: a meter proves its permanent id and receives pp, its sealed msk and the market. */
  enrol: sealedEndpoint((s) => s.dso.enrol, enrolRequestSchema, enrolReplySchema),
  /** PROTOCOL §4: a ticket for a one-time id, asked with the long-term key, sealed by the one-time key. */
  ticket: sealedEndpoint((s) => s.dso.ticket, ticketRequestSchema, ticketReplySchema),
  /** PROTOCOL §5 trading step 2: a matched meter's sealed opening. */
  opening: endpoint((s) => s.dso.opening, openingSubmissionSchema, openingAckSchema),
  /** PROTOCOL §5 trading step 3: a meter disputes its trade. */
  dispute: sealedEndpoint((s) => s.dso.dispute, disputeSchema, disputeAckSchema),
  /** PROTOCOL §4 v2: a certified bid, asked like a ticket (sealed by the one-time key), with the opening inside. */
  certify: sealedEndpoint((s) => s.dso.certify, certifyRequestSchema, certifyReplySchema),
  /** PROTOCOL §5 v2: the DSO's placement hints for a batch, asked by the gateway (public data: bidders and lists). */
  hints: endpoint((s) => s.dso.hints, hintsRequestSchema, hintsReplySchema),
  /** A bidder cancels its open bid; the gateway relays it to the chain (public: the chain sees it anyway). */
  cancel: endpoint((s) => s.gateway.cancel, cancelRequestSchema, cancelReplySchema),
} as const;

/** A subject of one meter's inbox (DSO → meter): the payload its sealed trade messages carry, and that payload's trade. */
export type InboxChannel<S extends z.ZodType = z.ZodType> = {
  readonly subject: (subjects: MarketSubjects, inboxId: string) => string;
  readonly payload: S;
  readonly tradeIdOf: (payload: z.output<S>) => string;
};

function inboxChannel<S extends z.ZodType>(
  subject: (subjects: MarketSubjects, inboxId: string) => string,
  payload: S,
  tradeIdOf: (payload: z.output<S>) => string,
): InboxChannel<S> {
  return { subject, payload, tradeIdOf };
}

/** Everything the DSO sends to one meter (PROTOCOL §5 trading, steps 3, 4 and 7), sealed to it and signed. */
export const inboxChannels = {
  /** Version 1's `trade.terms` or version 2's `trade.terms.v2` (the counterpart's certified opening, no round trip). */
  terms: inboxChannel((s, inbox) => s.meter.trade(inbox), z.union([tradeTermsPayloadSchema, slotTradeTermsPayloadSchema]), (payload) => payload.terms.matchId),
  voided: inboxChannel((s, inbox) => s.meter.voided(inbox), voidedNoticeSchema, (payload) => payload.tradeId),
  disputed: inboxChannel((s, inbox) => s.meter.disputed(inbox), disputedNoticeSchema, (payload) => payload.tradeId),
  settled: inboxChannel((s, inbox) => s.meter.settled(inbox), settlementNoticeSchema, (payload) => payload.tradeId),
} as const;
