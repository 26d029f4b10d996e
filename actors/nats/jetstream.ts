// JetStream durability (PROTOCOL §6): the market's streams, durable explicit-ack consumers, deduplicated publishing.
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type ConsumerInfo,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StreamConfig,
} from "@nats-io/jetstream";
import { ClosedConnectionError, DrainingConnectionError, nanos, type MsgHdrs } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import { context } from "@opentelemetry/api";
import { getAddress } from "ethers";
import type { z } from "zod";
import { marketSubjects, meterEventsDurable, streamNames, streamSubjects, type MarketId, type StreamNames } from "../../protocol/wire/subjects.ts";
import { encode, tryDecode } from "./codec.ts";
import { BadMessageError, PermanentMessageError, StreamMissingError, StreamSetupError } from "./errors.ts";
import { silentLogger, type AdapterLogger } from "./rpc.ts";
import { extractHeaders, injectHeaders } from "./tracing.ts";
import { adapterDefaults } from "../config/common.ts";
import { toHex } from "../../protocol/base/hex.ts";

export type StreamOptions = {
  /** Window in which a repeated `Nats-Msg-Id` is dropped by the server (default 1 h: longer than any ticket). */
  duplicateWindowMs?: number;
  /** Age after which messages are discarded; 0 keeps them (default, the demo's volumes are small). */
  maxAgeMs?: number;
  /** File (default, survives server restarts) or memory. */
  storage?: "file" | "memory";
  /** Copies of every stream on a NATS cluster (3 survive the loss of one node); unset: 1 for a new stream, else as is. */
  replicas?: number;
};

/** The shortest pull the client library allows; also the longest `stop()` waits for an idle fetch to end. */
export const MIN_FETCH_EXPIRES_MS = 1_000;


/** `Nats-Msg-Id` of each durable message kind: what makes a republish a duplicate. */
export const dedupIds = {
  /** PROTOCOL §6: bid submissions are deduplicated by the bidder (normalised so every spelling agrees). */
  bid: (bidder: string): string => getAddress(bidder),
  match: (tradeId: string): string => `match:${toHex(tradeId)}`,
  marketEvent: (type: string, key: string): string => `${type}:${toHex(key)}`,
  reading: (tradeId: string, side: number): string => `reading:${toHex(tradeId)}:${side}`,
  settlement: (tradeId: string): string => `settlement:${toHex(tradeId)}`,
} as const;

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

/**
 * Creates (or updates to the current configuration) the market's four streams: bids (deduplicated by bidder),
 * matches (all `market.*` events), readings and settlements. Idempotent; safe to call from every party at start.
 */
export async function ensureStreams(jsm: JetStreamManager, market: MarketId, options: StreamOptions = {}): Promise<StreamNames> {
  const names = streamNames(market);
  const subjects = streamSubjects(market);
  for (const key of Object.keys(names) as (keyof StreamNames)[]) {
    const config: Partial<StreamConfig> & { name: string } = {
      name: names[key],
      subjects: subjects[key],
      retention: RetentionPolicy.Limits,
      storage: options.storage === "memory" ? StorageType.Memory : StorageType.File,
      discard: DiscardPolicy.Old,
      // Only when asked: a restart without the setting keeps a cluster's replicas (a new stream gets the server's 1).
      ...(options.replicas === undefined ? {} : { num_replicas: options.replicas }),
      max_age: nanos(options.maxAgeMs ?? 0),
      duplicate_window: nanos(options.duplicateWindowMs ?? adapterDefaults.duplicateWindowMs),
    };
    try {
      await upsertStream(jsm, config);
    } catch (cause) {
      throw new StreamSetupError({ stream: config.name, subjects: config.subjects, cause });
    }
  }
  return names;
}

/**
 * Checks that streams another party owns exist (the DSO creates a market's streams): for a party whose NATS user may
 * read stream info but not create or update streams (`natsPermissions`: the gateway).
 */
export async function requireStreams(jsm: JetStreamManager, market: MarketId, which: readonly (keyof StreamNames)[]): Promise<StreamNames> {
  const names = streamNames(market);
  for (const key of which) {
    try {
      await jsm.streams.info(names[key]);
    } catch (cause) {
      throw new StreamMissingError({ stream: names[key], notFound: isApiError(cause, JetStreamApiCodes.StreamNotFound), cause });
    }
  }
  return names;
}

async function upsertStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch (error) {
    if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw error;
    await jsm.streams.add(config);
    return;
  }
  const { name, storage: _storage, retention: _retention, ...updatable } = config;
  await jsm.streams.update(name, updatable);
}

