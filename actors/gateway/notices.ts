// Machine notices → the wire's market events on the matches stream, deduplicated by a stable id (PROTOCOL §5 trading step 1, §6).
import type { JetStreamClient } from "@nats-io/jetstream";
import { ROOT_CONTEXT, context, trace, type Link, type SpanContext, type Tracer } from "@opentelemetry/api";
import { getBid, getBidIdOf, type MarketHandle } from "../../contracts/client/index.ts";
import type { Notice } from "../../machines/gateway.ts";
import { dedupIds, publishDeduplicated, type PublishResult } from "../nats/jetstream.ts";
import { cancelledEventSchema, expiryEventSchema, matchEventSchema, placedEventSchema, rejectedEventSchema } from "../../protocol/wire/schemas.ts";
import { marketSubjects } from "../../protocol/wire/subjects.ts";
import { UnknownExpiredBidError } from "./errors.ts";
import { GATEWAY_ATTRIBUTES, GATEWAY_SPANS } from "./spans.ts";
import { type Address } from "../../protocol/base/hex.ts";
import { SideCode, codeOfSide, sideOfCode, tradeIdOf, type Side } from "../../protocol/domain.ts";
import type { BidRejection } from "../../protocol/reasons.ts";
import type { Logger } from "../telemetry/logger.ts";

export type PublishedNotice = { kind: Notice["kind"] | "rejected"; noticeId: string; bidder?: string; tradeId?: string; duplicate: boolean };

/** What the notices read back from the contract (its design's views). */
export type NoticeChainReads = {
  /** Whether the bidder has a bid on chain (placed once, whatever became of it). */
  isOnChain(bidder: string): Promise<boolean>;
  /** An expired bid's side and expiry, for a log that names only the bidder (version 1's `BidExpired`). */
  expiryOf(bidder: string): Promise<{ side: Side; notAfter: number }>;
};

/** Version 1's reads: the market's bid id of a bidder, and its bid. */
export function unaryChainReads(market: MarketHandle): NoticeChainReads {
  return {
    isOnChain: async (bidder) => (await getBidIdOf(market, bidder)) !== undefined,
    async expiryOf(bidder) {
      const bidId = await getBidIdOf(market, bidder);
      if (bidId === undefined) throw new UnknownExpiredBidError({ bidder });
      const info = await getBid(market, bidId);
      return { side: sideOfCode(info.side), notAfter: Number(info.notAfter) };
    },
  };
}

export type NoticePublisherOptions = {
  js: JetStreamClient;
  marketId: string;
  chain: NoticeChainReads;
  tracer: Tracer;
  logger: Logger;
  /** The `gateway.bid` span context of a bidder, when this process received its submission. */
  spanContextOf(bidder: string): SpanContext | undefined;
  onPublished?(notice: PublishedNotice): void;
};

export type NoticePublisher = {
  /** Publishes one range's notices (in order); throws if any was not stored, so the machine retries the range. */
  publish(notices: readonly Notice[]): Promise<void>;
  /** `market.rejected` for a bid the gateway or the contract refused, unless the bidder is on chain after all. */
  announceRejection(bidder: string, rejection: BidRejection): Promise<void>;
};

