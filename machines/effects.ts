// How runtimes hand effects to the machines: plain async functions wrapped as XState actor logic, and the
// placeholders a machine uses until they are provided (a missing effect fails loudly, on the effect's error path).
// Machines never reach for I/O themselves (STYLE); all messaging of PROTOCOL §6 happens in these effects.
import { fromCallback, fromPromise } from "xstate";
import type { CallbackActorLogic, EventObject, PromiseActorLogic } from "xstate";
import { GridveilError } from "../protocol/base/errors.ts";

/** An effect was invoked that the runtime did not provide with `machine.provide(...)`. */
export class MissingEffectError extends GridveilError {
  override name = "MissingEffectError";
}

/** An effect as a runtime writes it: input in, output out; `signal` aborts when the machine leaves the state. */
export type Effect<TInput, TOutput> = (input: TInput, signal: AbortSignal) => Promise<TOutput>;

/** A long-running source (the chain follower): push events with `sendBack`, return a cleanup. */
export type EventSource<TInput, TEvent extends EventObject> = (input: TInput, sendBack: (event: TEvent) => void) => () => void;

export function promiseEffect<TInput, TOutput>(effect: Effect<TInput, TOutput>): PromiseActorLogic<TOutput, TInput> {
  return fromPromise<TOutput, TInput>(({ input, signal }) => effect(input, signal));
}

export function eventSource<TInput, TEvent extends EventObject>(
  source: EventSource<TInput, TEvent>,
): CallbackActorLogic<TEvent, TInput> {
  return fromCallback<TEvent, TInput>(({ input, sendBack }) => source(input, sendBack));
}

function missing(machine: string, effect: string): MissingEffectError {
  return new MissingEffectError(`${machine}: effect "${effect}" was not provided`, {
    value: effect,
    hint: `Provide it with ${machine}.provide({ actors: { ${effect}: … } }); see docs/machines.md.`,
  });
}

export function unprovidedPromise<TOutput, TInput>(machine: string, effect: string): PromiseActorLogic<TOutput, TInput> {
  return fromPromise<TOutput, TInput>(async () => {
    throw missing(machine, effect);
  });
}

export function unprovidedCallback<TEvent extends EventObject, TInput>(
  machine: string,
  effect: string,
): CallbackActorLogic<TEvent, TInput> {
  return fromCallback<TEvent, TInput>(() => {
    throw missing(machine, effect);
  });
}
