// Trace-context seams for NATS headers (PROTOCOL §6: every message carries W3C trace context); replaceable, no-op-able.
import { context, propagation, type Context, type TextMapGetter, type TextMapSetter } from "@opentelemetry/api";
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";

/**
 * How trace context enters and leaves NATS headers. The default delegates to OpenTelemetry's global propagator,
 * which is a no-op until telemetry registers the W3C propagator (actors/telemetry), and then writes `traceparent`
 * and `tracestate`. Tests or a tracing engineer can swap it with `setTracePropagation`.
 */
export type TracePropagation = {
  /** Writes the active trace context into outgoing headers. */
  inject(headers: MsgHdrs): void;
  /** Reads the trace context of an incoming message (an OpenTelemetry `Context` by default). */
  extract(headers: MsgHdrs | undefined): Context;
};

const headerSetter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

const headerGetter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (carrier) => (carrier ? carrier.keys() : []),
  // MsgHdrs lookups are case-sensitive; W3C keys (`traceparent`) are lower case on both ends.
  get: (carrier, key) => (carrier && carrier.has(key) ? carrier.get(key) : undefined),
};

export const openTelemetryPropagation: TracePropagation = {
  inject: (headers) => propagation.inject(context.active(), headers, headerSetter),
  extract: (headers) => propagation.extract(context.active(), headers, headerGetter),
};

export const noTracePropagation: TracePropagation = {
  inject: () => {},
  extract: () => context.active(),
};

let current: TracePropagation = openTelemetryPropagation;

/** Replaces the propagation used by every publish, request and consumer in actors/nats. Returns the previous one. */
export function setTracePropagation(next: TracePropagation): TracePropagation {
  const previous = current;
  current = next;
  return previous;
}

/**
 * Outgoing: returns headers carrying the trace context (creating them when absent). Every publish and request in
 * actors/nats passes through here, and accepts caller headers (e.g. `Nats-Msg-Id` is set by JetStream options).
 */
export function injectHeaders(headers?: MsgHdrs): MsgHdrs {
  const target = headers ?? natsHeaders();
  current.inject(target);
  return target;
}

/** Incoming: the trace context of a message, to run its handler in (`context.with(extractHeaders(msg), …)`). */
export function extractHeaders(msg: { headers?: MsgHdrs | undefined }): Context {
  return current.extract(msg.headers);
}

/** Plain `key → first value` view of a message's headers (logging, tests). */
export function headerRecord(msg: { headers?: MsgHdrs | undefined }): Record<string, string> {
  const record: Record<string, string> = {};
  if (!msg.headers) return record;
  for (const key of msg.headers.keys()) record[key] = msg.headers.get(key);
  return record;
}
