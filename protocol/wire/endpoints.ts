// Which message travels on which subject (PROTOCOL §6), once: each request/reply subject with its request and reply
// schemas, and each meter-inbox subject with its notice schema. The NATS adapters (actors/nats/rpc.ts `call`,
// `answer`, `notify`, `listen`) take an entry of these tables, so no call site pairs a subject with schemas by hand.
import type { z } from "zod";
import type { MarketSubjects } from "./subjects.ts";
import {
  cancelReplySchema,
  cancelRequestSchema,
  disputeAckSchema,
  disputeSchema,
  disputedNoticeSchema,
  enrolReplySchema,
  enrolRequestSchema,
  marketInfoReplySchema,
  marketInfoRequestSchema,
  openingAckSchema,
  openingSubmissionSchema,
  settlementNoticeSchema,
  ticketReplySchema,
  ticketRequestSchema,
  tradeTermsMessageSchema,
  voidedNoticeSchema,
} from "./schemas.ts";

/** A request/reply subject: who answers it, and what is asked and answered. */
export type Endpoint<Q extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> = {
  readonly subject: (subjects: MarketSubjects) => string;
  readonly request: Q;
  readonly reply: R;
};

function endpoint<Q extends z.ZodType, R extends z.ZodType>(
  subject: (subjects: MarketSubjects) => string,
  request: Q,
  reply: R,
): Endpoint<Q, R> {
  return { subject, request, reply };
}

/** Every request/reply subject of a market. */
export const endpoints = {
  /** Public: the market description (the gateway's start-up, observers). */
  marketInfo: endpoint((s) => s.dso.market, marketInfoRequestSchema, marketInfoReplySchema),
  /** PROTOCOL §5 setup: a meter proves its permanent id and receives pp, its sealed msk and the market. */
  enrol: endpoint((s) => s.dso.enrol, enrolRequestSchema, enrolReplySchema),
  /** PROTOCOL §4: an authenticated ticket for a one-time id. */
  ticket: endpoint((s) => s.dso.ticket, ticketRequestSchema, ticketReplySchema),
  /** PROTOCOL §5 trading step 2: a matched meter's sealed opening. */
  opening: endpoint((s) => s.dso.opening, openingSubmissionSchema, openingAckSchema),
  /** PROTOCOL §5 trading step 3: a meter disputes its trade. */
  dispute: endpoint((s) => s.dso.dispute, disputeSchema, disputeAckSchema),
  /** A bidder cancels its open bid; the gateway relays it to the chain. */
  cancel: endpoint((s) => s.gateway.cancel, cancelRequestSchema, cancelReplySchema),
} as const;

/** A subject of one meter's inbox (DSO → meter) and the notice it carries. */
export type InboxChannel<S extends z.ZodType = z.ZodType> = {
  readonly subject: (subjects: MarketSubjects, inboxId: string) => string;
  readonly schema: S;
};

function inboxChannel<S extends z.ZodType>(subject: (subjects: MarketSubjects, inboxId: string) => string, schema: S): InboxChannel<S> {
  return { subject, schema };
}

/** Everything the DSO sends to one meter (PROTOCOL §5 trading, steps 3, 4 and 7). */
export const inboxChannels = {
  terms: inboxChannel((s, inbox) => s.meter.trade(inbox), tradeTermsMessageSchema),
  voided: inboxChannel((s, inbox) => s.meter.voided(inbox), voidedNoticeSchema),
  disputed: inboxChannel((s, inbox) => s.meter.disputed(inbox), disputedNoticeSchema),
  settled: inboxChannel((s, inbox) => s.meter.settled(inbox), settlementNoticeSchema),
} as const;
