// bench hints: the public-data hints equal the DSO's on the same book (real pairings), and the table renders.
import { describe, expect, it } from "vitest";
import { runHintsBench } from "../../bench/hints.ts";
import { renderHintsTable } from "../../actors/cli/commands/benchHints.ts";

describe("bench hints", () => {
  it("makes the same hint both ways and counts the public way's zero tests", async () => {
    const rows = await runHintsBench({ levels: 64, widths: [1, 3], book: 16, hints: 5, seed: 4 });
    expect(rows.map((row) => [row.width, row.equal])).toEqual([
      [1, true],
      [3, true],
    ]);
    for (const row of rows) {
      expect(row.resting).toBeGreaterThan(0);
      expect(row.zeroTestsPerHint).toBeGreaterThan(0);
      expect(row.publicP50Ms).toBeGreaterThan(row.dsoP50Ms);
    }
    expect(renderHintsTable(rows)).toContain("same hints");
  });
});
