// A prosumer's smart meter: enrols with the DSO, then runs one bidSession child per planned bid and re-bids
// remainders and voided bids under a fresh one-time identity (PROTOCOL §5 setup "a meter enrols", §5 trading step 4).
import { assign, enqueueActions, setup, stopChild } from "xstate";
import type { MachineImplementationsFrom, PromiseActorLogic, SnapshotFrom } from "xstate";
import { z } from "zod";
import { backoffMs } from "./config.ts";
import type { MachineConfig } from "./config.ts";
import { bidSession, bidSessionEvents, provideBidSession } from "./bidSession.ts";
import type { BidOutcome, BidSessionEffects, BidSessionEnded, BidSessionEvent, BidSessionMachine } from "./bidSession.ts";
import { defineEvents, type EventOf } from "./kit/events.ts";
import { promiseEffect, unprovidedPromise } from "./kit/effects.ts";
import type { Effect } from "./kit/effects.ts";
import { sameAddress, type Address } from "../protocol/base/hex.ts";
import { addressSchema } from "../protocol/base/primitives.ts";
import { marketDescriptionSchema, sideSchema, type MarketDescription } from "../protocol/domain.ts";
import { appendError, describeError, describeIssues, type MachineErrorRecord } from "./kit/errors.ts";

// ---------------------------------------------------------------------------------------------------------------
// Events.

export const plannedBidSchema = z.object({
  /** Unique per meter; re-bids of the plan keep it. */
  planId: z.string().min(1).max(256),
  side: sideSchema,
  priceLevel: z.number().int().nonnegative(),
  quantityWh: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  /** The delivery slot (version 2 markets, where every bid is for one slot; a version 1 market has none). */
  slot: z.int().min(0).max(2 ** 31 - 1).optional(),
});
export type PlannedBid = z.infer<typeof plannedBidSchema>;

const bidOutcomeSchema: z.ZodType<BidOutcome> = z.custom<BidOutcome>(
  (value) => typeof value === "object" && value !== null && typeof (value as { kind?: unknown }).kind === "string",
);

export const meterEvents = defineEvents({
  ...bidSessionEvents.schemas,
  /** Runtime (the prosumer's profile): add bids to the queue, in order. */
  "BIDS.PLANNED": z.object({ type: z.literal("BIDS.PLANNED"), bids: z.array(plannedBidSchema).max(10_000) }),
  /** Runtime: finish the running sessions, start no new ones, then stop. */
  "SHUTDOWN.REQUESTED": z.object({ type: z.literal("SHUTDOWN.REQUESTED") }),
  /** Internal, from a bidSession child. */
  "BID.SESSION.IDENTIFIED": z.object({
    type: z.literal("BID.SESSION.IDENTIFIED"),
    sessionId: z.string(),
    bidder: addressSchema,
  }),
  /** Internal, from a bidSession child (version 2): its terms were accepted while the slot is open. */
  "BID.SESSION.FILLED": z.object({
    type: z.literal("BID.SESSION.FILLED"),
    sessionId: z.string(),
    remainderWh: z.number().int().nonnegative(),
  }),
  /** Internal, from a bidSession child. */
  "BID.SESSION.ENDED": z.object({
    type: z.literal("BID.SESSION.ENDED"),
    sessionId: z.string(),
    planId: z.string(),
    attempt: z.number().int().positive(),
    bidder: addressSchema.nullable(),
    outcome: bidOutcomeSchema,
  }),
});

export type MeterEvent = EventOf<typeof meterEvents.schemas>;
export type MeterEventType = MeterEvent["type"];

// ---------------------------------------------------------------------------------------------------------------
// Effects.

export type RequestEnrolmentInput = { meterId: string };
/**
 * The runtime proves the meter's permanent id with its long-term key, receives `pp`, `msk` (sealed to the meter)
 * and the market description, keeps `msk` in its key store and returns the market description.
 */
export type RequestEnrolmentOutput = { market: MarketDescription };

