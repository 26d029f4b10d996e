// A small seeded PRNG (mulberry32) for what must be reproducible from a seed and protects nothing: the demo market's
// meter profiles, benchmark workloads, randomised tests that a failing seed replays. Never for keys or randomizers.

/** Uniform draws in [0, 1): the same seed gives the same sequence, run after run. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
