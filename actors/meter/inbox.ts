// The meter's own inbox subjects (DSO → meter, PROTOCOL §5 trading steps 3, 5, 7): terms, voids, disputes, settlements,
// each sealed to the meter's long-term key and signed by the DSO.
import type { NatsConnection } from "@nats-io/transport-node";
import type { AdapterLogger, Service } from "../nats/rpc.ts";
import { inboxChannels } from "../../protocol/wire/endpoints.ts";
import {
  type DisputedNotice,
  type SettlementNotice,
  type SlotTradeTermsPayload,
  type TradeTermsPayload,
  type VoidedNotice,
} from "../../protocol/wire/schemas.ts";
import type { MarketSubjects } from "../../protocol/wire/subjects.ts";
import { listenSealed } from "../secure/sealedRpc.ts";

export type InboxHandlers = {
  terms: (payload: TradeTermsPayload | SlotTradeTermsPayload) => void | Promise<void>;
  voided: (notice: VoidedNotice) => void | Promise<void>;
  disputed: (notice: DisputedNotice) => void | Promise<void>;
  settled: (notice: SettlementNotice) => void | Promise<void>;
};

/**
 * Subscribes the four inbox subjects. Each message is opened with the meter's key (only the DSO's seal is accepted)
 * and its payload validated first; a malformed or foreign one is logged and dropped — the meter keeps running.
 * Resolves once the server has the subscriptions.
 */
export async function subscribeInbox(
  nc: NatsConnection,
  s: MarketSubjects,
  inboxId: string,
  keys: { privateKey: string; dsoAddress: string },
  handlers: InboxHandlers,
  options: { logger: AdapterLogger; onFailure?: (error: unknown, subject: string) => void },
): Promise<Service[]> {
  const common = {
    logger: options.logger,
    onFailure: (error: unknown, msg: { subject: string }) => options.onFailure?.(error, msg.subject),
  };
  const services = [
    listenSealed(nc, s, inboxChannels.terms, inboxId, keys, handlers.terms, common),
    listenSealed(nc, s, inboxChannels.voided, inboxId, keys, handlers.voided, common),
    listenSealed(nc, s, inboxChannels.disputed, inboxId, keys, handlers.disputed, common),
    listenSealed(nc, s, inboxChannels.settled, inboxId, keys, handlers.settled, common),
  ];
  await Promise.all(services.map((service) => service.ready));
  return services;
}
