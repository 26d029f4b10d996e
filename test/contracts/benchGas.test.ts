// `gridveil bench gas` end to end on tiny books: both designs in one run, every figure exists and is priced as EIP-1108
// says, version 1 reports where it does not fit, the table renders, and a seeded run repeats.
import { describe, expect, it } from "vitest";
import { runGasBench, type GasBenchRow, type GasRow } from "../../bench/gas.ts";
import type { BenchProgress } from "../../bench/progress.ts";
import { renderGasTable } from "../../actors/cli/commands/benchGas.ts";

const CAP = 2 ** 24;

describe("bench gas", () => {
  it("measures version 1 and version 2 side by side, and says where version 1 does not fit", async () => {
    const progress: BenchProgress[] = [];
    const rows = await runGasBench({ levels: [5, 200], widths: [2], bookSize: 6, samples: 1, blockGasLimit: 5_000_000, onProgress: (step) => progress.push(step) });
    expect(rows.map((row) => [row.design, row.levels, row.width, row.dim, row.fits])).toEqual([
      ["v1", 5, null, 6, true],
      ["v2", 5, 2, 5, true],
      ["v1", 200, null, 201, false],
      ["v2", 200, 2, 5, true],
    ]);
    const v1 = rows[0] as GasBenchRow;
    expect(v1.precompileGas).toBe(34_000 * v1.dim + 45_000);
    expect(Math.abs(v1.compareVsPrecompile - 1)).toBeLessThan(0.1);
    expect(v1.relationGas).toBe(v1.compareGas);
    expect(v1.compareStoredGas).toBeGreaterThan(v1.compareGas);
    expect(v1.placeRestingGas).toBeGreaterThan(v1.storageGasPerBid);
    // A 5 M budget holds a few of these small bids.
    expect(v1.maxBatchResting).toBeGreaterThanOrEqual(3);
    expect(v1.calldataBytes).toBeGreaterThan(192 * v1.dim);
    expect(rows[2]).toMatchObject({ reason: expect.stringContaining("EIP-170"), placeRestingGas: null, maxBatchMatching: null });
    // Every row has the common fields (null where version 1 does not fit).
    const common = ["design", "levels", "width", "dim", "relationGas", "placeRestingGas", "placeMatchingGas", "storageGasPerBid", "calldataBytes", "maxBatchResting", "maxBatchMatching"];
    for (const row of rows) expect(Object.keys(row)).toEqual(expect.arrayContaining(common));
    for (const row of [rows[1], rows[3]] as Extract<GasRow, { design: "v2" }>[]) {
      // One relation is one pairing check with d = 2^w + 1 pairs, whatever n is.
      expect(Math.abs(row.relationGas / (34_000 * row.dim + 45_000) - 1)).toBeLessThan(0.01);
      expect(row.placeMatchingGas).toBeLessThan(row.placeRestingGas);
      expect(row.placeRestingGas).toBeLessThanOrEqual(CAP);
      // Every resting placement sends the bid's 2(m + 1) tokens: 6d words each pair.
      expect(row.calldataBytes).toBeGreaterThan(32 * 6 * row.dim * row.tokens);
      expect(row.maxBatchResting).toBeGreaterThanOrEqual(10);
      expect(row.maxBatchMatching).toBeGreaterThanOrEqual(1);
    }
    expect(progress.at(-1)!.phase).toMatch(/^v2 n=200 w=2: /);
    const table = renderGasTable(rows, { book: 6, samples: 1 });
    expect(table).toContain("does not fit");
    expect(table).toMatch(/n=5: version 2 \(w=2\) rests [\d.]+× and matches [\d.]+× cheaper than version 1/);
    expect(table).toContain("version 1 in detail");
  });
});

describe("bench gas --seed", () => {
  it("sends the same transactions twice: every figure repeats, and another seed builds another book", async () => {
    const options = { levels: [3], widths: [1], bookSize: 6, samples: 2, blockGasLimit: 3_000_000 };
    const first = await runGasBench({ ...options, seed: 11 });
    const second = await runGasBench({ ...options, seed: 11 });
    expect(second).toEqual(first);
    const other = await runGasBench({ ...options, seed: 12 });
    const [v1, otherV1] = [first[0] as GasBenchRow, other[0] as GasBenchRow];
    expect(otherV1.compareGas).toBe(v1.compareGas);
    expect([otherV1.placeRestingGas, otherV1.placeMatchingGas]).not.toEqual([v1.placeRestingGas, v1.placeMatchingGas]);
  });
});
