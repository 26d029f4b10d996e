// Live view of an actor: its machine's state (value, tags, counts — never the context) on its state subject,
// on every transition (throttled) and as a heartbeat, for `gridveil watch`.
import type { NatsConnection } from "@nats-io/transport-node";
import type { AnyActorRef, Subscription } from "xstate";
import { publish } from "../nats/rpc.ts";
import { stateSnapshotSchema, type StateSnapshot } from "../../protocol/wire/schemas.ts";
import type { Party } from "../../protocol/wire/subjects.ts";
import { adapterDefaults } from "../config/common.ts";


/** The machine snapshot fields this module reads (an XState v5 machine snapshot has all of them). */
type MachineSnapshotView = {
  status?: unknown;
  value?: unknown;
  tags?: unknown;
  children?: unknown;
};

export type StateSnapshotOptions = {
  nc: NatsConnection;
  /** `s.dso.state`, `s.gateway.state` or `s.meter.state(inboxId)`. */
  subject: string;
  party: Party;
  /** Shown by `gridveil watch`: the market id for the DSO/gateway, the inbox id for a meter (never a permanent id). */
  id: string;
  /** Heartbeat: a snapshot at least this often, changed or not (default 5 s; 0 = transitions only). */
  intervalMs?: number;
  /** At most one snapshot per this many ms on transitions; the last state of a burst is always sent (default 250). */
  throttleMs?: number;
  /**
   * Extra counters for the summary (queue lengths, trades in flight…). Numbers only, by type and at run time:
   * whatever else is returned is dropped, so no context value can leak through here.
   */
  counts?: (snapshot: unknown) => Record<string, number>;
  now?: () => number;
  /** Told when a publish fails (closed connection…); the actor is never affected. */
  onError?: (error: unknown) => void;
};

export type StateSnapshotPublisher = {
  /** Publishes the current state now (e.g. right after wiring). */
  publishNow(): void;
  /** Stops the heartbeat and the subscription; publishes a last snapshot first unless the connection is closed. */
  stop(): void;
};

/** The secret-free view of a machine snapshot: its state value, tags, status and counts. */
export function describeSnapshot(
  snapshot: unknown,
  options: Pick<StateSnapshotOptions, "party" | "id" | "intervalMs" | "counts"> & { at: number },
): StateSnapshot {
  const view = (typeof snapshot === "object" && snapshot !== null ? snapshot : {}) as MachineSnapshotView;
  const tags = view.tags instanceof Set ? [...view.tags].filter((tag): tag is string => typeof tag === "string").sort() : [];
  const children = typeof view.children === "object" && view.children !== null ? Object.keys(view.children).length : 0;
  const summary: Record<string, string | number | string[]> = {
    status: typeof view.status === "string" ? view.status : "unknown",
    tags,
    children,
    heartbeatMs: options.intervalMs ?? adapterDefaults.snapshotIntervalMs,
  };
  if (options.counts) {
    let counts: Record<string, unknown> = {};
    try {
      counts = options.counts(snapshot);
    } catch {
      counts = {};
    }
    for (const [key, value] of Object.entries(counts)) {
      if (typeof value === "number" && Number.isFinite(value) && !(key in summary)) summary[key] = value;
    }
  }
  return {
    type: "state.snapshot",
    party: options.party,
    actorId: options.id,
    state: stateValueOf(view.value),
    summary,
    at: options.at,
  };
}

/** A state value is strings nested in objects; anything else is not one and is not copied. */
function stateValueOf(value: unknown): StateSnapshot["state"] {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const out: Record<string, StateSnapshot["state"]> = {};
    for (const [key, child] of Object.entries(value)) out[key] = stateValueOf(child);
    return out;
  }
  return null;
}

/** Publishes `actor`'s state on `subject` on transitions (throttled) and every `intervalMs`. */
export function publishStateSnapshots(actor: AnyActorRef, options: StateSnapshotOptions): StateSnapshotPublisher {
  const now = options.now ?? Date.now;
  const throttleMs = options.throttleMs ?? adapterDefaults.snapshotThrottleMs;
  const intervalMs = options.intervalMs ?? adapterDefaults.snapshotIntervalMs;
  let lastSentAt = Number.NEGATIVE_INFINITY;
  let trailing: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let subscription: Subscription | undefined;
  let stopped = false;

  const send = (): void => {
    if (trailing) clearTimeout(trailing);
    trailing = undefined;
    if (options.nc.isClosed()) return;
    try {
      const at = now();
      publish(options.nc, options.subject, stateSnapshotSchema, describeSnapshot(actor.getSnapshot(), { ...options, intervalMs, at }));
      lastSentAt = at;
    } catch (error) {
      options.onError?.(error);
    }
  };

  const onTransition = (): void => {
    if (stopped) return;
    const wait = lastSentAt + throttleMs - now();
    if (wait <= 0) send();
    else if (!trailing) {
      trailing = setTimeout(send, wait);
      trailing.unref();
    }
  };

  subscription = actor.subscribe({
    next: onTransition,
    error: () => send(),
    complete: () => send(),
  });
  if (intervalMs > 0) {
    heartbeat = setInterval(send, intervalMs);
    heartbeat.unref();
  }
  send();

  return {
    publishNow: send,
    stop(): void {
      if (stopped) return;
      stopped = true;
      subscription?.unsubscribe();
      subscription = undefined;
      if (heartbeat) clearInterval(heartbeat);
      send();
    },
  };
}
