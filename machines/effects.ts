// Placeholders for the effects a runtime must provide: a machine started without them fails the effect loudly
// (the failure path of the state that invoked it) instead of silently doing nothing.
import { fromCallback, fromPromise } from "xstate";
import type { CallbackActorLogic, EventObject, PromiseActorLogic } from "xstate";
import { GridveilError } from "../actors/errors.ts";

/** An effect was invoked that the runtime did not provide with `machine.provide(...)`. */
export class MissingEffectError extends GridveilError {
  override name = "MissingEffectError";
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
