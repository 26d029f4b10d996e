// `gridveil bench fhipe` measurements: Table 1 of the paper (setup, left/right encryption, compare) next to raw scalar multiplications.
import * as mcl from "mcl-wasm";
import { randomInt } from "node:crypto";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { frFromBigint, initCurve } from "../protocol/fhipe/curve.ts";
import { createEncryptionPool, type EncryptionPool } from "../actors/crypto/encryptionPool.ts";
import { g1VectorToWords, g2VectorToWords } from "../protocol/fhipe/evmWords.ts";
import {
  compare,
  encryptLeftK2,
  encryptRightC2,
  precomputeTables,
  randomScalar,
  setup,
  type MasterSecretKey,
} from "../protocol/fhipe/fhipe.ts";
import { dimensionFor, leftVector, rightVector } from "../protocol/encoding/priceEncoding.ts";
import type { BenchProgress } from "./progress.ts";

export type FhipeBenchOptions = {
  levels: readonly number[];
  /** Timed runs per cell; each cell's figure is the mean. */
  iterations: number;
  /** 1: everything on the calling thread; T > 1: left/right encryption shared by the caller and T − 1 pool workers. */
  threads: number;
  onProgress?: (progress: BenchProgress) => void;
};


export type FhipeBenchRow = {
  levels: number;
  dim: number;
  setupMs: number;
  /** Left/right encryption with `threads` threads: K2 (resp. C2) as EVM words, randomizer drawn inside the timing. */
  leftMs: number;
  rightMs: number;
  compareMs: number;
  g1MulMs: number;
  g2MulMs: number;
  threads: number;
  /** One-off per master key: building the fixed-base tables of g1 and g2 (not part of setupMs). */
  tablesMs: number;
  /** The same encryptions on one thread, interleaved with the pooled ones so both see the same machine load. */
  singleThreadLeftMs: number;
  singleThreadRightMs: number;
  /** singleThreadLeftMs / (d · g1MulMs): the target is ≤ 1.15. */
  leftRatio: number;
  rightRatio: number;
  /** singleThread…Ms / …Ms: 1 when threads = 1. */
  leftSpeedup: number;
  rightSpeedup: number;
};

const WARM_UP_RUNS = 20;
const BLOCK_RUNS = 10;
// Compare is timed on a small pool of pre-encrypted bids, pairs drawn at random, so both outcomes occur.
const COMPARE_BIDS = 8;

export async function runFhipeBench(options: FhipeBenchOptions): Promise<FhipeBenchRow[]> {
  await initCurve();
  const { levels, iterations, threads } = options;
  const stepsPerLevel = 3 * iterations;
  const total = levels.length * stepsPerLevel;
  let completed = 0;
  const advance = (phase: string, steps = 1) => {
    completed += steps;
    options.onProgress?.({ completed, total, phase });
  };
  const rows: FhipeBenchRow[] = [];
  for (const n of levels) {
    const dim = dimensionFor(n);
    const label = `n=${n}`;

    // Setup(d): the DSO's one-time key generation.
    let setupTotal = 0;
    let msk: MasterSecretKey = setup(dim);
    for (let i = 0; i < iterations; i++) {
      const start = performance.now();
      msk = setup(dim);
      setupTotal += performance.now() - start;
      advance(`${label} setup`);
      await yieldToEventLoop();
    }
    const tablesStart = performance.now();
    precomputeTables(msk);
    const tablesMs = performance.now() - tablesStart;

    const pool = threads > 1 ? await createEncryptionPool(msk, { threads }) : undefined;
    try {
      const encryption = await timeEncryption(msk, n, iterations, pool, () => advance(`${label} encryption`));
      const compareMs = await timeCompare(msk, n, iterations, () => advance(`${label} compare`));
      const singleThreadLeftMs = encryption.singleLeft;
      const singleThreadRightMs = encryption.singleRight;
      const leftMs = encryption.pooledLeft ?? singleThreadLeftMs;
      const rightMs = encryption.pooledRight ?? singleThreadRightMs;
      rows.push({
        levels: n,
        dim,
        setupMs: setupTotal / iterations,
        leftMs,
        rightMs,
        compareMs,
        g1MulMs: encryption.g1Mul,
        g2MulMs: encryption.g2Mul,
        threads,
        tablesMs,
        singleThreadLeftMs,
        singleThreadRightMs,
        leftRatio: singleThreadLeftMs / (dim * encryption.g1Mul),
        rightRatio: singleThreadRightMs / (dim * encryption.g2Mul),
        leftSpeedup: singleThreadLeftMs / leftMs,
        rightSpeedup: singleThreadRightMs / rightMs,
      });
    } finally {
      await pool?.close();
    }
  }
  return rows;
}

