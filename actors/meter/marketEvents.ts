// The public market events a meter follows (matches, expiries, cancels, placements, rejections; PROTOCOL §5, §6).
import type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { Context } from "@opentelemetry/api";
import { tryDecode } from "../nats/codec.ts";
import type { AdapterLogger } from "../nats/rpc.ts";
import { extractHeaders } from "../nats/tracing.ts";
import { marketEventSchema, type MarketEvent } from "../../protocol/wire/schemas.ts";

/**
 * How a meter receives market events without losing any while a bid session is open: an **ordered JetStream
 * consumer** on the matches stream, filtered to `gridveil.<market>.market.*` (one filter subject: nats-server 2.9
 * has no `filter_subjects`), created at enrolment — before the first submission — and starting at the stream's
 * next sequence number. Why this one:
 * - a core subscription would miss every event published while the meter is reconnecting to NATS; the ordered
 *   consumer notices the gap (sequence or heartbeat) and re-creates itself from the last stream sequence it
 *   delivered, so it resumes exactly where it stopped;
 * - a durable consumer per meter would leave server state (and unacked messages) behind for every meter that ever
 *   existed, and needs explicit acks for events a meter only reads; the ordered consumer is ephemeral (no acks,
 *   in memory, removed by the server when idle);
 * - starting at `last_seq + 1` rather than "new" makes the start point fixed when the consumer is created, so a
 *   reset before the first delivery cannot replay the stream's history.
 * Every meter sees every event (they are public on chain anyway); the runtime keeps those naming its bidders.
 * What it cannot cover: events published while the meter *process* was down (its sessions are gone with it).
 */
export type MarketEventHandler = (event: MarketEvent, trace: Context, msg: JsMsg) => void;

export type MarketEventFollower = {
  /** Stream sequence of the first event this follower can deliver. */
  startSequence: number;
  stop(): Promise<void>;
};

export async function followMarketEvents(options: {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  /** `marketSubjects(m).market.events`. */
  subject: string;
  handler: MarketEventHandler;
  logger: AdapterLogger;
}): Promise<MarketEventFollower> {
  const { js, jsm, stream, subject, handler, logger } = options;
  const info = await jsm.streams.info(stream);
  const startSequence = info.state.last_seq + 1;
  const consumer = await js.consumers.get(stream, { filter_subjects: subject, opt_start_seq: startSequence });
  const messages = await consumer.consume({ max_messages: 256 });
  const done = (async () => {
    for await (const msg of messages) {
      const decoded = tryDecode(marketEventSchema, msg);
      if (!decoded.ok) {
        logger.warn({ stream, seq: msg.seq, issues: decoded.error.issues }, "ignoring a malformed market event");
        continue;
      }
      try {
        handler(decoded.value, extractHeaders(msg), msg);
      } catch (error) {
        // The handler only turns events into machine events; a bug there must not end the follower.
        logger.error({ stream, seq: msg.seq, err: error }, "market event handler failed");
      }
    }
  })();
  let stopped: Promise<void> | null = null;
  return {
    startSequence,
    stop: () => {
      stopped ??= (async () => {
        messages.stop();
        await done.catch((error: unknown) => logger.warn({ stream, err: error }, "market event follower ended with an error"));
      })();
      return stopped;
    },
  };
}
