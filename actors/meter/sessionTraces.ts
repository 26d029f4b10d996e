// Tracing of a meter's bid sessions (PROTOCOL §6 trace context): one root span `meter.bid` per session (a new trace per bid), its steps
// as child spans, and the session machine's transitions recorded on it. Attributes never carry a price level,
// quantity, salt, α, β, msk or key.
import {
  ROOT_CONTEXT,
  SpanStatusCode,
  context,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type Tracer,
} from "@opentelemetry/api";
import type { AnyActorRef } from "xstate";
import { recordTransitions, stateValueText } from "../telemetry/transitions.ts";
import { outcomeReason, type BidSessionInput, type BidSessionOutput } from "../../machines/bidSession.ts";
import { type Address, toAddress } from "../../protocol/base/hex.ts";
import { type Side } from "../../protocol/domain.ts";

/** Attribute names of the meter's spans. */
export const attr = {
  market: "gridveil.market.id",
  trade: "gridveil.trade.id",
  bidder: "gridveil.bidder",
  counterpart: "gridveil.counterpart",
  side: "gridveil.side",
  session: "gridveil.bid.session",
  attempt: "gridveil.bid.attempt",
  outcome: "gridveil.bid.outcome",
  reason: "gridveil.reason",
  valid: "gridveil.opening.valid",
  duplicate: "gridveil.nats.duplicate",
  streamSeq: "gridveil.nats.stream_seq",
  txHash: "gridveil.tx.hash",
  block: "gridveil.tx.block",
  fault: "gridveil.fault",
  postings: "gridveil.settlement.postings",
  inbox: "gridveil.meter.inbox",
} as const;

export type SessionTrace = {
  sessionId: string;
  planId: string;
  attempt: number;
  side: Side;
  span: Span;
  /** Context whose active span is `meter.bid`: the parent of every step span of this session. */
  context: Context;
  bidder: Address | null;
  /** When the session entered `trading.delivering` (start of the `meter.delivery` span). */
  deliveringSince: number | null;
};

export type SessionEnd = { trace: SessionTrace; output: BidSessionOutput | null };

/** Starts a span as a child of `parent`, runs `fn` in its context, records a failure, always ends it. */
export async function inSpan<T>(
  tracer: Tracer,
  name: string,
  parent: Context,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
  options: { links?: Link[]; startTime?: number } = {},
): Promise<T> {
  const span = tracer.startSpan(
    name,
    { attributes, ...(options.links ? { links: options.links } : {}), ...(options.startTime ? { startTime: options.startTime } : {}) },
    parent,
  );
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: shortReason(error) });
    throw error;
  } finally {
    span.end();
  }
}

/** First line of an error, for span statuses and logs (never a value: errors of secure modules redact theirs). */
export function shortReason(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (text.split("\n")[0] ?? text).slice(0, 300);
}

/** The link to a remote span (e.g. the gateway's) carried in a message's headers, if any. */
export function linkTo(remote: Context): Link[] {
  const spanContext = trace.getSpanContext(remote);
  return spanContext && trace.isSpanContextValid(spanContext) ? [{ context: spanContext }] : [];
}

export class SessionTraces {
  readonly #tracer: Tracer;
  readonly #marketId: string;
  readonly #onEnded: (end: SessionEnd) => void;
  readonly #bySession = new Map<string, SessionTrace>();
  readonly #byBidder = new Map<string, SessionTrace>();
  readonly #cleanups = new Map<string, () => void>();

  constructor(tracer: Tracer, marketId: string, onEnded: (end: SessionEnd) => void) {
    this.#tracer = tracer;
    this.#marketId = marketId;
    this.#onEnded = onEnded;
  }

  get tracer(): Tracer {
    return this.#tracer;
  }

