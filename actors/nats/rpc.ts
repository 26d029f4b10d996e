// Typed core-NATS publish, subscribe and request/reply on top of the codec; handlers can never crash their actor.
import { context } from "@opentelemetry/api";
import type { Msg, MsgHdrs, NatsConnection, Subscription } from "@nats-io/transport-node";
import { z } from "zod";
import { errorReplySchema } from "../../protocol/wire/schemas.ts";
import type { Endpoint } from "../../protocol/wire/endpoints.ts";
import type { MarketSubjects } from "../../protocol/wire/subjects.ts";
import { encode, errorReplyFor, replyError, respond, tryDecode } from "./codec.ts";
import { BadMessageError, RemoteError } from "./errors.ts";
import { extractHeaders, injectHeaders } from "./tracing.ts";
import { adapterDefaults } from "../config/common.ts";

/** What the adapters log through: a subset of pino's API, so the actors' pino logger fits as is. */
export type AdapterLogger = {
  warn(details: object, message?: string): void;
  error(details: object, message?: string): void;
};

export const silentLogger: AdapterLogger = { warn: () => {}, error: () => {} };


export type PublishOptions = { headers?: MsgHdrs };

/** Publishes a validated message on core NATS (fire and forget; use JetStream for what must not be lost). */
export function publish<S extends z.ZodType>(
  nc: NatsConnection,
  subject: string,
  schema: S,
  value: z.input<S>,
  options: PublishOptions = {},
): void {
  nc.publish(subject, encode(schema, value), { headers: injectHeaders(options.headers) });
}

export type RequestOptions = { timeoutMs?: number; headers?: MsgHdrs };

/**
 * Sends a validated request and decodes the reply. An error reply throws `RemoteError` (with its code); a reply that
 * matches neither schema throws `BadMessageError`; no responder or a timeout throws nats.js's own error.
 */
export async function request<Q extends z.ZodType, R extends z.ZodType>(
  nc: NatsConnection,
  subject: string,
  requestSchema: Q,
  value: z.input<Q>,
  replySchema: R,
  options: RequestOptions = {},
): Promise<z.output<R>> {
  const reply = await nc.request(subject, encode(requestSchema, value), {
    timeout: options.timeoutMs ?? adapterDefaults.requestTimeoutMs,
    headers: injectHeaders(options.headers),
  });
  const decoded = tryDecode(z.union([errorReplySchema, replySchema]), { data: reply.data, subject });
  if (!decoded.ok) throw decoded.error;
  const parsedError = errorReplySchema.safeParse(decoded.value);
  if (parsedError.success) throw new RemoteError({ subject, reply: parsedError.data });
  return decoded.value as z.output<R>;
}

export type MessageHandler<T, R> = (value: T, msg: Msg) => Promise<R> | R;

export type HandlerOptions = {
  logger?: AdapterLogger;
  /** Called for every failure (bad message or handler error) after it was answered/logged; for metrics and tests. */
  onFailure?: (error: unknown, msg: Msg) => void;
};

/**
 * Wraps a handler so that nothing a peer sends can crash the actor: the message is decoded (bad → `bad-message`
 * error reply), the handler runs in the message's trace context, its result is sent as the validated reply (when
 * the message has a reply subject) and any thrown error becomes an error reply. The returned function never rejects.
 */
export function safeHandler<S extends z.ZodType, R extends z.ZodType | undefined>(
  schema: S,
  replySchema: R,
  handler: MessageHandler<z.output<S>, R extends z.ZodType ? z.input<R> : void>,
  options: HandlerOptions = {},
): (msg: Msg) => Promise<void> {
  const logger = options.logger ?? silentLogger;
  return async (msg) => {
    try {
      const decoded = tryDecode(schema, msg);
      if (!decoded.ok) throw decoded.error;
      const result = await context.with(extractHeaders(msg), () => handler(decoded.value, msg));
      if (replySchema !== undefined && msg.reply) respond(msg, replySchema as z.ZodType, result);
    } catch (error) {
      try {
        reportFailure(error, msg, options);
        if (msg.reply) replyError(msg, error);
      } catch (secondary) {
        logger.error({ subject: msg.subject, err: secondary }, "could not report a handler failure");
      }
    }
  };
}

