// Records an XState actor's state transitions as span events: every transition is a span event, so a trace shows the protocol state (PROTOCOL §5).
import type { Span } from "@opentelemetry/api";
import type { AnyActorRef } from "xstate";

/** Stable text for a (possibly nested or parallel) state value: `a.b`, `{x:a,y:b}` → `x.a|y.b`. */
export function stateValueText(value: unknown): string {
  if (typeof value === "string") return value;
  if (value && typeof value === "object") {
    return Object.entries(value as Record<string, unknown>)
      .map(([key, inner]) => {
        const text = stateValueText(inner);
        return text ? `${key}.${text}` : key;
      })
      .join("|");
  }
  return "";
}

/**
 * Adds a `machine.transition` event to `span` whenever the actor's state value changes (attributes: machine, from,
 * to, event type). Only state names and event types are recorded: never context, which can hold openings.
 * Returns the unsubscribe function; it also ends when the actor stops.
 */
export function recordTransitions(actor: AnyActorRef, span: Span, machine: string): () => void {
  let previous = stateValueText(actor.getSnapshot().value);
  span.addEvent("machine.transition", { machine, from: "", to: previous });
  const subscription = actor.subscribe({
    next(snapshot: { value?: unknown }) {
      const current = stateValueText(snapshot.value);
      if (current === previous) return;
      span.addEvent("machine.transition", { machine, from: previous, to: current });
      previous = current;
    },
    error() {},
  });
  return () => subscription.unsubscribe();
}