  /**
   * A bid session child was created: start its root span. Transitions are recorded from the next microtask, once
   * XState has built the child's first snapshot (it announces the actor before that).
   */
  open(actor: AnyActorRef, input: BidSessionInput): SessionTrace {
    const span = this.#tracer.startSpan(
      "meter.bid",
      {
        root: true,
        attributes: {
          [attr.market]: this.#marketId,
          [attr.session]: input.sessionId,
          [attr.attempt]: input.attempt,
          [attr.side]: input.side,
        },
      },
      ROOT_CONTEXT,
    );
    const session: SessionTrace = {
      sessionId: input.sessionId,
      planId: input.planId,
      attempt: input.attempt,
      side: input.side,
      span,
      context: trace.setSpan(ROOT_CONTEXT, span),
      bidder: null,
      deliveringSince: null,
    };
    this.#bySession.set(session.sessionId, session);
    queueMicrotask(() => this.#watch(actor, session));
    return session;
  }

  #watch(actor: AnyActorRef, session: SessionTrace): void {
    if (!this.#bySession.has(session.sessionId)) return;
    const snapshot = actor.getSnapshot() as { status?: string; value?: unknown; output?: unknown };
    if (snapshot.status !== "active") {
      this.#end(session, snapshot.status === "done" ? (snapshot.output as BidSessionOutput) : null);
      return;
    }
    const stopRecording = recordTransitions(actor, session.span, "bidSession");
    const subscription = actor.subscribe({
      next: (next: { status?: string; value?: unknown; output?: unknown }) => {
        const state = stateValueText(next.value);
        if (session.deliveringSince === null && state === "trading.delivering") session.deliveringSince = Date.now();
        if (next.status === "done") this.#end(session, next.output as BidSessionOutput);
      },
      error: () => this.#end(session, null),
      // A child stopped by its parent (meter shutdown) completes without an output.
      complete: () => this.#end(session, null),
    });
    this.#cleanups.set(session.sessionId, () => {
      stopRecording();
      subscription.unsubscribe();
    });
  }

  #end(session: SessionTrace, output: BidSessionOutput | null): void {
    if (!this.#bySession.delete(session.sessionId)) return;
    if (session.bidder) this.#byBidder.delete(toAddress(session.bidder));
    this.#cleanups.get(session.sessionId)?.();
    this.#cleanups.delete(session.sessionId);
    const outcome = output?.outcome;
    session.span.setAttribute(attr.outcome, outcome?.kind ?? "stopped");
    if (outcome && "matchId" in outcome && outcome.matchId) session.span.setAttribute(attr.trade, outcome.matchId);
    const reason = outcome ? outcomeReason(outcome) : undefined;
    if (outcome?.kind === "failed" || outcome?.kind === "rejected") session.span.setStatus({ code: SpanStatusCode.ERROR, message: (reason ?? "").slice(0, 300) });
    if (reason !== undefined) session.span.setAttribute(attr.reason, reason.slice(0, 300));
    session.span.end();
    this.#onEnded({ trace: session, output });
  }

  identify(sessionId: string, bidder: Address): SessionTrace | undefined {
    const session = this.#bySession.get(sessionId);
    if (!session) return undefined;
    session.bidder = bidder;
    session.span.setAttribute(attr.bidder, bidder);
    this.#byBidder.set(toAddress(bidder), session);
    return session;
  }

  bySession(sessionId: string): SessionTrace | undefined {
    return this.#bySession.get(sessionId);
  }

  byBidder(bidder: string): SessionTrace | undefined {
    return this.#byBidder.get(toAddress(bidder));
  }

  /** Context for a step of `bidder`'s session (its `meter.bid` span), or a fresh root if the session is gone. */
  contextOf(bidder: string): Context {
    return this.byBidder(bidder)?.context ?? ROOT_CONTEXT;
  }

  /** A step span of the bid, around `fn`. */
  step<T>(
    bidder: string,
    name: string,
    attributes: Attributes,
    fn: (span: Span) => Promise<T>,
    options: { links?: Link[]; startTime?: number } = {},
  ): Promise<T> {
    return inSpan(
      this.#tracer,
      name,
      this.contextOf(bidder),
      { [attr.market]: this.#marketId, [attr.bidder]: bidder, ...attributes },
      fn,
      options,
    );
  }

  /** Ends every open session span (runtime stopped before its sessions ended). */
  endAll(): void {
    for (const session of [...this.#bySession.values()]) this.#end(session, null);
  }
}
