// The leakage analysis: the observation from relations equals the one clear levels imply, what it reveals is counted
// right on worked examples, and the measured bench (real pairings) recovers exactly the reference.
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { blockParams, hintFromLevels } from "../../../protocol/encoding/blockTokens.ts";
import { observationFromLevels, observe, orderOnlyParams, revealedBits, sameObservation } from "../../../protocol/encoding/leakage.ts";
import { RelationOrderError } from "../../../protocol/encoding/errors.ts";
import { runLeakageBench } from "../../../bench/leakage.ts";
import { renderLeakageTable } from "../../../actors/cli/commands/benchLeakage.ts";

describe("leakage analysis", () => {
  it("w = 1: every split of the binary trie pins one bit of each level below it", () => {
    const params = blockParams(8, 1);
    // 0 = 000, 1 = 001, 4 = 100, 5 = 101: the top bit splits {0, 1} from {4, 5}, the last bit each pair; the middle
    // bit is shared by all four and stays unknown.
    const observation = observationFromLevels([5, 0, 4, 1], params);
    expect(observation).toEqual({ groups: [[1], [3], [2], [0]], firstDiffering: [3, 1, 3] });
    expect(revealedBits(observation, params, 4)).toEqual([2, 2, 2, 2]);
  });

  it("w = 2: a split into k of B = 4 children leaves each child's digit B − k + 1 values", () => {
    const params = blockParams(16, 2);
    // Levels 1 (01|01 in base 4: digits 0,1) and 13 (digits 3,1): one split at block 1 into 2 children: each digit in a
    // range of 3 values (2 − log2 3 bits); equal levels 13, 13 share everything.
    const observation = observationFromLevels([1, 13, 13], params);
    expect(observation.groups).toEqual([[0], [1, 2]]);
    const bits = revealedBits(observation, params, 3);
    for (const value of bits) expect(value).toBeCloseTo(2 - Math.log2(3), 10);
    // All four digits of block 1 used: each is pinned (2 bits); block 2 is never split here.
    const full = observationFromLevels([0, 4, 8, 12], params);
    expect(revealedBits(full, params, 4)).toEqual([2, 2, 2, 2]);
  });

  test.prop([fc.integer({ min: 1, max: 5 }), fc.array(fc.integer({ min: 0, max: 1023 }), { minLength: 1, maxLength: 60 })])(
    "observing with relations (as the public finder answers) gives the reference observation",
    (width, levels) => {
      const params = blockParams(1024, width);
      const observed = observe(levels.length, (a, b) => hintFromLevels(levels[a]!, levels[b]!, params));
      expect(sameObservation(observed, observationFromLevels(levels, params))).toBe(true);
      const bits = revealedBits(observed, params, levels.length);
      for (const value of bits) {
        expect(value).toBeGreaterThanOrEqual(0);
        expect(value).toBeLessThanOrEqual(params.blocks * width + 1e-9);
      }
    },
  );

  it("order only (one block, as unary): a split of k of n values reveals log2(n / (n − k + 1)) bits per bid", () => {
    const params = orderOnlyParams(1024);
    expect(params).toMatchObject({ width: 10, base: 1024, blocks: 1 });
    const bits = revealedBits(observationFromLevels([3, 700, 700, 1000], params), params, 4);
    for (const value of bits) expect(value).toBeCloseTo(Math.log2(1024 / (1024 - 3 + 1)), 10);
  });

  it("refuses relations that are not a total order", () => {
    expect(() => observe(2, () => null)).toThrow(RelationOrderError);
  });

  it("the bench, with real pairings, recovers exactly what the clear levels imply, and more per bid at w = 1", async () => {
    const rows = await runLeakageBench({ levels: 64, widths: [1, 3], bids: 16, seed: 3 });
    expect(rows.map((row) => [row.width, row.blocks, row.dim, row.recoversReference])).toEqual([
      [1, 6, 3, true],
      [3, 2, 9, true],
    ]);
    for (const row of rows) {
      expect(row.zeroTests).toBeGreaterThanOrEqual(row.questions);
      expect(row.meanRevealedBits).toBeGreaterThan(row.orderOnlyMeanRevealedBits);
    }
    expect(rows[0]!.meanRevealedBits).toBeGreaterThan(rows[1]!.meanRevealedBits);
    expect(renderLeakageTable(rows)).toContain("all pairs");
  });
});
