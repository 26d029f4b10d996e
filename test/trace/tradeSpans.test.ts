import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import type { SpanRecord } from "../../actors/telemetry/spanRecord.ts";
import { fetchTradeSpansFromJaeger } from "../../actors/trace/jaeger.ts";
import { tradeIdsIn, tradeSpans } from "../../actors/trace/tradeSpans.ts";
import { renderWaterfall } from "../../actors/trace/waterfall.ts";

const TRADE = `0x${"ab".repeat(32)}`;

function span(partial: Partial<SpanRecord> & Pick<SpanRecord, "name" | "traceId" | "spanId">): SpanRecord {
  return { service: "gridveil-meter", parentSpanId: null, links: [], startMs: 0, durationMs: 1, attributes: {}, events: [], status: "unset", ...partial };
}

// Two bid traces (A, B), the trade trace (T) linking to both, and an unrelated trace (X).
const spans: SpanRecord[] = [
  span({ name: "meter.bid", traceId: "A", spanId: "a1", startMs: 0, durationMs: 50 }),
  span({ name: "meter.encrypt", traceId: "A", spanId: "a2", parentSpanId: "a1", startMs: 1, durationMs: 5 }),
  span({ name: "meter.bid", traceId: "B", spanId: "b1", startMs: 2, durationMs: 60 }),
  span({ name: "gateway.batch", traceId: "G", spanId: "g1", service: "gridveil-gateway", startMs: 8, links: [{ traceId: "B", spanId: "b1" }] }),
  span({ name: "dso.trade", traceId: "T", spanId: "t1", service: "gridveil-dso", startMs: 20, durationMs: 30, attributes: { "gridveil.trade.id": TRADE }, links: [{ traceId: "A", spanId: "a1" }, { traceId: "G", spanId: "g1" }] }),
  span({ name: "dso.settlement", traceId: "T", spanId: "t2", parentSpanId: "t1", service: "gridveil-dso", startMs: 45, durationMs: 2 }),
  span({ name: "meter.bid", traceId: "X", spanId: "x1", startMs: 3 }),
  // A batch that carried bid B and the unrelated bid X: included (it links into B), but X is not followed.
  span({ name: "gateway.batch", traceId: "H", spanId: "h1", service: "gridveil-gateway", startMs: 9, links: [{ traceId: "B", spanId: "b1" }, { traceId: "X", spanId: "x1" }] }),
  span({ name: "chain.tx", traceId: "H", spanId: "h2", parentSpanId: "h1", service: "gridveil-gateway", startMs: 10 }),
];

describe("trade span selection", () => {
  it("collects the trade's trace and every trace reachable through links, transitively", () => {
    const selected = tradeSpans(spans, TRADE.toUpperCase().replace("0X", "0x"));
    expect(new Set(selected.map((s) => s.traceId))).toEqual(new Set(["A", "B", "G", "H", "T"]));
    expect(selected.map((s) => s.startMs)).toEqual([...selected.map((s) => s.startMs)].sort((a, b) => a - b));
    expect(tradeSpans(spans, `0x${"cd".repeat(32)}`)).toEqual([]);
    expect(tradeIdsIn(spans)).toEqual([TRADE]);
  });

  it("renders children indented under their parent with offsets from the first span", () => {
    const text = renderWaterfall(tradeSpans(spans, TRADE));
    const lines = text.split("\n");
    expect(lines[0]).toMatch(/service\s+span\s+start ms\s+dur ms/);
    const encrypt = lines.find((line) => line.includes("meter.encrypt"))!;
    expect(encrypt).toMatch(/gridveil-meter\s+ {2}meter\.encrypt\s+1\.0\s+5\.0/);
    expect(lines.findIndex((l) => l.includes("meter.encrypt"))).toBe(lines.findIndex((l) => l.includes("meter.bid")) + 1);
    expect(text).toContain("links=2");
    expect(text).not.toContain("x1");
  });
});

describe("Jaeger query adapter", () => {
  it("finds the trade by tag, follows FOLLOWS_FROM links into other traces, and converts µs to ms", async () => {
    // A stand-in for Jaeger's HTTP query API, serving responses in its documented JSON shape.
    const requests: string[] = [];
    const jaegerTrace = (traceID: string, spans: object[]) => ({ traceID, spans, processes: { p1: { serviceName: traceID === "T" ? "gridveil-dso" : "gridveil-meter" } } });
    const server = createServer((req, res) => {
      requests.push(req.url!);
      const url = new URL(req.url!, "http://x");
      let data: object[] = [];
      if (url.pathname === "/api/traces" && url.searchParams.get("service") === "gridveil-dso") {
        expect(JSON.parse(url.searchParams.get("tags")!)).toEqual({ "gridveil.trade.id": TRADE });
        data = [jaegerTrace("T", [
          { traceID: "T", spanID: "t1", operationName: "dso.trade", references: [{ refType: "FOLLOWS_FROM", traceID: "A", spanID: "a1" }], startTime: 20_000, duration: 30_000, tags: [{ key: "gridveil.trade.id", type: "string", value: TRADE }], processID: "p1" },
          { traceID: "T", spanID: "t2", operationName: "dso.settlement", references: [{ refType: "CHILD_OF", traceID: "T", spanID: "t1" }], startTime: 45_000, duration: 2_000, processID: "p1" },
        ])];
      } else if (url.pathname === "/api/traces/A") {
        data = [jaegerTrace("A", [{ traceID: "A", spanID: "a1", operationName: "meter.bid", startTime: 0, duration: 50_000, processID: "p1" }])];
      }
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ data }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const result = await fetchTradeSpansFromJaeger(`http://127.0.0.1:${port}/`, TRADE);
      expect(result.map((s) => s.name)).toEqual(["meter.bid", "dso.trade", "dso.settlement"]);
      const trade = result.find((s) => s.name === "dso.trade")!;
      expect(trade).toMatchObject({ service: "gridveil-dso", startMs: 20, durationMs: 30, parentSpanId: null, links: [{ traceId: "A", spanId: "a1" }] });
      expect(result.find((s) => s.name === "dso.settlement")!.parentSpanId).toBe("t1");
      expect(requests.some((r) => r.startsWith("/api/traces/A"))).toBe(true);
    } finally {
      server.close();
    }
  });

  it("reports an unreachable Jaeger clearly", async () => {
    await expect(fetchTradeSpansFromJaeger("http://127.0.0.1:9", TRADE)).rejects.toThrow(/cannot reach the Jaeger query API/);
  });
});
