// The gateway machine's fire-and-forget actions: what becomes of each delivery it settled (ack, terminate, nak), and
// the rejection notice of a refused bid. They never throw: a failure is logged (PROTOCOL §6: nothing accepted is lost,
// because an unsettled delivery is redelivered).
import type { EventEmitter } from "node:events";
import type { GatewayActions, GatewayAckParams } from "../../machines/gateway.ts";
import { describeError } from "../../machines/kit/errors.ts";
import type { TrackedWork } from "../runtime/trackedWork.ts";
import type { Logger } from "../telemetry/logger.ts";
import { BID_MESSAGE_PREFIX, type BidIntake } from "./bidIntake.ts";
import { CANCEL_MESSAGE_PREFIX, type CancelService } from "./cancels.ts";
import type { NoticePublisher } from "./notices.ts";
import { toAddress } from "../../protocol/base/hex.ts";

export type SettledDeliveries = { messageIds: string[]; disposition: GatewayAckParams["disposition"] | "naked" };

export type DispositionOptions = {
  logger: Logger;
  work: TrackedWork;
  intake(): BidIntake;
  cancels(): CancelService;
  notices: NoticePublisher;
  /** The contract's detail of a rejected bid, kept by the submitter. */
  takeRejectionDetail(bidder: string): string | undefined;
  onSettled(settled: SettledDeliveries): void;
};

const isBid = (id: string) => id.startsWith(BID_MESSAGE_PREFIX);
const isCancel = (id: string) => id.startsWith(CANCEL_MESSAGE_PREFIX);

export function gatewayDispositions(options: DispositionOptions): GatewayActions {
  const { logger, work } = options;
  const rejectionAnnouncements = new Map<string, Promise<void>>();

  return {
    ackMessages: ({ messageIds, disposition }) => {
      try {
        options.cancels().settle(messageIds.filter(isCancel), disposition);
        const bidIds = messageIds.filter(isBid);
        if (bidIds.length === 0) return;
        options.onSettled({ messageIds: [...bidIds], disposition });
        const intake = options.intake();
        if (disposition === "placed" || disposition === "duplicate") {
          work.track(intake.settle(bidIds, "ack", disposition), "acking deliveries");
          return;
        }
        // Terminated deliveries wait for their rejection notice, so the meter hears of it even if we die now (the
        // redelivery would be rejected and announced again). The machine may enqueue the notice after the ack.
        intake.settling(bidIds);
        work.track(
          new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
            const announcements = bidIds.flatMap((id) => {
              const bidder = intake.bidderOf(id);
              const announcement = bidder === undefined ? undefined : rejectionAnnouncements.get(toAddress(bidder));
              return announcement === undefined ? [] : [announcement];
            });
            await Promise.allSettled(announcements);
            await intake.settle(bidIds, "term", disposition);
          }),
          "terminating deliveries",
        );
      } catch (error) {
        logger.error({ err: error, disposition }, "ack failed");
      }
    },

    nakMessages: ({ messageIds, delayMs }) => {
      try {
        options.cancels().settle(messageIds.filter(isCancel), "naked");
        const bidIds = messageIds.filter(isBid);
        if (bidIds.length === 0) return;
        logger.warn({ count: bidIds.length, delayMs }, "bids handed back to the queue");
        options.onSettled({ messageIds: [...bidIds], disposition: "naked" });
        options.intake().nak(bidIds, delayMs);
      } catch (error) {
        logger.error({ err: error }, "nak failed");
      }
    },

    notifyBidRejected: ({ bidder, rejection }) => {
      const key = toAddress(bidder);
      const detail = rejection.detail || (options.takeRejectionDetail(bidder) ?? "");
      logger.info({ bidder, error: rejection.error }, "bid rejected");
      const announcement = options.notices
        .announceRejection(bidder, { error: rejection.error, detail })
        .catch((error: unknown) => logger.warn({ bidder, err: describeError(error) }, "could not publish a rejection notice"))
        .finally(() => {
          if (rejectionAnnouncements.get(key) === announcement) rejectionAnnouncements.delete(key);
        });
      rejectionAnnouncements.set(key, announcement);
      work.track(announcement);
    },
  };
}
