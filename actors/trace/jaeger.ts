// Reads a trade's spans from a Jaeger query API (HTTP JSON, /api/traces), converted to the local span-record shape.
import { JaegerQueryError } from "./errors.ts";
import type { SpanRecord } from "../telemetry/spanRecord.ts";
import { TRADE_ID_ATTRIBUTE } from "./tradeSpans.ts";

type JaegerTag = { key: string; type?: string; value: unknown };
type JaegerSpan = {
  traceID: string;
  spanID: string;
  operationName: string;
  references?: { refType: string; traceID: string; spanID: string }[];
  startTime: number; // µs since epoch
  duration: number; // µs
  tags?: JaegerTag[];
  logs?: { timestamp: number; fields?: JaegerTag[] }[];
  processID: string;
};
type JaegerTrace = { traceID: string; spans: JaegerSpan[]; processes: Record<string, { serviceName: string }> };

/** The services whose spans carry the trade id (the DSO's trade span, the gateway's match span). */
const TRADE_SERVICES = ["gridveil-dso", "gridveil-gateway"];

export async function fetchTradeSpansFromJaeger(baseUrl: string, tradeId: string, fetchImpl = fetch): Promise<SpanRecord[]> {
  const root = baseUrl.replace(/\/$/, "");
  const traces = new Map<string, JaegerTrace>();
  for (const service of TRADE_SERVICES) {
    const query = new URLSearchParams({
      service,
      tags: JSON.stringify({ [TRADE_ID_ATTRIBUTE]: tradeId }),
      limit: "20",
      lookback: "7d",
    });
    for (const trace of await getTraces(`${root}/api/traces?${query}`, fetchImpl)) traces.set(trace.traceID, trace);
  }
  // Follow links (Jaeger shows OTLP links as FOLLOWS_FROM references into other traces).
  const pending = [...traces.values()];
  while (pending.length > 0) {
    const trace = pending.pop()!;
    for (const span of trace.spans) {
      for (const ref of span.references ?? []) {
        if (ref.traceID === trace.traceID || traces.has(ref.traceID)) continue;
        const [linked] = await getTraces(`${root}/api/traces/${ref.traceID}`, fetchImpl);
        if (linked) {
          traces.set(linked.traceID, linked);
          pending.push(linked);
        }
      }
    }
  }
  return [...traces.values()].flatMap(toSpanRecords).sort((a, b) => a.startMs - b.startMs);
}

async function getTraces(url: string, fetchImpl: typeof fetch): Promise<JaegerTrace[]> {
  let response: Response;
  try {
    response = await fetchImpl(url);
  } catch (cause) {
    throw new JaegerQueryError({ url, cause });
  }
  if (response.status === 404) return [];
  if (!response.ok) throw new JaegerQueryError({ url, status: response.status });
  const body = (await response.json()) as { data?: JaegerTrace[] | null };
  return Array.isArray(body.data) ? body.data : [];
}

export function toSpanRecords(trace: JaegerTrace): SpanRecord[] {
  return trace.spans.map((span) => {
    const parent = (span.references ?? []).find((ref) => ref.refType === "CHILD_OF" && ref.traceID === span.traceID);
    const links = (span.references ?? []).filter((ref) => ref !== parent);
    const startMs = span.startTime / 1000;
    return {
      service: trace.processes[span.processID]?.serviceName ?? "unknown",
      name: span.operationName,
      traceId: span.traceID,
      spanId: span.spanID,
      parentSpanId: parent?.spanID ?? null,
      links: links.map((ref) => ({ traceId: ref.traceID, spanId: ref.spanID })),
      startMs,
      durationMs: span.duration / 1000,
      attributes: tagsToAttributes(span.tags ?? []),
      events: (span.logs ?? []).map((log) => {
        const fields = tagsToAttributes(log.fields ?? []);
        return { name: String(fields.event ?? "log"), offsetMs: log.timestamp / 1000 - startMs, attributes: fields };
      }),
      status: (span.tags ?? []).some((tag) => tag.key === "error" && tag.value === true) ? "error" : "unset",
    };
  });
}

function tagsToAttributes(tags: readonly JaegerTag[]): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const tag of tags) {
    if (typeof tag.value === "string" || typeof tag.value === "number" || typeof tag.value === "boolean") out[tag.key] = tag.value;
  }
  return out;
}
