import { describe, expect, it } from "vitest";
import { latencyByStage, percentile } from "../../actors/telemetry/latency.ts";
import type { SpanRecord } from "../../actors/telemetry/spanRecord.ts";

const span = (name: string, durationMs: number): SpanRecord => ({
  service: "gridveil-meter",
  name,
  traceId: "t",
  spanId: `${name}-${durationMs}`,
  parentSpanId: null,
  links: [],
  startMs: 0,
  durationMs,
  attributes: {},
  events: [],
  status: "unset",
});

describe("latency percentiles", () => {
  it("uses nearest rank", () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 0.5)).toBe(50);
    expect(percentile(sorted, 0.9)).toBe(90);
    expect(percentile(sorted, 0.99)).toBe(99);
    expect(percentile([7], 0.99)).toBe(7);
    expect(percentile([], 0.5)).toBeNaN();
  });

  it("groups by stage and skips stages without spans", () => {
    const spans = [span("meter.encrypt", 3), span("meter.encrypt", 1), span("meter.encrypt", 2), span("chain.tx", 40)];
    const stages = latencyByStage(spans, ["meter.encrypt", "chain.tx", "dso.verify"]);
    expect(Object.keys(stages)).toEqual(["meter.encrypt", "chain.tx"]);
    expect(stages["meter.encrypt"]).toEqual({ count: 3, p50: 2, p90: 3, p99: 3, max: 3 });
    expect(stages["chain.tx"]!.max).toBe(40);
  });
});
