// Typed event definitions for a machine: one schema per event type gives its TypeScript type, its parser and the
// record of a malformed one, so that no machine writes the parse/record-if-malformed code again.
import { z } from "zod";
import { appendError, describeIssues, type MachineErrorRecord } from "./errors.ts";

export type EventSchemas = Record<string, z.ZodType<{ type: string }>>;

/** The union of the events a schema table describes. */
export type EventOf<S extends EventSchemas> = { [K in keyof S]: z.output<S[K]> }[keyof S];

export type EventDefinitions<S extends EventSchemas> = {
  readonly schemas: S;
  /** Every event type the machine takes. */
  readonly types: readonly (keyof S & string)[];
  /** The event as its type's schema parses it; null for an unknown type or a malformed payload. */
  parse(event: { type: string }): EventOf<S> | null;
  /** Why an event is not well formed (`path: message` of its first issue, or `unknown type`); null when it is. */
  problem(event: { type: string }): string | null;
  /** `errors` with the event recorded as malformed, or `errors` itself when the event is well formed. */
  recordIfMalformed(errors: MachineErrorRecord[], event: { type: string }, maxRecorded: number): MachineErrorRecord[];
  /** Root `on` entries that send every type to `action` (the malformed ones end there: states take well-formed ones). */
  fallback<TAction extends string>(action: TAction): Record<keyof S & string, { actions: TAction }>;
};

type Parsed<T> = { ok: true; event: T } | { ok: false; problem: string };

/**
 * Defines a machine's events from their schemas. An event object is parsed once: guards and actions of one
 * transition ask again and again, and XState hands them the same object.
 */
export function defineEvents<const S extends EventSchemas>(schemas: S): EventDefinitions<S> {
  const parsed = new WeakMap<object, Parsed<EventOf<S>>>();
  const types = Object.keys(schemas) as (keyof S & string)[];
  const check = (event: { type: string }): Parsed<EventOf<S>> => {
    const cached = parsed.get(event);
    if (cached) return cached;
    const schema = (schemas as Record<string, z.ZodType<{ type: string }> | undefined>)[event.type];
    let result: Parsed<EventOf<S>>;
    if (!schema) result = { ok: false, problem: "unknown type" };
    else {
      const outcome = schema.safeParse(event);
      result = outcome.success ? { ok: true, event: outcome.data as EventOf<S> } : { ok: false, problem: describeIssues(outcome.error) };
    }
    parsed.set(event, result);
    return result;
  };
  return {
    schemas,
    types,
    parse: (event) => {
      const result = check(event);
      return result.ok ? result.event : null;
    },
    problem: (event) => {
      const result = check(event);
      return result.ok ? null : result.problem;
    },
    recordIfMalformed: (errors, event, maxRecorded) => {
      const result = check(event);
      if (result.ok) return errors;
      return appendError(errors, { kind: "malformedEvent", source: String(event.type), detail: result.problem }, maxRecorded);
    },
    fallback: (action) => Object.fromEntries(types.map((type) => [type, { actions: action }])) as Record<keyof S & string, { actions: typeof action }>,
  };
}
