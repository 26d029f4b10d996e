// What a machine keeps instead of crashing: a malformed event, a failed effect, an unroutable message, a bounded list.
import type { z } from "zod";

/** An error a machine kept instead of crashing: a malformed event, a failed effect, an unroutable message. */
export type MachineErrorRecord = {
  kind: "malformedEvent" | "effectFailed" | "unroutable" | "invalidOutput" | "rejected";
  /** Event type or effect name. */
  source: string;
  detail: string;
};

/** Appends to a bounded error list (oldest dropped). */
export function appendError(
  errors: readonly MachineErrorRecord[],
  record: MachineErrorRecord,
  max: number,
): MachineErrorRecord[] {
  const next = [...errors, record];
  return next.length > max ? next.slice(next.length - max) : next;
}

/** Short, log-safe description of whatever an actor rejected with. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message.split("\n")[0] ?? error.name;
  if (typeof error === "string") return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

/** First issue of a failed zod parse, as one line. */
export function describeIssues(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.join(".") || "(root)"}: ${issue.message}` : "invalid";
}
