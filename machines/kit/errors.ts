// What a machine keeps instead of crashing (a malformed event, a failed effect, an unroutable message, a bounded
// list), and the two errors a machine throws: an effect the runtime did not provide, and a broken invariant of its
// own graph. Both build their message from the machine and what was missing (protocol/base/errors.ts).
import type { z } from "zod";
import { GridveilError, errorClass } from "../../protocol/base/errors.ts";

/** The machines, by the name of their folder under machines/. */
export type MachineName = "bidSession" | "dso" | "gateway" | "meter" | "tradeSettlement";

/** An effect was invoked that the runtime did not provide with `machine.provide(...)`. */
export class MissingEffectError extends errorClass(GridveilError, (params: { machine: string; effect: string }) => [
  `${params.machine}: effect "${params.effect}" was not provided`,
  {
    value: params.effect,
    hint: `Provide it with ${params.machine}.provide({ actors: { ${params.effect}: … } }); see docs/machines.md.`,
  },
]) {}

/** A state read what an earlier step always sets: the machine's own graph is broken. */
export class MachineInvariantError extends errorClass(GridveilError, (params: { machine: MachineName; what: string }) => [
  `${params.machine}: ${params.what} is not set yet`,
  {
    hint: `a state read it before the step that sets it (machines/${params.machine}/)`,
  },
]) {}

/** An error a machine kept instead of crashing: a malformed event, a failed effect, an unroutable message. */
export type MachineErrorRecord = {
  kind: "malformedEvent" | "effectFailed" | "unroutable" | "invalidOutput" | "rejected";
  /** Event type or effect name. */
  source: string;
  detail: string;
};

/** Appends to a bounded error list (oldest dropped). */
export function appendError(errors: readonly MachineErrorRecord[], record: MachineErrorRecord, max: number): MachineErrorRecord[] {
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
