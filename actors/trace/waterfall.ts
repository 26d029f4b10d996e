// Renders a trade's spans as a terminal waterfall: service, span (indented under its parent), offset, duration, bar.
import type { SpanRecord } from "../telemetry/spanRecord.ts";

const KEY_ATTRIBUTES = [
  "gridveil.trade.id",
  "gridveil.bidder",
  "gridveil.side",
  "gridveil.batch.size",
  "gridveil.trade.status",
  "gridveil.tx.hash",
  "gridveil.block.number",
  "gridveil.gas.used",
  "gridveil.tx.compares",
];

export type WaterfallOptions = { width?: number; attributes?: readonly string[] };

/** Depth of each span under its parent within the set (links do not nest; a linked trace starts at depth 0). */
function depths(spans: readonly SpanRecord[]): Map<string, number> {
  const byId = new Map(spans.map((span) => [span.spanId, span]));
  const depth = new Map<string, number>();
  const depthOf = (span: SpanRecord, guard = 0): number => {
    const known = depth.get(span.spanId);
    if (known !== undefined) return known;
    const parent = span.parentSpanId ? byId.get(span.parentSpanId) : undefined;
    const value = parent && guard < 64 ? depthOf(parent, guard + 1) + 1 : 0;
    depth.set(span.spanId, value);
    return value;
  };
  for (const span of spans) depthOf(span);
  return depth;
}

/** Orders spans depth-first (children under their parent, siblings by start), roots by start time. */
function treeOrder(spans: readonly SpanRecord[]): SpanRecord[] {
  const ids = new Set(spans.map((span) => span.spanId));
  const children = new Map<string, SpanRecord[]>();
  const roots: SpanRecord[] = [];
  for (const span of [...spans].sort((a, b) => a.startMs - b.startMs)) {
    if (span.parentSpanId && ids.has(span.parentSpanId)) {
      const list = children.get(span.parentSpanId) ?? [];
      list.push(span);
      children.set(span.parentSpanId, list);
    } else roots.push(span);
  }
  const out: SpanRecord[] = [];
  const visit = (span: SpanRecord) => {
    out.push(span);
    for (const child of children.get(span.spanId) ?? []) visit(child);
  };
  roots.forEach(visit);
  return out;
}

export function renderWaterfall(spans: readonly SpanRecord[], options: WaterfallOptions = {}): string {
  if (spans.length === 0) return "(no spans)";
  const width = options.width ?? 40;
  const keys = options.attributes ?? KEY_ATTRIBUTES;
  const origin = Math.min(...spans.map((span) => span.startMs));
  const end = Math.max(...spans.map((span) => span.startMs + span.durationMs));
  const total = Math.max(end - origin, 1e-3);
  const depth = depths(spans);
  const ordered = treeOrder(spans);
  const serviceWidth = Math.max(7, ...ordered.map((span) => span.service.length));
  const nameWidth = Math.max(4, ...ordered.map((span) => span.name.length + 2 * (depth.get(span.spanId) ?? 0)));
  const lines = [
    `${"service".padEnd(serviceWidth)}  ${"span".padEnd(nameWidth)}  ${"start ms".padStart(9)}  ${"dur ms".padStart(8)}  timeline`,
  ];
  for (const span of ordered) {
    const offset = span.startMs - origin;
    const from = Math.min(width - 1, Math.floor((offset / total) * width));
    const length = Math.max(1, Math.round((span.durationMs / total) * width));
    const bar = " ".repeat(from) + "█".repeat(Math.min(length, width - from));
    const name = `${"  ".repeat(depth.get(span.spanId) ?? 0)}${span.name}`;
    const attributes = keys
      .filter((key) => span.attributes[key] !== undefined)
      .map((key) => `${key.replace(/^gridveil\./, "")}=${short(String(span.attributes[key]))}`);
    if (span.links.length > 0) attributes.push(`links=${span.links.length}`);
    if (span.status === "error") attributes.push("ERROR");
    lines.push(
      `${span.service.padEnd(serviceWidth)}  ${name.padEnd(nameWidth)}  ${offset.toFixed(1).padStart(9)}  ${span.durationMs
        .toFixed(1)
        .padStart(8)}  ${bar.padEnd(width)}  ${attributes.join(" ")}`.trimEnd(),
    );
  }
  return lines.join("\n");
}

function short(value: string): string {
  return /^0x[0-9a-fA-F]{40,}$/.test(value) ? `${value.slice(0, 10)}…` : value;
}
