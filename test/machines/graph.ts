// Graph traversal for the machine tests (@xstate/graph): the events come from the machine itself, so a test names
// neither XState's internal event types nor the state paths it expects to reach.
import { getShortestPaths, getStateNodes as allStateNodes } from "@xstate/graph";
import {
  __unsafe_getAllOwnEventDescriptors as acceptedEventTypes,
  createMachine,
  fromPromise,
  getStateNodes as activeStateNodes,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type EventObject,
} from "xstate";
import { leafPaths } from "./helpers.ts";

/** What the traversal may send besides what needs no payload (timers): */
export type Samples<TEvent extends EventObject = EventObject> = {
  /** Payloads of the machine's own events; an accepted event type without a sample is sent as `{ type }`. */
  events?: readonly TEvent[];
  /** What each invoked effect may answer, by its invoke id (every invoked effect also fails once). */
  outputs?: Record<string, readonly unknown[]>;
};

// XState names the completion and the failure of an invoked actor after its id; read the two forms from XState itself
// (a one-state probe machine's own transitions) rather than writing them down.
const probe = createMachine({
  initial: "running",
  states: { running: { invoke: { id: "probe", src: fromPromise(async () => undefined), onDone: "done", onError: "failed" } }, done: {}, failed: {} },
});
function eventTypeTo(target: string): string {
  const running = probe.states.running;
  if (!running) throw new Error("probe machine has no running state");
  for (const [type, transitions] of running.transitions) if (transitions.some((t) => t.target?.[0]?.key === target)) return type;
  throw new Error(`probe machine has no transition to ${target}`);
}
const DONE_TYPE = eventTypeTo("done");
const ERROR_TYPE = eventTypeTo("failed");
const outcomeType = (template: string, invokeId: string): string => template.replace("probe", invokeId);

/** Every event a snapshot accepts, as the machine declares it, with the given payloads. */
export function acceptedEvents(machine: AnyStateMachine, samples: Samples<EventObject>): (snapshot: AnyMachineSnapshot) => EventObject[] {
  return (snapshot) => {
    const invokes = activeStateNodes(machine.root, snapshot.value).flatMap((node) => node.invoke);
    return acceptedEventTypes(snapshot).flatMap((type): EventObject[] => {
      if (type === "*") return [];
      const given = (samples.events ?? []).filter((event) => event.type === type);
      if (given.length > 0) return given;
      for (const invoke of invokes) {
        if (type === outcomeType(DONE_TYPE, invoke.id)) {
          const outputs = samples.outputs?.[invoke.id] ?? [undefined];
          return outputs.map((output) => ({ type, output, actorId: invoke.id }) as EventObject);
        }
        if (type === outcomeType(ERROR_TYPE, invoke.id)) return [{ type, error: new Error("effect failed"), actorId: invoke.id } as EventObject];
      }
      return [{ type }];
    });
  };
}

/**
 * The leaf states (atomic and final) a machine can rest in, as dotted paths from its root: a leaf with an unguarded
 * eventless transition (`always` without a guard) is passed through, never rested in, so it is not one of them.
 */
export function leavesOf(machine: AnyStateMachine): string[] {
  return allStateNodes(machine.root)
    .filter((node) => node.type === "atomic" || node.type === "final")
    .filter((node) => !(node.always ?? []).some((transition) => transition.guard === undefined))
    .map((node) => node.path.join("."));
}

/** The leaf states @xstate/graph's shortest-path traversal reaches from the machine's initial state. */
export function reachedLeaves(
  machine: AnyStateMachine,
  options: { input: unknown; samples: Samples<EventObject>; serializeState?: (snapshot: AnyMachineSnapshot) => string },
): string[] {
  const paths = getShortestPaths(machine, {
    input: options.input,
    events: acceptedEvents(machine, options.samples),
    serializeState: options.serializeState ?? ((snapshot) => JSON.stringify(snapshot.value)),
  });
  return [...new Set(paths.flatMap((path) => leafPaths(path.state.value)))].sort();
}