export type MeterActors = {
  requestEnrolment: PromiseActorLogic<RequestEnrolmentOutput, RequestEnrolmentInput>;
  /** `provideBidSession({ actors })` from ./bidSession.ts. */
  bidSession: BidSessionMachine;
};
export const meterActorNames = ["requestEnrolment", "bidSession"] as const satisfies readonly (keyof MeterActors)[];
export const meterDelayNames = ["enrolRetryDelay"] as const;

// ---------------------------------------------------------------------------------------------------------------
// Input, context.

export type MeterInput = {
  config: MachineConfig;
  /** Permanent id of the meter in the DSO's registry. */
  meterId: string;
  /** Initial profile; more can be added with `BIDS.PLANNED`. */
  plan?: PlannedBid[];
};

export type QueuedBid = PlannedBid & { attempt: number };
/** `remainderQueued`: version 2 re-bid the unfilled remainder when the terms came (not again at the session's end). */
export type ActiveSession = QueuedBid & { sessionId: string; bidder: Address | null; remainderQueued?: boolean };
export type SessionRecord = {
  sessionId: string;
  planId: string;
  attempt: number;
  bidder: Address | null;
  outcome: BidOutcome;
};
export type MeterStats = {
  sessions: number;
  settled: number;
  voided: number;
  disputed: number;
  expired: number;
  closed: number;
  cancelled: number;
  rejected: number;
  failed: number;
  rebids: number;
  filledWh: number;
};

export type MeterContext = {
  config: MachineConfig;
  meterId: string;
  market: MarketDescription | null;
  enrolFailures: number;
  /** Bids waiting for a free session slot; re-bids go first. */
  queue: QueuedBid[];
  sessions: Record<string, ActiveSession>;
  nextSessionSeq: number;
  /** The last `config.meter.outcomeHistory` ended sessions. */
  outcomes: SessionRecord[];
  abandoned: { planId: string; attempt: number; reason: string }[];
  stats: MeterStats;
  errors: MachineErrorRecord[];
};

export type MeterOutput = { stats: MeterStats; queue: QueuedBid[]; enrolled: boolean };

// ---------------------------------------------------------------------------------------------------------------
// Pure decisions.

/** What to queue after a session ended (PROTOCOL §5 trading step 4): `null` = nothing more for this plan. */
export function rebidAfter(
  ended: { planId: string; attempt: number },
  session: Pick<QueuedBid, "side" | "priceLevel" | "quantityWh" | "slot">,
  outcome: BidOutcome,
): { bid: QueuedBid } | { abandon: string } | null {
  const next = (quantityWh: number): { bid: QueuedBid } => ({
    bid: {
      planId: ended.planId,
      side: session.side,
      priceLevel: session.priceLevel,
      quantityWh,
      attempt: ended.attempt + 1,
      ...(session.slot === undefined ? {} : { slot: session.slot }),
    },
  });
  switch (outcome.kind) {
    case "settled":
      return outcome.remainderWh > 0 ? next(outcome.remainderWh) : null;
    case "voided":
      // The blamed party (it did not open in time, or its opening failed) does not re-bid: something is wrong
      // with it and re-bidding would only void more matches.
      return outcome.blamedSelf ? { abandon: `voided (${outcome.reason}) and blamed` } : next(session.quantityWh);
    case "disputed": // the trade will not settle: the energy is still unsold/unbought
    case "rejected":
    case "failed":
      return next(session.quantityWh);
    case "expired":
    case "closed": // version 2: the slot's gate has closed, nothing can be placed for it any more
    case "cancelled":
      return null;
  }
}

/** Why a planned bid cannot be placed in this market (its level, or a slot where the market has none or needs one). */
export function plannedBidProblem(bid: PlannedBid, market: MarketDescription): string | null {
  if (bid.priceLevel >= market.priceLevels.count) return `price level ${bid.priceLevel} out of range`;
  if (market.slots !== undefined && bid.slot === undefined) return `plan ${bid.planId} has no delivery slot (a version 2 market needs one)`;
  if (market.slots === undefined && bid.slot !== undefined) return `plan ${bid.planId} names a delivery slot (a version 1 market has none)`;
  return null;
}

