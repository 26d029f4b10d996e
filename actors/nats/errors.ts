// Errors of the NATS edge (codec, rpc, JetStream, the private server, connecting): each builds its message from the
// facts of the failure (protocol/base/errors.ts). Classes that answer a NATS request carry the wire's code.
import { errorClass, GridveilError, type ErrorDetails, type ErrorFamily } from "../../protocol/base/errors.ts";
import { type ErrorCode, type ErrorReply } from "../../protocol/wire/schemas.ts";

export type Issue = { path: string; message: string };

/** Largest payload we accept (nats-server's default max_payload is 1 MiB). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

export const NATS_INSTALL_HINT =
  "Install it (`apt-get install -y nats-server`, or download from https://github.com/nats-io/nats-server/releases), " +
  "point NATS_SERVER_BIN at the binary, or set NATS_URL to an existing server with JetStream enabled.";

function formatIssue(issue: Issue): string {
  return issue.path ? `${issue.path}: ${issue.message}` : issue.message;
}

/** Why a message was refused before its schema was even tried. */
export type UnreadableMessage = "tooLarge" | "notJson";

const UNREADABLE_TEXT: Record<UnreadableMessage, string> = {
  tooLarge: `larger than ${MAX_MESSAGE_BYTES} bytes`,
  notJson: "not UTF-8 JSON",
};

/** An incoming message that is not JSON or does not match its schema. Never retried: the bytes will not change. */
export class BadMessageError extends GridveilError {
  readonly replyCode: ErrorCode = "bad-message";
  readonly subject: string | undefined;
  readonly issues: Issue[];
  constructor(
    params:
      | { subject: string | undefined; issues: Issue[]; value?: unknown }
      | { subject: string | undefined; unreadable: UnreadableMessage; cause?: unknown },
  ) {
    const issues = "issues" in params ? params.issues : [{ path: "", message: UNREADABLE_TEXT[params.unreadable] }];
    const subject = params.subject;
    super(`bad message${subject ? ` on ${subject}` : ""}: ${issues.map(formatIssue).join("; ")}`, {
      hint: "Check the message against protocol/wire/schemas.ts.",
      value: "issues" in params ? params.value : undefined,
      cause: "cause" in params ? params.cause : undefined,
    });
    this.subject = subject;
    this.issues = issues;
  }
}

/** We were about to send something that does not match its own schema: a bug on our side, never sent. */
export class InvalidOutgoingMessageError extends GridveilError {
  readonly issues: Issue[];
  constructor(params: { issues: Issue[]; value: unknown }) {
    super(`refusing to send an invalid message: ${params.issues.map(formatIssue).join("; ")}`, { value: params.value });
    this.issues = params.issues;
  }
}

/**
 * A handler's refusal of a request, answered with a specific error code (`unauthorized`, `not-found`, …). It is the
 * base of each domain's refusals: a domain's errors.ts subclasses it with a constructor that takes the facts and
 * builds the message (the NATS layer cannot know what a refusal means).
 */
export class RequestRejectedError extends GridveilError {
  readonly replyCode: ErrorCode;
  constructor(code: ErrorCode, shortMessage: string, details: ErrorDetails = {}) {
    super(shortMessage, details);
    this.replyCode = code;
  }
}

/** The family of refusals answered with `code`, for `errorClass(rejectedWith("conflict"), (facts) => […])`. */
export function rejectedWith(code: ErrorCode): ErrorFamily<RequestRejectedError> {
  return class extends RequestRejectedError {
    constructor(shortMessage: string, details?: ErrorDetails) {
      super(code, shortMessage, details);
    }
  };
}

/** The peer answered a request with an error reply. */
export class RemoteError extends GridveilError {
  readonly code: ErrorCode;
  readonly reply: ErrorReply;
  constructor(params: { subject: string; reply: ErrorReply }) {
    const { subject, reply } = params;
    super(`${subject} answered ${reply.code}: ${reply.message}`, { value: reply.issues, hint: reply.hint });
    this.code = reply.code;
    this.reply = reply;
  }
}

/**
 * Thrown by a durable handler for a message that can never be processed (e.g. a bad signature): the message is
 * terminated instead of redelivered. Any other error is treated as transient and the message is redelivered. Like
 * `RequestRejectedError` it is a base: a domain subclasses it with the facts of its permanent failure.
 */
export class PermanentMessageError extends errorClass(GridveilError, (shortMessage: string, details: ErrorDetails = {}) => [shortMessage, details]) {}

/** A market stream could not be created or updated. */
export class StreamSetupError extends errorClass(GridveilError, (params: { stream: string; subjects: unknown; cause: unknown }) => [
  `could not create stream ${params.stream}`,
  {
    value: params.subjects,
    hint: "Is JetStream enabled on the server (nats-server -js)? Does another stream already own these subjects?",
    cause: params.cause,
  },
]) {}

/** A stream another party owns is not there (or this NATS user may not look at it). */
export class StreamMissingError extends errorClass(GridveilError, (params: { stream: string; notFound: boolean; cause: unknown }) => [
  `stream ${params.stream} is not there`,
  {
    value: params.stream,
    hint: params.notFound
      ? "The DSO creates the market's streams: start it first (compose does, via its health check)."
      : "May this NATS user read stream info ($JS.API.STREAM.INFO.<stream>)?",
    cause: params.cause,
  },
]) {}

/** No nats-server binary where we looked. */
export class NatsServerNotFoundError extends errorClass(GridveilError, (params: { binary: string }) => [
  "nats-server binary not found",
  { value: params.binary, hint: NATS_INSTALL_HINT },
]) {}

/** A private nats-server was spawned but did not come up (its output is in the cause). */
export class NatsServerStartError extends errorClass(GridveilError, (params: { binary: string; args: readonly string[]; cause: unknown }) => [
  "nats-server did not start",
  {
    value: { binary: params.binary, args: params.args },
    hint: "Check the server output in the cause; another store directory or a newer nats-server may help.",
    cause: params.cause,
  },
]) {}

/** The first connection to NATS failed. `credentials` says where to give a user and password, when a command has them. */
export class NatsUnavailableError extends errorClass(GridveilError, (params: { url: string; cause: unknown; credentials?: string }) => [
  "cannot connect to NATS",
  {
    value: params.url,
    hint: params.credentials ? `${NATS_INSTALL_HINT} With auth: ${params.credentials}.` : NATS_INSTALL_HINT,
    cause: params.cause,
  },
]) {}
