// Smoke test of `bench fhipe`'s measurement and rendering: the row shape the --json contract promises, on a tiny run.
import { describe, expect, it } from "vitest";
import { runFhipeBench } from "../../bench/fhipe.ts";
import type { BenchProgress } from "../../bench/progress.ts";
import { renderFhipeTable } from "../../actors/cli/commands/benchFhipe.ts";

describe("bench fhipe", () => {
  it("measures every cell for each level, with and without a pool, and reports progress to the end", async () => {
    for (const threads of [1, 2]) {
      const progress: BenchProgress[] = [];
      const rows = await runFhipeBench({ levels: [2, 3], iterations: 3, threads, onProgress: (event) => progress.push(event) });
      expect(rows.map((row) => [row.levels, row.dim, row.threads])).toEqual([[2, 3, threads], [3, 4, threads]]);
      for (const row of rows) {
        for (const key of ["setupMs", "leftMs", "rightMs", "compareMs", "g1MulMs", "g2MulMs", "tablesMs"] as const) {
          expect(row[key], key).toBeGreaterThan(0);
        }
        expect(row.leftRatio).toBeCloseTo(row.singleThreadLeftMs / (row.dim * row.g1MulMs), 9);
        if (threads === 1) expect(row.rightSpeedup).toBe(1);
      }
      expect(progress.at(-1)).toMatchObject({ completed: progress.at(-1)!.total });
      const table = renderFhipeTable(rows, { iterations: 3, threads });
      expect(table).toContain("right/(d·G2)");
      expect(table.includes("right speed-up")).toBe(threads > 1);
    }
  });
});
