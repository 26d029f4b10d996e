// How a benchmark reports its progress while it runs (actors/cli/progress.ts shows it).

/** How far a run is, out of how much, in which phase. */
export type BenchProgress = { phase: string; completed: number; total: number };
