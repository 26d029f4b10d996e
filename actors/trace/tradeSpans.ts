// Selects every span of one trade: the traces that carry the trade id, plus the bid traces their spans link to.
import type { SpanRecord } from "../telemetry/spanRecord.ts";
import { sameHex, toHex } from "../../protocol/base/hex.ts";

export const TRADE_ID_ATTRIBUTE = "gridveil.trade.id";

/**
 * The trade's own spans carry `gridveil.trade.id`; their traces, every trace one of their spans links to (the two
 * bids' traces: encryption, ticket, submission), and the traces that link into those (the gateway batch and chain
 * transaction that placed each bid) make up the whole trade. Sorted by start time.
 */
export function tradeSpans(spans: readonly SpanRecord[], tradeId: string): SpanRecord[] {
  const wanted = toHex(tradeId);
  const traceIds = new Set<string>();
  for (const span of spans) {
    if (sameHex(String(span.attributes[TRADE_ID_ATTRIBUTE] ?? ""), wanted)) traceIds.add(span.traceId);
  }
  // Follow links until no new trace appears (a link can point into a trace that links further, e.g. a batch).
  let grew = traceIds.size > 0;
  while (grew) {
    grew = false;
    for (const span of spans) {
      if (!traceIds.has(span.traceId)) continue;
      for (const link of span.links) {
        if (!traceIds.has(link.traceId)) {
          traceIds.add(link.traceId);
          grew = true;
        }
      }
    }
  }
  // Traces that link INTO the trade (the gateway's batch and its chain transaction link to the bids they carry);
  // their own links lead to other bids, so they are not followed.
  const linkedIn = new Set<string>();
  for (const span of spans) {
    if (!traceIds.has(span.traceId) && span.links.some((link) => traceIds.has(link.traceId))) linkedIn.add(span.traceId);
  }
  return spans
    .filter((span) => traceIds.has(span.traceId) || linkedIn.has(span.traceId))
    .sort((a, b) => a.startMs - b.startMs);
}

/** Trade ids present in a span file, most recent first (for hints and for the demo's sample). */
export function tradeIdsIn(spans: readonly SpanRecord[]): string[] {
  const latest = new Map<string, number>();
  for (const span of spans) {
    const id = span.attributes[TRADE_ID_ATTRIBUTE];
    if (typeof id === "string") latest.set(id, Math.max(latest.get(id) ?? 0, span.startMs));
  }
  return [...latest.entries()].sort((a, b) => b[1] - a[1]).map(([id]) => id);
}
