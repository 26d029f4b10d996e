// A reproducible random source for benchmarks (`bench gas --seed`): SHA-256 in counter mode over the seed. Never for
// keys or randomizers that protect anything: it exists so that two runs of a benchmark place the very same bids.
import { createHash, randomBytes } from "node:crypto";
import type { RandomBytes } from "../protocol/fhipe/field.ts";

export type BenchRandom = {
  /** `length` bytes (for keys, scalars, salts). */
  bytes: RandomBytes;
  /** A uniform integer in [min, maxExclusive). */
  int: (min: number, maxExclusive: number) => number;
  /** A uniform number in [0, 1). */
  fraction: () => number;
};

/** The system's randomness: what the benchmarks use without a seed. */
export const systemRandom: BenchRandom = {
  bytes: (length) => randomBytes(length),
  int: (min, maxExclusive) => min + Math.floor(Math.random() * (maxExclusive - min)),
  fraction: () => Math.random(),
};

/** Deterministic bytes from `seed`: block i is SHA-256(seed ‖ i), consumed in order. */
export function seededRandom(seed: number): BenchRandom {
  let counter = 0;
  let buffer = new Uint8Array(0);
  const bytes: RandomBytes = (length) => {
    while (buffer.length < length) {
      const block = createHash("sha256").update(`gridveil-bench:${seed}:${counter++}`).digest();
      const grown = new Uint8Array(buffer.length + block.length);
      grown.set(buffer);
      grown.set(block, buffer.length);
      buffer = grown;
    }
    const taken = buffer.slice(0, length);
    buffer = buffer.slice(length);
    return taken;
  };
  const fraction = () => Number(new DataView(bytes(8).buffer).getBigUint64(0) >> 11n) / 2 ** 53;
  return { bytes, fraction, int: (min, maxExclusive) => min + Math.floor(fraction() * (maxExclusive - min)) };
}
