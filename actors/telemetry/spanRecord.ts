// The flat JSON shape of one finished span, as the local span file stores it and `gridveil trace --json` prints it.
import type { ReadableSpan } from "@opentelemetry/sdk-trace";

export type SpanRecord = {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  links: { traceId: string; spanId: string }[];
  startMs: number;
  durationMs: number;
  attributes: Record<string, string | number | boolean>;
  events: { name: string; offsetMs: number; attributes: Record<string, string | number | boolean> }[];
  status: "ok" | "error" | "unset";
};

const hrToMs = ([seconds, nanos]: [number, number]) => seconds * 1e3 + nanos / 1e6;

export function toSpanRecord(span: ReadableSpan): SpanRecord {
  const startMs = hrToMs(span.startTime);
  return {
    service: String(span.resource.attributes["service.name"] ?? "unknown"),
    name: span.name,
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    parentSpanId: span.parentSpanContext?.spanId ?? null,
    links: span.links.map((link) => ({ traceId: link.context.traceId, spanId: link.context.spanId })),
    startMs,
    durationMs: hrToMs(span.duration),
    attributes: plain(span.attributes),
    events: span.events.map((event) => ({
      name: event.name,
      offsetMs: hrToMs(event.time) - startMs,
      attributes: plain(event.attributes ?? {}),
    })),
    status: span.status.code === 2 ? "error" : span.status.code === 1 ? "ok" : "unset",
  };
}

function plain(attributes: Record<string, unknown>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") out[key] = value;
    else if (Array.isArray(value)) out[key] = value.join(",");
  }
  return out;
}
