// The batch-size search both gas benches use: the largest size that fits, from any estimate, in few tries.
import { describe, expect, it } from "vitest";
import { largestFitting } from "../../bench/largestFitting.ts";

describe("largestFitting", () => {
  it("finds the largest fitting size from an estimate below, at or above it, and 0 when nothing fits", async () => {
    for (const limit of [0, 1, 2, 7, 24, 25, 100]) {
      for (const estimate of [0.4, 1, 10, 24.9, 500]) {
        const tried: number[] = [];
        const found = await largestFitting(estimate, async (size) => {
          tried.push(size);
          return size <= limit;
        });
        expect(found, `limit ${limit}, estimate ${estimate}`).toBe(limit);
        expect(tried.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(Math.max(limit, estimate, 2))) + 3);
      }
    }
  });
});
