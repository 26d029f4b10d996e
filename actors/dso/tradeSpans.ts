// One `dso.trade` span per match (PROTOCOL §5 trading): parent of the DSO's steps of that trade, linked to both bids' traces.
import { ROOT_CONTEXT, SpanStatusCode, context, trace, type Attributes, type Context, type Span, type SpanContext, type Tracer } from "@opentelemetry/api";
import type { AnyActorRef } from "xstate";
import { recordTransitions } from "../telemetry/transitions.ts";

/** Attribute names shared by every DSO span (never a price, quantity, salt, α, β or key). */
export const attr = {
  market: "gridveil.market.id",
  trade: "gridveil.trade.id",
  bidder: "gridveil.bidder",
  buyBidder: "gridveil.trade.buy_bidder",
  sellBidder: "gridveil.trade.sell_bidder",
  side: "gridveil.side",
  txHash: "gridveil.tx.hash",
  block: "gridveil.tx.block",
  outcome: "gridveil.trade.outcome",
  reason: "gridveil.reason",
  resumed: "gridveil.trade.resumed",
  postings: "gridveil.settlement.postings",
  status: "gridveil.trade.status",
  valid: "gridveil.opening.valid",
  code: "gridveil.reply.code",
} as const;

type OpenTrade = { span: Span; stopRecording: (() => void) | undefined };

export class TradeSpans {
  readonly #tracer: Tracer;
  readonly #marketId: string;
  readonly #open = new Map<string, OpenTrade>();

  constructor(tracer: Tracer, marketId: string) {
    this.#tracer = tracer;
    this.#marketId = marketId;
  }

  /**
   * Starts the trade's span (once): as a child of `parent` (the match message's context, i.e. the gateway's trace)
   * or as a new root for a trade resumed after a restart.
   */
  begin(tradeId: string, parent: Context, attributes: Attributes = {}): Span {
    const existing = this.#open.get(tradeId);
    if (existing) return existing.span;
    const span = this.#tracer.startSpan(
      "dso.trade",
      { attributes: { [attr.market]: this.#marketId, [attr.trade]: tradeId, ...attributes } },
      parent,
    );
    this.#open.set(tradeId, { span, stopRecording: undefined });
    return span;
  }

  get(tradeId: string): Span | undefined {
    return this.#open.get(tradeId)?.span;
  }

  /** Records the trade's tradeSettlement transitions as events on its span. */
  watch(tradeId: string, child: AnyActorRef, resumed: boolean): void {
    const open = this.#open.get(tradeId) ?? { span: this.begin(tradeId, ROOT_CONTEXT, { [attr.resumed]: resumed }), stopRecording: undefined };
    if (open.stopRecording) return;
    open.stopRecording = recordTransitions(child, open.span, "tradeSettlement");
    this.#open.set(tradeId, open);
  }

  /** Links the trade to a bid's trace (the opening message carries its bid session's context). */
  link(tradeId: string, target: SpanContext, attributes: Attributes = {}): void {
    this.#open.get(tradeId)?.span.addLink({ context: target, attributes });
  }

  /** The context in which a step of this trade runs: its spans are children of `dso.trade`. */
  contextOf(tradeId: string, base: Context = context.active()): Context {
    const span = this.get(tradeId);
    return span ? trace.setSpan(base, span) : base;
  }

  /** Runs `work` in a child span of the trade (a root span when the trade span is gone); errors mark the span. */
  async step<T>(tradeId: string, name: string, attributes: Attributes, work: (span: Span) => Promise<T>): Promise<T> {
    const parent = this.contextOf(tradeId, ROOT_CONTEXT);
    return runSpan(this.#tracer, name, { [attr.market]: this.#marketId, [attr.trade]: tradeId, ...attributes }, parent, work);
  }

  end(tradeId: string, attributes: Attributes, failed = false): void {
    const open = this.#open.get(tradeId);
    if (!open) return;
    this.#open.delete(tradeId);
    open.stopRecording?.();
    open.span.setAttributes(attributes);
    open.span.setStatus({ code: failed ? SpanStatusCode.ERROR : SpanStatusCode.OK });
    open.span.end();
  }

  /** Shutdown: every trade still open is interrupted (it lives on in the database). */
  endAll(outcome: string): void {
    for (const tradeId of [...this.#open.keys()]) this.end(tradeId, { [attr.outcome]: outcome });
  }

  get openCount(): number {
    return this.#open.size;
  }
}

/** Runs `work` inside a new active span under `parent`; a throw records the error and rethrows. */
export async function runSpan<T>(
  tracer: Tracer,
  name: string,
  attributes: Attributes,
  parent: Context,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  const span = tracer.startSpan(name, { attributes }, parent);
  try {
    const result = await context.with(trace.setSpan(parent, span), () => work(span));
    span.setStatus({ code: SpanStatusCode.OK });
    return result;
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.name : "error" });
    throw error;
  } finally {
    span.end();
  }
}