export type DurableConsumerOptions = {
  /** One subject (nats-server 2.9 has no `filter_subjects`). */
  filterSubject?: string;
  ackWaitMs?: number;
  /** Delivery attempts before the server gives up; -1 (default) retries forever with the handler's back-off. */
  maxDeliver?: number;
  maxAckPending?: number;
  /** Where a new consumer starts: the stream's first message (default), or the next one published. */
  deliver?: "all" | "new";
};

/** Creates or updates a durable pull consumer with explicit acks, delivering the stream from its start. */
export async function ensureDurableConsumer(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
  options: DurableConsumerOptions = {},
): Promise<ConsumerInfo> {
  const config = {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: options.deliver === "new" ? DeliverPolicy.New : DeliverPolicy.All,
    ack_wait: nanos(options.ackWaitMs ?? adapterDefaults.ackWaitMs),
    max_deliver: options.maxDeliver ?? -1,
    max_ack_pending: options.maxAckPending ?? adapterDefaults.maxAckPending,
    ...(options.filterSubject ? { filter_subject: options.filterSubject } : {}),
  };
  try {
    await jsm.consumers.info(stream, durable);
  } catch (error) {
    if (!isApiError(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
    return jsm.consumers.add(stream, config);
  }
  const { durable_name: _name, ack_policy: _ack, deliver_policy: _deliver, ...updatable } = config;
  return jsm.consumers.update(stream, durable, updatable);
}

/**
 * A meter's durable of the market events (`meterEventsDurable`), created by the DSO when it enrols the meter, before
 * the meter's first submission, starting at the next event: the meter misses none about its bids, even across
 * reconnects or a restart of its process, and replays no history. Idempotent (a re-enrolment keeps the position).
 */
export function ensureMeterEventsConsumer(jsm: JetStreamManager, market: MarketId, inboxId: string): Promise<ConsumerInfo> {
  return ensureDurableConsumer(jsm, streamNames(market).matches, meterEventsDurable(inboxId), {
    filterSubject: marketSubjects(market).market.events,
    deliver: "new",
  });
}

export type PublishResult = { duplicate: boolean; seq: number; stream: string };

export type JetStreamPublishOptions = { msgId?: string; headers?: MsgHdrs; timeoutMs?: number };

/** Publishes a validated message to a stream and waits for the server's ack (throws if it is not stored). */
export async function publishDurable<S extends z.ZodType>(
  js: JetStreamClient,
  subject: string,
  schema: S,
  value: z.input<S>,
  options: JetStreamPublishOptions = {},
): Promise<PublishResult> {
  const ack = await js.publish(subject, encode(schema, value), {
    headers: injectHeaders(options.headers),
    ...(options.msgId === undefined ? {} : { msgID: options.msgId }),
    ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
  });
  return { duplicate: ack.duplicate, seq: ack.seq, stream: ack.stream };
}

/**
 * Publishes with `Nats-Msg-Id = msgId`: within the stream's duplicate window the server stores it once and answers
 * `duplicate: true` to every repeat, so a sender can retry blindly. Beyond the window, handlers' unique keys catch it.
 */
export async function publishDeduplicated<S extends z.ZodType>(
  js: JetStreamClient,
  subject: string,
  schema: S,
  value: z.input<S>,
  msgId: string,
  options: Omit<JetStreamPublishOptions, "msgId"> = {},
): Promise<PublishResult> {
  return publishDurable(js, subject, schema, value, { ...options, msgId });
}

/**
 * Terminates a delivery for good. No reason on the wire: nats-server before 2.10 does not parse `+TERM <reason>` and
 * ignores it, so the message would come back after ack_wait; callers log the reason instead.
 */
export function terminate(msg: JsMsg): void {
  msg.term();
}

export type DurableHandler<T> = (value: T, msg: JsMsg) => Promise<void> | void;

export type ConsumeDurableOptions<S extends z.ZodType> = {
  schema: S;
  handler: DurableHandler<z.output<S>>;
  /** First redelivery delay after a transient failure; doubles per attempt up to `maxNakDelayMs`. */
  nakDelayMs?: number;
  maxNakDelayMs?: number;
  /** Messages pulled per request. */
  batch?: number;
  /** How long one pull waits for messages (≥ 1 s); `stop()` takes at most this long when idle. */
  fetchExpiresMs?: number;
  logger?: AdapterLogger;
  /** Observes every outcome (for metrics and tests). */
  onOutcome?: (outcome: DeliveryOutcome, msg: JsMsg, error?: unknown) => void;
};

export type DeliveryOutcome = "acked" | "naked" | "termed";

export type DurableConsumerHandle = {
  /** Stops pulling, lets the running handler finish and ack, and hands back (nak) what was buffered. */
  stop(): Promise<void>;
  /** Resolves when consumption ended (after `stop`, or when the connection closed). */
  done: Promise<void>;
  stats(): Record<DeliveryOutcome, number>;
};

/**
 * Consumes a durable consumer one message at a time: decode (bad → `term`), run the handler in the message's trace
 * context while telling the server it is still working, then `ack` (confirmed with the server) when it resolves,
 * `nak` with exponential back-off when it throws, `term` on `PermanentMessageError`. Handlers must be idempotent:
 * delivery is at least once (a crash between the handler and the ack redelivers). A closed connection ends it.
 */
export async function consumeDurable<S extends z.ZodType>(
  js: JetStreamClient,
  stream: string,
  durable: string,
  options: ConsumeDurableOptions<S>,
): Promise<DurableConsumerHandle> {
  const logger = options.logger ?? silentLogger;
  const consumer = await js.consumers.get(stream, durable);
  const info = await consumer.info(true);
  const ackWaitMs = Math.max(1, Math.floor((info.config.ack_wait ?? nanos(adapterDefaults.ackWaitMs)) / 1_000_000));
  const batchSize = options.batch ?? adapterDefaults.pullBatch;
  const fetchExpiresMs = Math.max(MIN_FETCH_EXPIRES_MS, options.fetchExpiresMs ?? MIN_FETCH_EXPIRES_MS);
  const counts: Record<DeliveryOutcome, number> = { acked: 0, naked: 0, termed: 0 };
  let stopping = false;

  const settle = (outcome: DeliveryOutcome, msg: JsMsg, error?: unknown): void => {
    counts[outcome] += 1;
    options.onOutcome?.(outcome, msg, error);
  };

  const handle = async (msg: JsMsg): Promise<void> => {
    const decoded = tryDecode(options.schema, msg);
    if (!decoded.ok) {
      logger.warn({ stream, durable, seq: msg.seq, issues: decoded.error.issues }, "terminating a bad message");
      terminate(msg);
      settle("termed", msg, decoded.error);
      return;
    }
    // Keep the server from redelivering while a slow handler (a chain transaction) is still running.
    const keepAlive = setInterval(() => msg.working(), Math.max(100, Math.floor(ackWaitMs / 2)));
    try {
      await context.with(extractHeaders(msg), () => options.handler(decoded.value, msg));
    } catch (error) {
      clearInterval(keepAlive);
      if (error instanceof PermanentMessageError || error instanceof BadMessageError) {
        logger.warn({ stream, durable, seq: msg.seq, err: error }, "terminating an unprocessable message");
      terminate(msg);
        settle("termed", msg, error);
        return;
      }
      const attempt = msg.info.deliveryCount;
      const delay = Math.min(
        (options.nakDelayMs ?? adapterDefaults.nakDelayMs) * 2 ** Math.max(0, attempt - 1),
        options.maxNakDelayMs ?? adapterDefaults.maxNakDelayMs,
      );
      logger.warn({ stream, durable, seq: msg.seq, attempt, delayMs: delay, err: error }, "handler failed; redelivering");
      msg.nak(delay);
      settle("naked", msg, error);
      return;
    }
    clearInterval(keepAlive);
    try {
      // A confirmed ack: after this the server will not redeliver, even if we stop right away.
      await msg.ackAck();
    } catch (error) {
      // The handler's work is done and idempotent: a redelivery is harmless.
      logger.warn({ stream, durable, seq: msg.seq, err: error }, "ack not confirmed; the message may be redelivered");
    }
    settle("acked", msg);
  };

  // Pull with bounded fetches rather than an endless `consume()`: when we stop, the last fetch ends within
  // `fetchExpiresMs` and no pull request is left open on the server to swallow messages until their ack_wait.
  const done = (async () => {
    let failures = 0;
    while (!stopping) {
      try {
        const batch = await consumer.fetch({ max_messages: batchSize, expires: fetchExpiresMs });
        for await (const msg of batch) {
          if (stopping) {
            // Fetched but not started: hand it back now rather than after ack_wait.
            msg.nak();
            settle("naked", msg);
            continue;
          }
          await handle(msg);
        }
        failures = 0;
      } catch (error) {
        if (stopping || error instanceof ClosedConnectionError || error instanceof DrainingConnectionError) break;
        failures += 1;
        const delay = Math.min(adapterDefaults.nakDelayMs * 2 ** Math.min(failures - 1, 5), adapterDefaults.maxNakDelayMs);
        logger.warn({ stream, durable, err: error, retryInMs: delay }, "fetch failed; retrying");
        await sleep(delay);
      }
    }
  })();

  return {
    done,
    stats: () => ({ ...counts }),
    stop: async () => {
      stopping = true;
      await done;
    },
  };
}