type EncryptionTimes = {
  g1Mul: number;
  g2Mul: number;
  singleLeft: number;
  singleRight: number;
  pooledLeft: number | undefined;
  pooledRight: number | undefined;
};

/**
 * Runs in blocks: a block of single-thread runs (each: d raw G1 multiplications, one left encryption, d raw G2
 * multiplications, one right encryption, back to back), then, with a pool, a block of pooled left and right
 * encryptions. Interleaving keeps ratios and speed-ups honest on a machine whose load changes during the run;
 * blocks (rather than alternating single runs) let the pooled runs see workers that are busy, as a DSO encrypting
 * a stream of bids does, instead of paying a sleeping thread's wake-up on every ciphertext.
 */
async function timeEncryption(
  msk: MasterSecretKey,
  levels: number,
  iterations: number,
  pool: EncryptionPool | undefined,
  onIteration: () => void,
): Promise<EncryptionTimes> {
  const dim = msk.dim;
  const sums = { g1Mul: 0, g2Mul: 0, singleLeft: 0, singleRight: 0, pooledLeft: 0, pooledRight: 0 };
  const runSingle = (timed: boolean) => {
    // Raw multiplications by the same bases with fresh scalars; scalar conversion stays outside the timing.
    const scalars = Array.from({ length: dim }, () => frFromBigint(randomScalar()));
    const level = randomInt(levels);
    const t0 = performance.now();
    for (const scalar of scalars) mcl.mul(msk.g1, scalar);
    const t1 = performance.now();
    g1VectorToWords(encryptLeftK2(msk, leftVector(level, levels), randomScalar()));
    const t2 = performance.now();
    for (const scalar of scalars) mcl.mul(msk.g2, scalar);
    const t3 = performance.now();
    g2VectorToWords(encryptRightC2(msk, rightVector(level, levels), randomScalar()));
    const t4 = performance.now();
    if (!timed) return;
    sums.g1Mul += t1 - t0;
    sums.singleLeft += t2 - t1;
    sums.g2Mul += t3 - t2;
    sums.singleRight += t4 - t3;
  };
  const runPooled = async (activePool: EncryptionPool, timed: boolean) => {
    const level = randomInt(levels);
    const t0 = performance.now();
    await activePool.encryptLeftK2Words(leftVector(level, levels), randomScalar());
    const t1 = performance.now();
    await activePool.encryptRightC2Words(rightVector(level, levels), randomScalar());
    const t2 = performance.now();
    if (!timed) return;
    sums.pooledLeft += t1 - t0;
    sums.pooledRight += t2 - t1;
  };

  for (let i = 0; i < WARM_UP_RUNS; i++) {
    runSingle(false);
    if (pool !== undefined) await runPooled(pool, false);
  }
  for (let done = 0; done < iterations; ) {
    const block = Math.min(BLOCK_RUNS, iterations - done);
    for (let i = 0; i < block; i++) runSingle(true);
    if (pool !== undefined) for (let i = 0; i < block; i++) await runPooled(pool, true);
    for (let i = 0; i < block; i++) onIteration();
    done += block;
    await yieldToEventLoop();
  }
  return {
    g1Mul: sums.g1Mul / (iterations * dim),
    g2Mul: sums.g2Mul / (iterations * dim),
    singleLeft: sums.singleLeft / iterations,
    singleRight: sums.singleRight / iterations,
    pooledLeft: pool === undefined ? undefined : sums.pooledLeft / iterations,
    pooledRight: pool === undefined ? undefined : sums.pooledRight / iterations,
  };
}

/** Compare as the contract runs it: d pairings on points already parsed (the precompile's input). */
async function timeCompare(msk: MasterSecretKey, levels: number, iterations: number, onIteration: () => void): Promise<number> {
  const bids = Array.from({ length: COMPARE_BIDS }, () => {
    const level = randomInt(levels);
    return {
      k2: encryptLeftK2(msk, leftVector(level, levels), randomScalar()),
      c2: encryptRightC2(msk, rightVector(level, levels), randomScalar()),
    };
  });
  let total = 0;
  for (let i = -WARM_UP_RUNS; i < iterations; i++) {
    const a = bids[randomInt(COMPARE_BIDS)]!;
    const b = bids[randomInt(COMPARE_BIDS)]!;
    const start = performance.now();
    compare(a.k2, b.c2);
    const elapsed = performance.now() - start;
    if (i < 0) continue;
    total += elapsed;
    onIteration();
    await yieldToEventLoop();
  }
  return total / iterations;
}
