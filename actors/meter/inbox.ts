// The meter's own inbox subjects (DSO → meter, PROTOCOL §5 trading steps 3, 5, 7): terms, voids, disputes, settlements.
import type { NatsConnection } from "@nats-io/transport-node";
import { listen, type AdapterLogger, type Service } from "../nats/rpc.ts";
import { inboxChannels } from "../../protocol/wire/endpoints.ts";
import {
  type DisputedNotice,
  type SettlementNotice,
  type TradeTermsMessage,
  type VoidedNotice,
} from "../../protocol/wire/schemas.ts";
import type { MarketSubjects } from "../../protocol/wire/subjects.ts";

export type InboxHandlers = {
  terms: (message: TradeTermsMessage) => void | Promise<void>;
  voided: (notice: VoidedNotice) => void | Promise<void>;
  disputed: (notice: DisputedNotice) => void | Promise<void>;
  settled: (notice: SettlementNotice) => void | Promise<void>;
};

/**
 * Subscribes the four inbox subjects. Each message is validated with its schema first; a malformed one, or one a
 * handler refuses (e.g. terms not sealed by the DSO), is logged and dropped (answered with an error if it was a
 * request) — the meter keeps running. Resolves once the server has the subscriptions.
 */
export async function subscribeInbox(
  nc: NatsConnection,
  s: MarketSubjects,
  inboxId: string,
  handlers: InboxHandlers,
  options: { logger: AdapterLogger; onFailure?: (error: unknown, subject: string) => void },
): Promise<Service[]> {
  const common = {
    logger: options.logger,
    onFailure: (error: unknown, msg: { subject: string }) => options.onFailure?.(error, msg.subject),
  };
  const services = [
    listen(nc, s, inboxChannels.terms, inboxId, handlers.terms, common),
    listen(nc, s, inboxChannels.voided, inboxId, handlers.voided, common),
    listen(nc, s, inboxChannels.disputed, inboxId, handlers.disputed, common),
    listen(nc, s, inboxChannels.settled, inboxId, handlers.settled, common),
  ];
  await Promise.all(services.map((service) => service.ready));
  return services;
}