/** Logs a handler's failure (a bad message, a refusal, or an internal error) and tells `onFailure`. */
export function reportFailure(error: unknown, msg: Msg, options: HandlerOptions): void {
  const logger = options.logger ?? silentLogger;
  const reply = errorReplyFor(error);
  if (error instanceof BadMessageError) logger.warn({ subject: msg.subject, issues: error.issues }, "bad message");
  else if (reply.code === "internal") logger.error({ subject: msg.subject, err: error }, "handler failed");
  else logger.warn({ subject: msg.subject, code: reply.code, reason: reply.message }, "request rejected");
  options.onFailure?.(error, msg);
}

export type ServeOptions = HandlerOptions & {
  /** Queue group: several instances of a party share the load. */
  queue?: string;
  /** Handle messages one at a time (default) or all at once. */
  concurrent?: boolean;
};

export type Service = {
  subscription: Subscription;
  /** Resolves once the server has the subscription (a flush): requests from other connections will reach it. */
  ready: Promise<void>;
  /** Stops taking new messages, finishes the ones in progress (drain). */
  stop(): Promise<void>;
  /** Resolves when the subscription ended and the last handler finished. */
  done: Promise<void>;
};

/** Subscribes a request/reply (or plain) handler on `subject`, validated in and out. */
export function serve<S extends z.ZodType, R extends z.ZodType | undefined>(
  nc: NatsConnection,
  subject: string,
  schema: S,
  replySchema: R,
  handler: MessageHandler<z.output<S>, R extends z.ZodType ? z.input<R> : void>,
  options: ServeOptions = {},
): Service {
  const wrapped = safeHandler(schema, replySchema, handler, options);
  const subscription = nc.subscribe(subject, options.queue ? { queue: options.queue } : {});
  const inFlight = new Set<Promise<void>>();
  const done = (async () => {
    for await (const msg of subscription) {
      if (options.concurrent) {
        const running = wrapped(msg).finally(() => inFlight.delete(running));
        inFlight.add(running);
      } else {
        await wrapped(msg);
      }
    }
    await Promise.all(inFlight);
  })();
  return {
    subscription,
    ready: nc.flush(),
    done,
    stop: async () => {
      if (!subscription.isClosed()) await subscription.drain();
      await done;
    },
  };
}

/** Subscribes a handler for published (not requested) messages; bad messages are logged and dropped. */
export function subscribe<S extends z.ZodType>(
  nc: NatsConnection,
  subject: string,
  schema: S,
  handler: MessageHandler<z.output<S>, void>,
  options: ServeOptions = {},
): Service {
  return serve(nc, subject, schema, undefined, handler, options);
}

// ---------------------------------------------------------------------------------------------------------------
// By endpoint (protocol/wire/endpoints.ts): the subject and both schemas come from the table entry.
// ---------------------------------------------------------------------------------------------------------------

/** Asks an endpoint of a market (`request` with the endpoint's subject and schemas). */
export function call<Q extends z.ZodType, R extends z.ZodType>(
  nc: NatsConnection,
  subjects: MarketSubjects,
  endpoint: Endpoint<Q, R>,
  value: z.input<Q>,
  options: RequestOptions = {},
): Promise<z.output<R>> {
  return request(nc, endpoint.subject(subjects), endpoint.request, value, endpoint.reply, options);
}

/** Answers an endpoint of a market (`serve` with the endpoint's subject and schemas). */
export function answer<Q extends z.ZodType, R extends z.ZodType>(
  nc: NatsConnection,
  subjects: MarketSubjects,
  endpoint: Endpoint<Q, R>,
  handler: MessageHandler<z.output<Q>, z.input<R>>,
  options: ServeOptions = {},
): Service {
  return serve<Q, R>(nc, endpoint.subject(subjects), endpoint.request, endpoint.reply, handler as MessageHandler<z.output<Q>, R extends z.ZodType ? z.input<R> : void>, options);
}
