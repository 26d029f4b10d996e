// How runtimes hand effects to the machines: plain async functions wrapped as XState actor logic, and the
// placeholders a machine uses until they are provided (a missing effect fails loudly, on the effect's error path).
// Machines never reach for I/O themselves (STYLE); all messaging of PROTOCOL §6 happens in these effects.
import { fromCallback, fromPromise } from "xstate";
import type { CallbackActorLogic, EventObject, PromiseActorLogic } from "xstate";
import { MissingEffectError } from "./errors.ts";

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
  return new MissingEffectError({ machine, effect });
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

/** The plain-function form of a machine's promise actors: what its runtime writes. */
export type EffectsOf<TActors> = {
  [K in keyof TActors]: TActors[K] extends PromiseActorLogic<infer TOutput, infer TInput> ? Effect<TInput, TOutput> : never;
};

/** Every effect of `effects` as promise actor logic, keyed as given (for `machine.provide({ actors })`). */
export function promiseEffects<TActors>(effects: EffectsOf<TActors>): TActors {
  return Object.fromEntries(
    Object.entries(effects as Record<string, Effect<unknown, unknown>>).map(([name, effect]) => [name, promiseEffect(effect)]),
  ) as TActors;
}

/** Placeholders for every effect of a machine until the runtime provides it (a missing one fails loudly). */
export function unprovidedEffects<TActors>(machine: string, names: readonly (keyof TActors & string)[]): TActors {
  return Object.fromEntries(names.map((name) => [name, unprovidedPromise(machine, name)])) as TActors;
}
