// Bid submissions off the durable queue with acks deferred to the machine's decision (PROTOCOL §5 bidding, §6 JetStream).
//
// `consumeDurable` acks when its handler returns, one message at a time; the gateway must hold many deliveries open
// at once (they are batched into one transaction and acked only after its receipt), so it pulls itself: bounded
// fetches, at most `maxOutstanding` unsettled deliveries, `working()` keep-alives while they wait, and a nak for
// everything still open when it stops (redelivered at once to the next gateway).
import type { Consumer, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { ClosedConnectionError, DrainingConnectionError } from "@nats-io/transport-node";
import { SpanStatusCode, type Span, type SpanContext, type Tracer } from "@opentelemetry/api";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "../telemetry/logger.ts";
import { terminate } from "../nats/jetstream.ts";
import { extractHeaders } from "../nats/tracing.ts";
import type { ReadBid, RefusedDelivery } from "./bidWire.ts";
import { GATEWAY_ATTRIBUTES } from "./spans.ts";
import type { GatewayBid as MachineBid } from "../../machines/gateway.ts";
import { toAddress } from "../../protocol/base/hex.ts";

export type { RefusedDelivery } from "./bidWire.ts";

/** The machine's message ids of bid deliveries: the stream sequence behind this prefix (stable across redeliveries). */
export const BID_MESSAGE_PREFIX = "bid:";

/** A delivery the machine must decide on. `messageId` is stable across redeliveries of the same stream message. */
export type BidDelivery = { messageId: string; bid: MachineBid };

export type BidIntakeOptions = {
  js: JetStreamClient;
  stream: string;
  durable: string;
  tracer: Tracer;
  logger: Logger;
  marketId: string;
  /** Unsettled deliveries at most (the machine's pending + in-flight bids); more wait on the server. */
  maxOutstanding: number;
  /** How long one pull waits for messages; `stop()` takes at most this long. */
  fetchExpiresMs: number;
  /** The market design's reader: a delivery → the machine's bid, or a named refusal (bidWire.ts). */
  readBid: ReadBid;
  deliver(delivery: BidDelivery): void;
  /**
   * Whether the machine holds this delivery (pending or in flight). Only those are kept alive: a delivery the intake
   * holds open and the machine does not is handed to the machine again, or back to the queue when it is not running,
   * so no delivery can sit unacknowledged for good.
   */
  holds(messageId: string): boolean;
  /** A refused delivery was terminated; the runtime announces it (`market.rejected`) when it names a bidder. */
  refused(refusal: RefusedDelivery): Promise<void>;
};

export type BidIntake = {
  /** Acks (placed, duplicate) or terminates (rejected, malformed) deliveries after the machine decided. */
  settle(messageIds: readonly string[], outcome: "ack" | "term", reason: string): Promise<void>;
  /** The machine decided on these and their settle follows (after a rejection notice): keep them alive meanwhile. */
  settling(messageIds: readonly string[]): void;
  nak(messageIds: readonly string[], delayMs: number): void;
  bidderOf(messageId: string): string | undefined;
  /** The `gateway.bid` span context of a bidder's latest delivery (for links from batch and match spans). */
  spanContextOf(bidder: string): SpanContext | undefined;
  outstanding(): number;
  /** Stops pulling (the fetch in progress ends within `fetchExpiresMs`); open deliveries stay open. */
  stopPulling(): Promise<void>;
  /** Naks every open delivery (0 delay) and ends their spans: the next gateway gets them at once. */
  releaseAll(): void;
};

type OpenDelivery = { msg: JsMsg; span: Span; bidder: string; bid: MachineBid; settling: boolean };

/** Span contexts kept for links: bounded, oldest first out (a match can come long after its bids). */
const MAX_REMEMBERED_SPANS = 50_000;

export async function startBidIntake(options: BidIntakeOptions): Promise<BidIntake> {
  const { logger, tracer } = options;
  const consumer: Consumer = await options.js.consumers.get(options.stream, options.durable);
  const info = await consumer.info(true);
  const ackWaitMs = Math.max(1, Math.floor((info.config.ack_wait ?? 30_000_000_000) / 1_000_000));
  const open = new Map<string, OpenDelivery>();
  const spanContexts = new Map<string, SpanContext>();
  let stopping = false;
  let wakeUp: (() => void) | null = null;

  const remember = (bidder: string, spanContext: SpanContext): void => {
    const key = toAddress(bidder);
    spanContexts.delete(key);
    spanContexts.set(key, spanContext);
    if (spanContexts.size > MAX_REMEMBERED_SPANS) {
      const oldest = spanContexts.keys().next();
      if (!oldest.done) spanContexts.delete(oldest.value);
    }
  };

  // Tell the server the deliveries are still being worked on, so none is redelivered while its batch is mined. Only
  // what the machine holds (or has decided on) is kept alive; a delivery it lost is handed to it again, or back to
  // the queue when it is not running.
  const keepAlive = setInterval(() => {
    for (const [messageId, delivery] of open) {
      if (!delivery.settling && !options.holds(messageId)) {
        logger.warn({ seq: delivery.msg.seq, bidder: delivery.bidder }, "a delivery the machine did not hold: handing it over again");
        options.deliver({ messageId, bid: delivery.bid });
        if (!options.holds(messageId)) {
          open.delete(messageId);
          delivery.msg.nak();
          endSpan(delivery.span, "released");
          continue;
        }
      }
      delivery.msg.working();
    }
  }, Math.max(100, Math.floor(ackWaitMs / 3)));

  const endSpan = (span: Span, disposition: string, error?: string): void => {
    span.setAttribute(GATEWAY_ATTRIBUTES.disposition, disposition);
    if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
    span.end();
  };

  const refuse = async (msg: JsMsg, span: Span, refusal: RefusedDelivery): Promise<void> => {
    logger.warn({ seq: msg.seq, bidder: refusal.bidder, error: refusal.error, detail: refusal.detail }, "bid submission refused");
    try {
      await options.refused(refusal);
    } catch (error) {
      logger.warn({ seq: msg.seq, err: error }, "could not announce a refused bid");
    }
    terminate(msg);
    endSpan(span, "malformed", refusal.error);
  };

  const handle = async (msg: JsMsg): Promise<void> => {
    const messageId = `${BID_MESSAGE_PREFIX}${msg.seq}`;
    const span = tracer.startSpan(
      "gateway.bid",
      {
        attributes: {
          [GATEWAY_ATTRIBUTES.marketId]: options.marketId,
          [GATEWAY_ATTRIBUTES.streamSeq]: msg.seq,
          [GATEWAY_ATTRIBUTES.deliveryCount]: msg.info.deliveryCount,
        },
      },
      // The meter's `meter.submit` context travels in the message headers.
      extractHeaders(msg),
    );
    const read = options.readBid(msg);
    if (!read.ok) {
      if (read.refusal.bidder !== null) span.setAttribute(GATEWAY_ATTRIBUTES.bidder, read.refusal.bidder);
      await refuse(msg, span, read.refusal);
      return;
    }
    const { bidder, bid } = read;
    span.setAttribute(GATEWAY_ATTRIBUTES.bidder, bidder);
    const previous = open.get(messageId);
    if (previous !== undefined) {
      // A redelivery of a message we still hold (its ack wait ran out): keep one handle, the newest.
      endSpan(previous.span, "redelivered");
    }
    open.set(messageId, { msg, span, bidder, bid, settling: false });
    remember(bidder, span.spanContext());
    options.deliver({ messageId, bid });
  };

  const done = (async () => {
    let failures = 0;
    while (!stopping) {
      const room = options.maxOutstanding - open.size;
      if (room <= 0) {
        // Full: wait for the machine to settle something (or poll, in case a settle raced this check).
        await Promise.race([new Promise<void>((resolve) => (wakeUp = resolve)), sleep(250)]);
        wakeUp = null;
        continue;
      }
      try {
        const batch = await consumer.fetch({ max_messages: room, expires: options.fetchExpiresMs });
        for await (const msg of batch) {
          if (stopping) {
            msg.nak();
            continue;
          }
          try {
            await handle(msg);
          } catch (error) {
            // A bug in our own handling must not lose the message: the server redelivers it.
            logger.error({ seq: msg.seq, err: error }, "bid delivery handling failed; nak'ed");
            msg.nak(1_000);
          }
        }
        failures = 0;
      } catch (error) {
        if (stopping || error instanceof ClosedConnectionError || error instanceof DrainingConnectionError) break;
        failures += 1;
        const delay = Math.min(250 * 2 ** Math.min(failures - 1, 6), 10_000);
        logger.warn({ err: error, retryInMs: delay }, "bid fetch failed; retrying");
        await sleep(delay);
      }
    }
  })();

  const take = (messageId: string): OpenDelivery | undefined => {
    const delivery = open.get(messageId);
    if (delivery !== undefined) open.delete(messageId);
    return delivery;
  };

  return {
    async settle(messageIds, outcome, reason) {
      const settled = messageIds.flatMap((id) => {
        const delivery = take(id);
        return delivery === undefined ? [] : [delivery];
      });
      wakeUp?.();
      await Promise.all(
        settled.map(async ({ msg, span }) => {
          try {
            if (outcome === "ack") await msg.ackAck();
            else terminate(msg);
          } catch (error) {
            // The work is done and idempotent (a reused bidder is a duplicate): a redelivery is harmless.
            logger.warn({ seq: msg.seq, err: error }, "ack not confirmed; the bid may be redelivered");
          }
          endSpan(span, reason);
        }),
      );
    },
    settling(messageIds) {
      for (const id of messageIds) {
        const delivery = open.get(id);
        if (delivery !== undefined) delivery.settling = true;
      }
    },
    nak(messageIds, delayMs) {
      for (const id of messageIds) {
        const delivery = take(id);
        if (delivery === undefined) continue;
        delivery.msg.nak(delayMs);
        endSpan(delivery.span, "naked");
      }
      wakeUp?.();
    },
    bidderOf: (messageId) => open.get(messageId)?.bidder,
    spanContextOf: (bidder) => spanContexts.get(toAddress(bidder)),
    outstanding: () => open.size,
    async stopPulling() {
      stopping = true;
      wakeUp?.();
      await done;
    },
    releaseAll() {
      clearInterval(keepAlive);
      for (const [id, delivery] of open) {
        open.delete(id);
        delivery.msg.nak();
        endSpan(delivery.span, "released");
      }
    },
  };
}
