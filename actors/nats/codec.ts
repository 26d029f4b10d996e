// JSON codec at the NATS edge: every message in or out is validated against its schema; bad ones become typed errors.
import type { Msg, MsgHdrs } from "@nats-io/transport-node";
import type { z } from "zod";
import { GridveilError, type ErrorDetails } from "../../protocol/base/errors.ts";
import { errorCodeSchema, errorReplySchema, type ErrorCode, type ErrorReply } from "../../protocol/wire/schemas.ts";
import { injectHeaders } from "./tracing.ts";

export type Issue = { path: string; message: string };

/** Largest payload we accept (nats-server's default max_payload is 1 MiB). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** An incoming message that is not JSON or does not match its schema. Never retried: the bytes will not change. */
export class BadMessageError extends GridveilError {
  override name = "BadMessageError";
  readonly replyCode: ErrorCode = "bad-message";
  readonly subject: string | undefined;
  readonly issues: Issue[];
  constructor(subject: string | undefined, issues: Issue[], details: ErrorDetails = {}) {
    super(`bad message${subject ? ` on ${subject}` : ""}: ${issues.map(formatIssue).join("; ")}`, {
      hint: "Check the message against protocol/wire/schemas.ts.",
      ...details,
    });
    this.subject = subject;
    this.issues = issues;
  }
}

/** We were about to send something that does not match its own schema: a bug on our side, never sent. */
export class InvalidOutgoingMessageError extends GridveilError {
  override name = "InvalidOutgoingMessageError";
  readonly issues: Issue[];
  constructor(issues: Issue[], value: unknown) {
    super(`refusing to send an invalid message: ${issues.map(formatIssue).join("; ")}`, { value });
    this.issues = issues;
  }
}

/** Thrown by a handler to answer a request with a specific error code (`unauthorized`, `not-found`, …). */
export class RequestRejectedError extends GridveilError {
  override name = "RequestRejectedError";
  readonly replyCode: ErrorCode;
  constructor(code: ErrorCode, shortMessage: string, details: ErrorDetails = {}) {
    super(shortMessage, details);
    this.replyCode = code;
  }
}

/** The peer answered a request with an error reply. */
export class RemoteError extends GridveilError {
  override name = "RemoteError";
  readonly code: ErrorCode;
  readonly reply: ErrorReply;
  constructor(subject: string, reply: ErrorReply) {
    super(`${subject} answered ${reply.code}: ${reply.message}`, { value: reply.issues, hint: reply.hint });
    this.code = reply.code;
    this.reply = reply;
  }
}

function formatIssue(issue: Issue): string {
  return issue.path ? `${issue.path}: ${issue.message}` : issue.message;
}

export function issuesOf(error: z.ZodError): Issue[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join("."), message: issue.message }));
}

/** Validates and serialises an outgoing message (its parsed, normalised form goes on the wire). */
export function encode<S extends z.ZodType>(schema: S, value: z.input<S>): Uint8Array {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new InvalidOutgoingMessageError(issuesOf(parsed.error), value);
  return encoder.encode(JSON.stringify(parsed.data));
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
    return { ok: false, error: new BadMessageError(subject, [{ path: "", message: `larger than ${MAX_MESSAGE_BYTES} bytes` }]) };
  }
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch (cause) {
    return { ok: false, error: new BadMessageError(subject, [{ path: "", message: "not UTF-8 JSON" }], { cause }) };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { ok: false, error: new BadMessageError(subject, issuesOf(parsed.error), { value: json }) };
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
