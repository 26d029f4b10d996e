// The gateway's cancel service (PROTOCOL §5 bidding: "a bidder may cancel its open bid"): a bidder's signed cancel
// becomes the machine's CANCEL.RECEIVED; the request is answered once the machine settles it.
import type { NatsConnection } from "@nats-io/transport-node";
import { SpanStatusCode, context, type Span, type Tracer } from "@opentelemetry/api";
import type { AckDisposition } from "../../machines/gateway.ts";
import { endpoints } from "../../protocol/wire/endpoints.ts";
import { type CancelReply } from "../../protocol/wire/schemas.ts";
import { GATEWAY_QUEUE_GROUP, type MarketSubjects } from "../../protocol/wire/subjects.ts";
import { CancelRejectedError } from "./errors.ts";
import { answer, type Service } from "../nats/rpc.ts";
import type { Logger } from "../telemetry/logger.ts";
import { GATEWAY_ATTRIBUTES, GATEWAY_SPANS } from "./spans.ts";
import { errorNameOf, UNKNOWN_BID, type CancelOutcome } from "./submitter.ts";
import { sameAddress, toAddress } from "../../protocol/base/hex.ts";

/** The machine's message ids of cancel requests (beside the bid deliveries' `bid:` ids). */
export const CANCEL_MESSAGE_PREFIX = "cancel:";

type PendingCancel = { bidder: string; span: Span; resolve(reply: CancelReply): void; reject(error: unknown): void };

export type CancelServiceOptions = {
  nc: NatsConnection;
  subjects: MarketSubjects;
  marketId: string;
  tracer: Tracer;
  logger: Logger;
  /** False once the gateway stops: new requests are refused as unavailable. */
  accepting(): boolean;
  /** Hands a request to the machine. */
  deliver(messageId: string, cancel: { bidder: string; signature: string }): void;
  /** The outcome of a bidder's relayed cancel, read once (every pending request of that bidder shares it). */
  takeOutcome(bidder: string): CancelOutcome | undefined;
};

export type CancelService = {
  /** The request span of a bidder's pending cancel (the relay's transaction span is its child). */
  spanOf(bidder: string): Span | undefined;
  /** Answers the requests behind these deliveries as the machine settled them (`naked`: try again later). */
  settle(messageIds: readonly string[], disposition: AckDisposition | "naked"): void;
  /** Stops taking requests and answers the pending ones `unavailable`. */
  stop(): Promise<void>;
  ready: Promise<void>;
};

export function startCancelService(options: CancelServiceOptions): CancelService {
  const { tracer, marketId, logger } = options;
  const pending = new Map<string, PendingCancel>();
  let nextId = 0;

  const settle = (messageIds: readonly string[], disposition: AckDisposition | "naked"): void => {
    const outcomes = new Map<string, CancelOutcome | undefined>();
    const outcomeOf = (bidder: string) => {
      const key = toAddress(bidder);
      if (!outcomes.has(key)) outcomes.set(key, options.takeOutcome(bidder));
      return outcomes.get(key);
    };
    for (const id of messageIds) {
      const request = pending.get(id);
      if (request === undefined) continue;
      pending.delete(id);
      // Several requests for one bidder are merged by the machine into one relay: they share its outcome.
      const outcome = outcomeOf(request.bidder);
      const bidder = request.bidder as `0x${string}`;
      if (disposition === "cancelRelayed" && outcome?.kind === "mined") {
        request.resolve({ type: "bid.cancel.reply", bidder, status: "cancelled", txHash: outcome.tx.txHash as `0x${string}` });
      } else if (disposition === "cancelRejected" && outcome?.kind === "reverted" && outcome.reason === "BidNotOpen") {
        request.resolve({ type: "bid.cancel.reply", bidder, status: "not-open" });
      } else if (disposition === "cancelRejected" && outcome?.kind === "reverted" && outcome.reason === UNKNOWN_BID) {
        request.reject(new CancelRejectedError({ reason: "unknownBid" }));
      } else if (disposition === "cancelRejected") {
        request.reject(new CancelRejectedError({ reason: "refused", contractError: outcome?.kind === "reverted" ? outcome.reason : undefined }));
      } else if (disposition === "naked") {
        request.reject(new CancelRejectedError({ reason: "notRelayed" }));
      } else {
        request.reject(new CancelRejectedError({ reason: "malformed" }));
      }
    }
  };

  const service: Service = answer(
    options.nc,
    options.subjects,
    endpoints.cancel,
    async (request) => {
      const span = tracer.startSpan(
        GATEWAY_SPANS.cancel,
        { attributes: { [GATEWAY_ATTRIBUTES.marketId]: marketId, [GATEWAY_ATTRIBUTES.bidder]: request.bidder } },
        context.active(),
      );
      try {
        if (!options.accepting()) throw new CancelRejectedError({ reason: "stopping" });
        const messageId = `${CANCEL_MESSAGE_PREFIX}${++nextId}`;
        const reply = await new Promise<CancelReply>((resolve, reject) => {
          pending.set(messageId, { bidder: request.bidder, span, resolve, reject });
          options.deliver(messageId, { bidder: request.bidder, signature: request.signature });
        });
        span.setAttribute(GATEWAY_ATTRIBUTES.disposition, reply.status);
        if (reply.txHash !== undefined) span.setAttribute(GATEWAY_ATTRIBUTES.txHash, reply.txHash);
        return reply;
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: errorNameOf(error) });
        throw error;
      } finally {
        span.end();
      }
    },
    // One gateway of several relays each cancel (the others would only pay for a reverting transaction).
    { concurrent: true, logger, queue: GATEWAY_QUEUE_GROUP },
  );

  return {
    spanOf: (bidder) => [...pending.values()].find((request) => sameAddress(request.bidder, bidder))?.span,
    settle,
    async stop() {
      await service.stop();
      settle([...pending.keys()], "naked");
    },
    ready: service.ready,
  };
}
