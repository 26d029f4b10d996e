// `gridveil bench gas` end to end on a tiny book: the figures exist, Compare is priced as EIP-1108 says, the table renders.
import { describe, expect, it } from "vitest";
import { runGasBench } from "../../bench/gas.ts";
import type { BenchProgress } from "../../bench/progress.ts";
import { renderGasTable } from "../../actors/cli/commands/benchGas.ts";

describe("bench gas", () => {
  it("measures every figure for two small levels and renders them", async () => {
    const progress: BenchProgress[] = [];
    const rows = await runGasBench({ levels: [3, 5], bookSize: 8, samples: 2, blockGasLimit: 5_000_000, onProgress: (step) => progress.push(step) });
    expect(rows.map((row) => [row.levels, row.dim])).toEqual([
      [3, 4],
      [5, 6],
    ]);
    for (const row of rows) {
      expect(row.precompileGas).toBe(34_000 * row.dim + 45_000);
      expect(Math.abs(row.compareVsPrecompile - 1)).toBeLessThan(0.1);
      expect(row.compareStoredGas).toBeGreaterThan(row.compareGas);
      expect(row.paperCompareGas).toBe(80_000 * row.levels + 100_000);
      expect(row.placeMatchingGas).toBeGreaterThan(row.storageGasPerBid);
      expect(row.placeRestingGas).toBeGreaterThan(row.storageGasPerBid);
      // A 5 M block holds a few of these small bids (the bench's own figure is for 30 M).
      expect(row.maxBatchResting).toBeGreaterThanOrEqual(3);
      expect(row.maxBatchMatching).toBeGreaterThanOrEqual(1);
      expect(row.fitsBlock).toBe(true);
    }
    // Two more levels add 2·192 bytes of code at 200 gas each: the slope is per +10 levels.
    expect(rows[0]!.storageGrowthPer10Levels).toBeNull();
    expect(rows[1]!.storageGrowthPer10Levels).toBeGreaterThan(5 * 2 * 192 * 200 * 0.95);
    expect(progress.at(-1)!.phase).toMatch(/^n=5: /);
    const table = renderGasTable(rows, { book: 6, samples: 2 });
    expect(table).toContain("34k·d+45k");
    expect(table.split("\n")[2]).toMatch(/^3\s+4\s/);
  });
});

describe("bench gas --seed", () => {
  it("sends the same transactions twice: every figure repeats, and another seed builds another book", async () => {
    const options = { levels: [3], bookSize: 6, samples: 2, blockGasLimit: 3_000_000 };
    const first = await runGasBench({ ...options, seed: 11 });
    const second = await runGasBench({ ...options, seed: 11 });
    expect(second).toEqual(first);
    const other = await runGasBench({ ...options, seed: 12 });
    expect(other[0]!.compareGas).toBe(first[0]!.compareGas);
    expect([other[0]!.placeRestingGas, other[0]!.placeMatchingGas]).not.toEqual([first[0]!.placeRestingGas, first[0]!.placeMatchingGas]);
  });
});
