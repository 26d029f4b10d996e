// The public market events a meter follows (matches, expiries, cancels, placements, rejections; PROTOCOL §5, §6).
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Context } from "@opentelemetry/api";
import { consumeDurable } from "../nats/jetstream.ts";
import type { AdapterLogger } from "../nats/rpc.ts";
import { extractHeaders } from "../nats/tracing.ts";
import { marketEventSchema, type MarketEvent } from "../../protocol/wire/schemas.ts";
import { meterEventsDurable, streamNames, type MarketId } from "../../protocol/wire/subjects.ts";

/**
 * How a meter receives market events without losing any while a bid session is open: it pulls its **own durable
 * consumer** on the matches stream (`meterEventsDurable(inboxId)`, filtered to `gridveil.<market>.market.*`), which
 * the DSO creates when it enrols the meter, before the meter's first submission, starting at the next event. Why:
 * - a core subscription would miss every event published while the meter is reconnecting to NATS; the durable keeps
 *   the meter's position on the server, across reconnects and restarts of the meter's process;
 * - the meter may not create consumers (least privilege, PROTOCOL §1: a meter that could create or update consumers
 *   could also retarget the DSO's); it may only pull from and ack its own (protocol/wire/subjects.ts
 *   `natsPermissions`);
 * - a restarted meter replays the events since its last ack; they name bidders of sessions that are gone, which the
 *   runtime ignores.
 * Every meter sees every event (they are public on chain anyway); the runtime keeps those naming its bidders. An
 * event is acked once the handler has turned it into a machine event; a malformed one is terminated.
 */
export type MarketEventHandler = (event: MarketEvent, trace: Context, msg: JsMsg) => void | Promise<void>;

export type MarketEventFollower = { stop(): Promise<void> };

export async function followMarketEvents(options: {
  js: JetStreamClient;
  market: MarketId;
  inboxId: string;
  handler: MarketEventHandler;
  logger: AdapterLogger;
}): Promise<MarketEventFollower> {
  const { js, market, inboxId, handler, logger } = options;
  const stream = streamNames(market).matches;
  const consumer = await consumeDurable(js, stream, meterEventsDurable(inboxId), {
    schema: marketEventSchema,
    logger,
    handler: async (event, msg) => {
      try {
        await handler(event, extractHeaders(msg), msg);
      } catch (error) {
        // The handler only turns events into machine events; a bug there must not stop the follower.
        logger.error({ stream, seq: msg.seq, err: error }, "market event handler failed");
      }
    },
  });
  return { stop: () => consumer.stop() };
}
