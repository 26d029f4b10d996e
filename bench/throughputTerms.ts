// Matched → both meters hold their terms (PROTOCOL §5 trading, steps 1–2), from a phase's spans: for each trade, from
// the gateway's receipt of the transaction that emitted `Matched` (the end of its `chain.tx` span: the first moment any
// party off chain can know of the match) to the later of the two `terms.received` events on the bid sessions' `meter.bid`
// spans (the meter has opened and checked the sealed terms message; version 2: terms and counterpart opening in one).
import { percentile } from "../actors/telemetry/latency.ts";
import type { SpanRecord } from "../actors/telemetry/spanRecord.ts";

/** The attributes the spans carry (actors/gateway/spans.ts, actors/meter/sessionTraces.ts, actors/dso/tradeSpans.ts). */
const TX_HASH = "gridveil.tx.hash";
const TRADE_ID = "gridveil.trade.id";

export type TermsLatency = {
  /** Trades whose two sessions both received their terms, and their latency (ms). */
  trades: number;
  p50: number;
  p90: number;
  max: number;
  /**
   * p50 of where the time goes, from the same receipt: the match notice stored on the matches stream (end of the
   * gateway's `gateway.match`), both sealed terms sent by the DSO (end of the later `dso.terms`). Null without spans.
   */
  noticeP50: number | null;
  termsSentP50: number | null;
};

const round = (value: number) => Math.round(value * 100) / 100;
const endOf = (span: SpanRecord) => span.startMs + span.durationMs;

/** Null when no trade in `spans` has both terms and its receipt. */
export function termsLatency(spans: readonly SpanRecord[]): TermsLatency | null {
  const receiptAt = new Map<string, number>();
  const txOfTrade = new Map<string, string>();
  const noticeAt = new Map<string, number>();
  const termsSentAt = new Map<string, number[]>();
  // Per trade, per session span: the first terms.received (a session receives its terms once; a resend is not news).
  const receivedAt = new Map<string, Map<string, number>>();
  for (const span of spans) {
    switch (span.name) {
      case "chain.tx": {
        const txHash = span.attributes[TX_HASH];
        if (typeof txHash === "string") receiptAt.set(txHash.toLowerCase(), endOf(span));
        break;
      }
      case "gateway.match": {
        const tradeId = span.attributes[TRADE_ID];
        const txHash = span.attributes[TX_HASH];
        if (typeof tradeId !== "string" || typeof txHash !== "string") break;
        txOfTrade.set(tradeId, txHash.toLowerCase());
        // A republished notice (the first one's span is the match's).
        if (!noticeAt.has(tradeId) || noticeAt.get(tradeId)! > endOf(span)) noticeAt.set(tradeId, endOf(span));
        break;
      }
      case "dso.terms": {
        const tradeId = span.attributes[TRADE_ID];
        if (typeof tradeId === "string") termsSentAt.set(tradeId, [...(termsSentAt.get(tradeId) ?? []), endOf(span)]);
        break;
      }
      case "meter.bid":
        for (const event of span.events) {
          const tradeId = event.attributes[TRADE_ID];
          if (event.name !== "terms.received" || typeof tradeId !== "string") continue;
          const sessions = receivedAt.get(tradeId) ?? new Map<string, number>();
          if (!sessions.has(span.spanId)) sessions.set(span.spanId, span.startMs + event.offsetMs);
          receivedAt.set(tradeId, sessions);
        }
        break;
    }
  }
  const totals: number[] = [];
  const notices: number[] = [];
  const sent: number[] = [];
  for (const [tradeId, sessions] of receivedAt) {
    const txHash = txOfTrade.get(tradeId);
    const receipt = txHash === undefined ? undefined : receiptAt.get(txHash);
    if (receipt === undefined || sessions.size < 2) continue;
    totals.push(Math.max(...sessions.values()) - receipt);
    const notice = noticeAt.get(tradeId);
    if (notice !== undefined) notices.push(notice - receipt);
    const terms = termsSentAt.get(tradeId);
    if (terms !== undefined && terms.length >= 2) sent.push(Math.max(...terms) - receipt);
  }
  if (totals.length === 0) return null;
  const sorted = (values: number[]) => values.sort((a, b) => a - b);
  const p50 = (values: number[]) => (values.length === 0 ? null : round(percentile(sorted(values), 0.5)));
  sorted(totals);
  return {
    trades: totals.length,
    p50: round(percentile(totals, 0.5)),
    p90: round(percentile(totals, 0.9)),
    max: round(totals.at(-1)!),
    noticeP50: p50(notices),
    termsSentP50: p50(sent),
  };
}
