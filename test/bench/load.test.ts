// `gridveil bench load` (bench/load.ts): a real market at a small meter count gives a full row with nothing lost or
// placed twice; saturation is where bids/s stop growing by 10 %.
import { describe, expect, it } from "vitest";
import { runLoadBench, saturationOf, type LoadRow } from "../../bench/load.ts";
import { renderLoadTable } from "../../actors/cli/commands/benchLoad.ts";

const row = (meters: number, bidsPerS: number): LoadRow => ({
  meters,
  bidsPerS,
  tradeP50Ms: 1,
  tradeP95Ms: 2,
  memoryMbPerMeter: 1,
  submitted: 1,
  placed: 1,
  lost: 0,
  placedTwice: 0,
  trades: 0,
  settled: 0,
});

describe("bench load", () => {
  it("runs a real market and reports its rate, trade latency and memory, with nothing lost or placed twice", async () => {
    const phases: string[] = [];
    const [result] = await runLoadBench({ meters: [4], rounds: 1, levels: 10, seed: 1, onProgress: (progress) => phases.push(progress.phase) });
    expect(result).toMatchObject({ meters: 4, lost: 0, placedTwice: 0 });
    expect(result!.submitted).toBeGreaterThan(0);
    expect(result!.placed).toBe(result!.submitted);
    expect(result!.bidsPerS).toBeGreaterThan(0);
    expect(result!.settled).toBe(result!.trades);
    if (result!.trades > 0) expect(result!.tradeP95Ms).toBeGreaterThanOrEqual(result!.tradeP50Ms!);
    expect(phases.at(-1)).toBe("done");
    expect(renderLoadTable([result!])).toContain("not saturated");
  }, 120_000);

  it("finds saturation where bids/s grow less than 10 % from one meter count to the next", () => {
    expect(saturationOf([row(4, 10), row(16, 30), row(64, 32)])).toBe(64);
    expect(saturationOf([row(4, 10), row(16, 30)])).toBeNull();
    expect(saturationOf([row(4, 10)])).toBeNull();
  });
});