export function createNoticePublisher(options: NoticePublisherOptions): NoticePublisher {
  const s = marketSubjects(options.marketId);
  const { js, tracer } = options;

  /** Runs a publish in the context of a bid's span (so a meter reading the notice continues its bid's trace). */
  const inBidContext = <T>(bidder: string, run: () => Promise<T>): Promise<T> => {
    const spanContext = options.spanContextOf(bidder);
    return spanContext === undefined ? run() : context.with(trace.setSpanContext(ROOT_CONTEXT, spanContext), run);
  };

  const report = (result: PublishResult, notice: Omit<PublishedNotice, "duplicate">): void => {
    options.onPublished?.({ ...notice, duplicate: result.duplicate });
  };

  const publishMatch = async (notice: Extract<Notice, { kind: "match" }>): Promise<void> => {
    const { buyBidder, sellBidder } = notice.match;
    const tradeId = tradeIdOf({ buyId: buyBidder, sellId: sellBidder, txHash: notice.at.txHash });
    const links: Link[] = [buyBidder, sellBidder].flatMap((bidder) => {
      const spanContext = options.spanContextOf(bidder);
      return spanContext === undefined ? [] : [{ context: spanContext }];
    });
    // A root span: the trade's trace starts here; the bids' traces are linked (PROTOCOL §6 trace context).
    const span = tracer.startSpan(
      GATEWAY_SPANS.match,
      {
        root: true,
        links,
        attributes: {
          [GATEWAY_ATTRIBUTES.marketId]: options.marketId,
          [GATEWAY_ATTRIBUTES.tradeId]: tradeId,
          [GATEWAY_ATTRIBUTES.matchId]: notice.noticeId,
          [GATEWAY_ATTRIBUTES.buyBidder]: buyBidder,
          [GATEWAY_ATTRIBUTES.sellBidder]: sellBidder,
          [GATEWAY_ATTRIBUTES.blockNumber]: notice.at.blockNumber,
          [GATEWAY_ATTRIBUTES.txHash]: notice.at.txHash,
        },
      },
      ROOT_CONTEXT,
    );
    try {
      const result = await context.with(trace.setSpan(ROOT_CONTEXT, span), () =>
        publishDeduplicated(
          js,
          s.market.matched,
          matchEventSchema,
          {
            type: "market.matched",
            buyId: buyBidder as Address,
            sellId: sellBidder as Address,
            txHash: notice.at.txHash as `0x${string}`,
            blockNumber: notice.at.blockNumber,
            logIndex: notice.at.logIndex,
            observedAt: Date.now(),
          },
          dedupIds.match(tradeId),
        ),
      );
      span.setAttribute("gridveil.notice.duplicate", result.duplicate);
      report(result, { kind: "match", noticeId: notice.noticeId, tradeId });
    } catch (error) {
      span.recordException(error as Error);
      throw error;
    } finally {
      span.end();
    }
  };

  const publishOne = async (notice: Notice): Promise<void> => {
    switch (notice.kind) {
      case "match":
        return publishMatch(notice);
      case "placed": {
        const result = await inBidContext(notice.bidder, () =>
          publishDeduplicated(
            js,
            s.market.placed,
            placedEventSchema,
            {
              type: "market.placed",
              bidder: notice.bidder,
              side: notice.side === "buy" ? SideCode.Buy : SideCode.Sell,
              txHash: notice.at.txHash as `0x${string}`,
              blockNumber: notice.at.blockNumber,
              observedAt: Date.now(),
            },
            dedupIds.marketEvent("placed", notice.bidder),
          ),
        );
        return report(result, { kind: "placed", noticeId: notice.noticeId, bidder: notice.bidder });
      }
      case "expired": {
        // Version 1's log names only the bidder; the schema also wants the side and the ticket's notAfter: read back.
        const expiry = notice.expiry ?? (await options.chain.expiryOf(notice.bidder));
        const result = await inBidContext(notice.bidder, () =>
          publishDeduplicated(
            js,
            s.market.expired,
            expiryEventSchema,
            {
              type: "market.expired",
              bidder: notice.bidder,
              side: codeOfSide(expiry.side),
              notAfter: expiry.notAfter,
              txHash: notice.at.txHash as `0x${string}`,
              observedAt: Date.now(),
            },
            dedupIds.marketEvent("expired", notice.bidder),
          ),
        );
        return report(result, { kind: "expired", noticeId: notice.noticeId, bidder: notice.bidder });
      }
      case "cancelled": {
        const result = await inBidContext(notice.bidder, () =>
          publishDeduplicated(
            js,
            s.market.cancelled,
            cancelledEventSchema,
            { type: "market.cancelled", bidder: notice.bidder, txHash: notice.at.txHash as `0x${string}`, observedAt: Date.now() },
            dedupIds.marketEvent("cancelled", notice.bidder),
          ),
        );
        return report(result, { kind: "cancelled", noticeId: notice.noticeId, bidder: notice.bidder });
      }
    }
  };

  return {
    async publish(notices) {
      // Started in order (one connection keeps the order on the wire), awaited together.
      await Promise.all(notices.map((notice) => publishOne(notice)));
    },
    async announceRejection(bidder, rejection) {
      // A bidder already on chain: the refused copy was a replay or a forgery, and its meter's bid stands.
      if (await options.chain.isOnChain(bidder)) {
        options.logger.info({ bidder, error: rejection.error }, "not announcing a rejection: the bidder is already on chain");
        return;
      }
      const result = await inBidContext(bidder, () =>
        publishDeduplicated(
          js,
          s.market.rejected,
          rejectedEventSchema,
          { type: "market.rejected", bidder: bidder as Address, error: rejection.error, detail: rejection.detail.slice(0, 1000), observedAt: Date.now() },
          dedupIds.marketEvent("rejected", bidder),
        ),
      );
      report(result, { kind: "rejected", noticeId: dedupIds.marketEvent("rejected", bidder), bidder });
    },
  };
}
