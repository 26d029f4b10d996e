// JSON codec at the NATS edge: every message in or out is validated against its schema; bad ones become typed errors.
import type { Msg, MsgHdrs } from "@nats-io/transport-node";
import type { z } from "zod";
import { GridveilError } from "../../protocol/base/errors.ts";
import { errorCodeSchema, errorReplySchema, type ErrorCode, type ErrorReply } from "../../protocol/wire/schemas.ts";
import { BadMessageError, InvalidOutgoingMessageError, MAX_MESSAGE_BYTES, type Issue } from "./errors.ts";
import { injectHeaders } from "./tracing.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function issuesOf(error: z.ZodError): Issue[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join("."), message: issue.message }));
}

/** Validates an outgoing message and returns its parsed, normalised form. */
export function validated<S extends z.ZodType>(schema: S, value: z.input<S>): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new InvalidOutgoingMessageError({ issues: issuesOf(parsed.error), value });
  return parsed.data;
}

/** Validates and serialises an outgoing message (its parsed, normalised form goes on the wire). */
export function encode<S extends z.ZodType>(schema: S, value: z.input<S>): Uint8Array {
  return encoder.encode(JSON.stringify(validated(schema, value)));
}

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: BadMessageError };

/** Parses and validates an incoming message without throwing. */
export function tryDecode<S extends z.ZodType>(
  schema: S,
  msg: { data: Uint8Array; subject?: string } | Uint8Array,
): DecodeResult<z.output<S>> {
  const data = msg instanceof Uint8Array ? msg : msg.data;
  const subject = msg instanceof Uint8Array ? undefined : msg.subject;
  if (data.byteLength > MAX_MESSAGE_BYTES) {
    return { ok: false, error: new BadMessageError({ subject, unreadable: "tooLarge" }) };
  }
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch (cause) {
    return { ok: false, error: new BadMessageError({ subject, unreadable: "notJson", cause }) };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { ok: false, error: new BadMessageError({ subject, issues: issuesOf(parsed.error), value: json }) };
  return { ok: true, value: parsed.data };
}

/** Parses and validates an incoming message; throws `BadMessageError` with the zod issues. */
export function decode<S extends z.ZodType>(schema: S, msg: { data: Uint8Array; subject?: string } | Uint8Array): z.output<S> {
  const result = tryDecode(schema, msg);
  if (!result.ok) throw result.error;
  return result.value;
}

function hasReplyCode(error: unknown): error is GridveilError & { replyCode: ErrorCode } {
  return (
    error instanceof GridveilError &&
    "replyCode" in error &&
    errorCodeSchema.safeParse((error as { replyCode: unknown }).replyCode).success
  );
}

/**
 * The error reply for a failure. Project errors (`GridveilError`) are reported with their short message and hint,
 * using their `replyCode` when they carry one (else `rejected`); anything else is `internal` without details, so a
 * stack trace or a secret never leaks to the requester.
 */
export function errorReplyFor(error: unknown): ErrorReply {
  if (error instanceof GridveilError) {
    const reply: ErrorReply = {
      type: "error",
      code: hasReplyCode(error) ? error.replyCode : "rejected",
      message: error.shortMessage.slice(0, 2000),
    };
    if (error.hint) reply.hint = error.hint.slice(0, 1000);
    if (error instanceof BadMessageError) reply.issues = error.issues.slice(0, 50);
    return reply;
  }
  return { type: "error", code: "internal", message: "internal error" };
}

export type SendOptions = { headers?: MsgHdrs };

/** Answers a request with a validated reply (trace context injected). Returns false when there is no reply subject. */
export function respond<S extends z.ZodType>(msg: Msg, schema: S, value: z.input<S>, options: SendOptions = {}): boolean {
  if (!msg.reply) return false;
  return msg.respond(encode(schema, value), { headers: injectHeaders(options.headers) });
}

/** Answers a request with the error reply for `error`. Returns false when there is no reply subject. */
export function replyError(msg: Msg, error: unknown, options: SendOptions = {}): boolean {
  return respond(msg, errorReplySchema, errorReplyFor(error), options);
}
