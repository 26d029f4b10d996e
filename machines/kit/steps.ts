// Step/backoff state pairs: a state that runs an effect and, beside it, the state that waits before running it again.
// Typed by the machine's own setup, so a step's guards, delays, actions and callbacks are checked as if inline.

/** The state-node config type of a machine built from `setup(...)`: what `createMachine` takes under `states`. */
export type StateNodeOf<TSetup extends { createMachine: (...args: never[]) => unknown }> = NonNullable<
  Parameters<TSetup["createMachine"]>[0]["states"]
>[string];

export type Retry<TNode, TBackoff extends string> = {
  /** The waiting state's name: the step's error transition targets it. */
  backoff: TBackoff;
  /** The named delay it waits (a backoff computed from the failure count). */
  delay: string;
  /** What else the waiting state does (events it takes while waiting). */
  whileWaiting?: TNode;
};

/**
 * `step(name, { backoff, delay }, state)` → `{ [name]: state, [backoff]: { after: { [delay]: name } } }`: the
 * step's error transition targets `backoff`, which re-enters the step once the named delay has passed.
 */
export function stepsOf<TNode>() {
  return function step<const TName extends string, const TBackoff extends string>(name: TName, retry: Retry<TNode, TBackoff>, state: TNode) {
    const backoff = { ...(retry.whileWaiting ?? {}), after: { [retry.delay]: name } } as TNode;
    return { [name]: state, [retry.backoff]: backoff } as Record<TName | TBackoff, TNode>;
  };
}

/** One invoke of a state node (not the array form). */
export type InvokeOf<TNode> = TNode extends { invoke?: infer TInvoke } ? Exclude<NonNullable<TInvoke>, readonly unknown[]> : never;
