// How a batch becomes transactions (machines/gateway/chunking.ts): chunks of the cap, out-of-gas splits, the cap's
// carry-over, and the bid that fits no transaction.
import { describe, expect, it } from "vitest";
import { afterWave, chunksOf, type ChunkResult } from "../../../machines/gateway/chunking.ts";

const bids = (n: number) => Array.from({ length: n }, (_, i) => `b${i}`);
const placed: ChunkResult = { kind: "placed" };

describe("chunksOf", () => {
  it("cuts the queue in order into chunks of the cap, the last one shorter", () => {
    expect(chunksOf(bids(5), 2)).toEqual([["b0", "b1"], ["b2", "b3"], ["b4"]]);
    expect(chunksOf(bids(3), Number.MAX_SAFE_INTEGER)).toEqual([["b0", "b1", "b2"]]);
    expect(chunksOf([], 4)).toEqual([]);
  });

  it("never makes empty chunks, whatever the cap", () => {
    expect(chunksOf(bids(2), 0)).toEqual([["b0"], ["b1"]]);
  });
});

describe("afterWave", () => {
  it("a full chunk that went through allows one more bid next time, up to txMaxBids", () => {
    const wave = { chunks: chunksOf(bids(4), 2), cap: 2 };
    expect(afterWave(wave, [placed, placed], 8)).toEqual({ cap: 3, retry: [], unfit: undefined, failure: undefined });
    expect(afterWave({ chunks: chunksOf(bids(4), 4), cap: 4 }, [placed], 4).cap).toBe(4);
    // A short chunk says nothing about a larger one.
    expect(afterWave({ chunks: [["b0"]], cap: 2 }, [placed], 8).cap).toBe(2);
  });

  it("a chunk out of gas lowers the cap to what fitted and is sent again", () => {
    const wave = { chunks: chunksOf(bids(6), 3), cap: 3 };
    const outcome = afterWave(wave, [placed, { kind: "outOfGas", fits: 1 }], 16);
    expect(outcome.cap).toBe(1);
    expect(outcome.retry).toEqual(["b3", "b4", "b5"]);
    expect(outcome.failure).toBeUndefined();
  });

  it("a chunk whose first entry does not fit names that bid as unfit (it can never be placed)", () => {
    const wave = { chunks: [["b0", "b1"], ["b2"]], cap: 2 };
    expect(afterWave(wave, [{ kind: "outOfGas", fits: 0 }, { kind: "outOfGas", fits: 1 }], 16)).toMatchObject({ unfit: "b0", retry: [] });
  });

  it("a transient failure is reported once, with the first error, and the rest of the wave still counts", () => {
    const first = new Error("node down");
    const wave = { chunks: chunksOf(bids(6), 2), cap: 2 };
    const outcome = afterWave(wave, [{ kind: "failed", error: first }, { kind: "outOfGas", fits: 1 }, { kind: "failed", error: new Error("again") }], 16);
    expect(outcome.failure).toEqual({ error: first });
    expect(outcome).toMatchObject({ cap: 1, retry: ["b2", "b3"] });
  });
});