function countOutcome(stats: MeterStats, outcome: BidOutcome): MeterStats {
  const next = { ...stats, [outcome.kind]: stats[outcome.kind] + 1 };
  if (outcome.kind === "settled") next.filledWh += outcome.filledWh;
  return next;
}

function recordError(context: MeterContext, record: MachineErrorRecord): MachineErrorRecord[] {
  return appendError(context.errors, record, context.config.maxRecordedErrors);
}

// ---------------------------------------------------------------------------------------------------------------
// The machine.

const routeNotice = { actions: ["recordIfMalformed", "routeToSession"] } as const;
/** What the gateway and the DSO tell the sessions, enrolled or draining: routed to the session it concerns. */
const sessionNotices = {
  "MATCH.RECEIVED": routeNotice,
  "BID.EXPIRED": routeNotice,
  "BID.REJECTED": routeNotice,
  "BID.CANCELLED": routeNotice,
  "TERMS.RECEIVED": routeNotice,
  "MATCH.VOIDED": routeNotice,
  "TRADE.DISPUTED": routeNotice,
  "SETTLEMENT.RECEIVED": routeNotice,
} as const;

export const meter = setup({
  types: {
    input: {} as MeterInput,
    context: {} as MeterContext,
    events: {} as MeterEvent,
    output: {} as MeterOutput,
  },
  actors: {
    requestEnrolment: unprovidedPromise<RequestEnrolmentOutput, RequestEnrolmentInput>("meter", "requestEnrolment"),
    bidSession,
  },
  delays: {
    enrolRetryDelay: ({ context }) =>
      backoffMs(context.enrolFailures, context.config.meter.enrolRetryBaseMs, context.config.meter.enrolRetryMaxMs),
  },
  guards: {
    enrolRetriesLeft: ({ context }) =>
      context.config.meter.enrolMaxAttempts === 0 || context.enrolFailures + 1 < context.config.meter.enrolMaxAttempts,
    noActiveSessions: ({ context }) => Object.keys(context.sessions).length === 0,
  },
  actions: {
    recordIfMalformed: assign(({ context, event }) => ({
      errors: meterEvents.recordIfMalformed(context.errors, event, context.config.maxRecordedErrors),
    })),
    recordEnrolmentFailure: assign(({ context }, params: { kind: "invalidOutput" | "effectFailed"; detail: string }) => ({
      enrolFailures: context.enrolFailures + 1,
      errors: recordError(context, { kind: params.kind, source: "requestEnrolment", detail: params.detail }),
    })),
    queuePlannedBids: assign(({ context, event }) => {
      const parsed = meterEvents.parse(event);
      if (parsed?.type !== "BIDS.PLANNED") return {};
      const known = new Set([...context.queue.map((b) => b.planId), ...Object.values(context.sessions).map((s) => s.planId)]);
      const accepted: QueuedBid[] = [];
      let errors = context.errors;
      for (const bid of parsed.bids) {
        const problem = known.has(bid.planId) ? `duplicate planId ${bid.planId}` : context.market === null ? null : plannedBidProblem(bid, context.market);
        if (problem !== null) {
          errors = appendError(errors, { kind: "rejected", source: "BIDS.PLANNED", detail: problem }, context.config.maxRecordedErrors);
          continue;
        }
        known.add(bid.planId);
        accepted.push({ ...bid, attempt: 1 });
      }
      return { queue: [...context.queue, ...accepted], errors };
    }),
    /** Starts sessions from the queue while there are free slots (after enrolment, not while draining). */
    startQueuedBids: enqueueActions(({ context, enqueue }) => {
      const market = context.market;
      if (!market) return;
      const queue = [...context.queue];
      const sessions = { ...context.sessions };
      let seq = context.nextSessionSeq;
      let started = 0;
      let errors = context.errors;
      while (Object.keys(sessions).length < context.config.meter.maxConcurrentBids && queue.length > 0) {
        const bid = queue.shift() as QueuedBid;
        const problem = plannedBidProblem(bid, market);
        if (problem !== null) {
          errors = appendError(errors, { kind: "rejected", source: "startQueuedBids", detail: problem }, context.config.maxRecordedErrors);
          continue;
        }
        const sessionId = `s${seq}:${bid.planId}#${bid.attempt}`;
        seq += 1;
        started += 1;
        sessions[sessionId] = { ...bid, sessionId, bidder: null };
        enqueue.spawnChild("bidSession", {
          id: sessionId,
          input: {
            config: context.config,
            sessionId,
            planId: bid.planId,
            attempt: bid.attempt,
            side: bid.side,
            priceLevel: bid.priceLevel,
            quantityWh: bid.quantityWh,
            market,
            slot: bid.slot ?? null,
          },
        });
      }
      if (started > 0 || errors !== context.errors)
        enqueue.assign({
          queue,
          sessions,
          nextSessionSeq: seq,
          errors,
          stats: { ...context.stats, sessions: context.stats.sessions + started },
        });
    }),
    noteSessionBidder: assign(({ context, event }) => {
      const parsed = meterEvents.parse(event);
      if (parsed?.type !== "BID.SESSION.IDENTIFIED") return {};
      const session = context.sessions[parsed.sessionId];
      if (!session) return {};
      return { sessions: { ...context.sessions, [parsed.sessionId]: { ...session, bidder: parsed.bidder } } };
    }),
    /** Records the outcome and queues the re-bid (remainder or whole) at the front, with a fresh session. */
    concludeSession: assign(({ context, event }) => {
      const parsed = meterEvents.parse(event);
      if (parsed?.type !== "BID.SESSION.ENDED") return {};
      const ended = parsed as BidSessionEnded;
      const session = context.sessions[ended.sessionId];
      if (!session) return {};
      const { [ended.sessionId]: _finished, ...sessions } = context.sessions;
      const record: SessionRecord = {
        sessionId: ended.sessionId,
        planId: ended.planId,
        attempt: ended.attempt,
        bidder: ended.bidder,
        outcome: ended.outcome,
      };
      const outcomes = [...context.outcomes, record].slice(-context.config.meter.outcomeHistory);
      let stats = countOutcome(context.stats, ended.outcome);
      let queue = context.queue;
      let abandoned = context.abandoned;
      const decision = session.remainderQueued === true && ended.outcome.kind === "settled" ? null : rebidAfter(session, session, ended.outcome);
      if (decision && "bid" in decision) {
        if (decision.bid.attempt > context.config.meter.maxAttemptsPerPlan)
          abandoned = [
            ...abandoned,
            { planId: session.planId, attempt: session.attempt, reason: `maxAttemptsPerPlan after ${ended.outcome.kind}` },
          ];
        else {
          queue = [decision.bid, ...queue];
          stats = { ...stats, rebids: stats.rebids + 1 };
        }
      } else if (decision && "abandon" in decision)
        abandoned = [...abandoned, { planId: session.planId, attempt: session.attempt, reason: decision.abandon }];
      return { sessions, outcomes, stats, queue, abandoned };
    }),
    /** Version 2: the remainder of an accepted trade is re-bid at once, while its slot is open (PROTOCOL §5 step 4). */
    queueRemainder: assign(({ context, event }) => {
      const parsed = meterEvents.parse(event);
      if (parsed?.type !== "BID.SESSION.FILLED") return {};
      const session = context.sessions[parsed.sessionId];
      if (!session || session.remainderQueued) return {};
      const sessions = { ...context.sessions, [parsed.sessionId]: { ...session, remainderQueued: true } };
      if (parsed.remainderWh === 0) return { sessions };
      const attempt = session.attempt + 1;
      if (attempt > context.config.meter.maxAttemptsPerPlan)
        return { sessions, abandoned: [...context.abandoned, { planId: session.planId, attempt: session.attempt, reason: "maxAttemptsPerPlan after a partial fill" }] };
      const { sessionId: _id, bidder: _bidder, remainderQueued: _queued, ...plan } = session;
      return {
        sessions,
        queue: [{ ...plan, quantityWh: parsed.remainderWh, attempt }, ...context.queue],
        stats: { ...context.stats, rebids: context.stats.rebids + 1 },
      };
    }),
    /** Routes gateway/DSO notices to the session(s) they concern; stray notices are recorded, never fatal. */
    routeToSession: enqueueActions(({ context, event, enqueue, self }) => {
      const parsed = meterEvents.parse(event);
      if (!parsed) return;
      const children = self.getSnapshot().children as Record<string, { getSnapshot(): { status: string } } | undefined>;
      const live = Object.values(context.sessions).filter((s) => children[s.sessionId]?.getSnapshot().status === "active");
      let targets: ActiveSession[] = [];
      switch (parsed.type) {
        case "MATCH.RECEIVED":
          // The gateway publishes every match to every meter: not being involved is normal, not an error.
          targets = live.filter(
            (s) => sameAddress(s.bidder, parsed.match.buyBidder) || sameAddress(s.bidder, parsed.match.sellBidder),
          );
          break;
        case "BID.CANCEL":
          targets = live.filter((s) => s.planId === parsed.planId);
          break;
        case "BID.EXPIRED":
        case "BID.REJECTED":
        case "BID.CANCELLED":
        case "TERMS.RECEIVED":
        case "MATCH.VOIDED":
        case "TRADE.DISPUTED":
        case "SETTLEMENT.RECEIVED":
          targets = live.filter((s) => sameAddress(s.bidder, parsed.bidder));
          if (targets.length === 0)
            enqueue.assign({
              errors: recordError(context, {
                kind: "unroutable",
                source: parsed.type,
                detail: `no running session for bidder ${parsed.bidder}`,
              }),
            });
          break;
        default:
          return;
      }
      for (const target of targets) enqueue.sendTo(target.sessionId, parsed as BidSessionEvent);
    }),
    /** XState keeps finished children until stopped: stop the session that just ended. */
    stopEndedSession: stopChild(({ event }) =>
      event.type === "BID.SESSION.ENDED" && typeof event.sessionId === "string" ? event.sessionId : "",
    ),
    dropQueuedPlan: assign(({ context, event }) => {
      const parsed = meterEvents.parse(event);
      if (parsed?.type !== "BID.CANCEL") return {};
      const dropped = context.queue.filter((b) => b.planId === parsed.planId);
      if (dropped.length === 0) return {};
      return {
        queue: context.queue.filter((b) => b.planId !== parsed.planId),
        stats: { ...context.stats, cancelled: context.stats.cancelled + dropped.length },
      };
    }),
  },
}).createMachine({
  id: "meter",
  context: ({ input }) => {
    const accepted: QueuedBid[] = [];
    const seen = new Set<string>();
    for (const bid of input.plan ?? []) {
      if (!plannedBidSchema.safeParse(bid).success || seen.has(bid.planId)) continue;
      seen.add(bid.planId);
      accepted.push({ ...bid, attempt: 1 });
    }
    return {
      config: input.config,
      meterId: input.meterId,
      market: null,
      enrolFailures: 0,
      queue: accepted,
      sessions: {},
      nextSessionSeq: 1,
      outcomes: [],
      abandoned: [],
      stats: {
        sessions: 0,
        settled: 0,
        voided: 0,
        disputed: 0,
        expired: 0,
        closed: 0,
        cancelled: 0,
        rejected: 0,
        failed: 0,
        rebids: 0,
        filledWh: 0,
      },
      errors: [],
    };
  },
  output: ({ context }) => ({ stats: context.stats, queue: context.queue, enrolled: context.market !== null }),
  on: {
    // Before enrolment, bids are only queued; malformed events of any known type are recorded.
    ...meterEvents.fallback("recordIfMalformed"),
    "BIDS.PLANNED": { actions: ["recordIfMalformed", "queuePlannedBids"] },
    "BID.CANCEL": { actions: ["recordIfMalformed", "dropQueuedPlan"] },
    "SHUTDOWN.REQUESTED": ".stopped",
  },
  initial: "enrolling",
  states: {
    enrolling: {
      tags: ["enrolling"],
      invoke: {
        id: "requestEnrolment",
        src: "requestEnrolment",
        input: ({ context }) => ({ meterId: context.meterId }),
        onDone: [
          {
            guard: ({ event }) => marketDescriptionSchema.safeParse(event.output?.market).success,
            target: "ready",
            actions: assign({ market: ({ event }) => event.output.market, enrolFailures: 0 }),
          },
          {
            target: "enrolmentBackoff",
            actions: {
              type: "recordEnrolmentFailure",
              params: ({ event }) => ({
                kind: "invalidOutput" as const,
                detail: describeIssues(marketDescriptionSchema.safeParse(event.output?.market).error ?? new z.ZodError([])),
              }),
            },
          },
        ],
        onError: [
          {
            guard: "enrolRetriesLeft",
            target: "enrolmentBackoff",
            actions: { type: "recordEnrolmentFailure", params: ({ event }) => ({ kind: "effectFailed" as const, detail: describeError(event.error) }) },
          },
          {
            target: "enrolmentFailed",
            actions: { type: "recordEnrolmentFailure", params: ({ event }) => ({ kind: "effectFailed" as const, detail: describeError(event.error) }) },
          },
        ],
      },
    },
    enrolmentBackoff: {
      tags: ["enrolling"],
      after: { enrolRetryDelay: "enrolling" },
    },
    ready: {
      tags: ["ready"],
      entry: "startQueuedBids",
      on: {
        "BIDS.PLANNED": { actions: ["recordIfMalformed", "queuePlannedBids", "startQueuedBids"] },
        "BID.CANCEL": { actions: ["recordIfMalformed", "dropQueuedPlan", "routeToSession"] },
        "BID.SESSION.IDENTIFIED": { actions: ["recordIfMalformed", "noteSessionBidder"] },
        "BID.SESSION.FILLED": { actions: ["recordIfMalformed", "queueRemainder", "startQueuedBids"] },
        "BID.SESSION.ENDED": { actions: ["recordIfMalformed", "concludeSession", "stopEndedSession", "startQueuedBids"] },
        ...sessionNotices,
        "SHUTDOWN.REQUESTED": "draining",
      },
    },
    // Sessions already running are finished (their trades may be in flight); queued bids stay unplaced.
    draining: {
      tags: ["draining"],
      always: { guard: "noActiveSessions", target: "stopped" },
      on: {
        "BIDS.PLANNED": { actions: ["recordIfMalformed", "queuePlannedBids"] },
        "BID.CANCEL": { actions: ["recordIfMalformed", "dropQueuedPlan", "routeToSession"] },
        "BID.SESSION.IDENTIFIED": { actions: ["recordIfMalformed", "noteSessionBidder"] },
        "BID.SESSION.FILLED": { actions: ["recordIfMalformed", "queueRemainder"] },
        "BID.SESSION.ENDED": { actions: ["recordIfMalformed", "concludeSession", "stopEndedSession"] },
        ...sessionNotices,
        "SHUTDOWN.REQUESTED": {},
      },
    },
    stopped: { type: "final", tags: ["stopped"] },
    enrolmentFailed: { type: "final", tags: ["stopped"] },
  },
});

export type MeterMachine = typeof meter;
export type MeterSnapshot = SnapshotFrom<typeof meter>;
export type MeterImplementations = MachineImplementationsFrom<typeof meter>;

/** Every effect of a meter, its bid sessions' included, as plain async functions. */
export type MeterEffects = {
  requestEnrolment: Effect<RequestEnrolmentInput, RequestEnrolmentOutput>;
  bidSession: BidSessionEffects;
};

/** Provides every effect at once (the type requires all of them). */
export function provideMeter(effects: MeterEffects): MeterMachine {
  return meter.provide({
    actors: {
      requestEnrolment: promiseEffect(effects.requestEnrolment),
      bidSession: provideBidSession(effects.bidSession),
    },
  });
}

