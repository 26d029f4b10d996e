// The worker pool produces exactly the single-threaded ciphertexts, splits work over its threads, and closes cleanly.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initCurve } from "../../protocol/fhipe/curve.ts";
import { compareBids, encryptBid } from "../../protocol/encoding/bidCiphertext.ts";
import { createEncryptionPool, type EncryptionPool } from "../../actors/crypto/encryptionPool.ts";
import { EncryptionPoolError } from "../../actors/crypto/errors.ts";
import { DimensionMismatchError, PriceLevelOutOfRangeError } from "../../protocol/fhipe/errors.ts";
import { randomScalar, setup, type MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";
import { g1VectorToWords, g2VectorToWords } from "../../protocol/fhipe/evmWords.ts";
import { encryptLeftK2, encryptRightC2 } from "../../protocol/fhipe/fhipe.ts";
import { dimensionFor } from "../../protocol/encoding/priceEncoding.ts";

const LEVELS = 10;
let msk: MasterSecretKey;
let pool: EncryptionPool;

beforeAll(async () => {
  await initCurve();
  msk = setup(dimensionFor(LEVELS));
  pool = await createEncryptionPool(msk, { threads: 2 });
});

afterAll(async () => {
  await pool?.close();
});

describe("encryption pool", () => {
  it("gives word-for-word the single-threaded bid ciphertext", async () => {
    expect(pool.threads).toBe(2);
    for (const level of [0, 4, 9]) {
      const randomizers = { alpha: randomScalar(), beta: randomScalar() };
      expect(await pool.encryptBid(LEVELS, level, randomizers)).toEqual(encryptBid(msk, LEVELS, level, randomizers));
    }
  });

  it("handles many concurrent ciphertexts and general vectors (odd split sizes)", async () => {
    const jobs = Array.from({ length: 6 }, (_, i) => {
      const vector = Array.from({ length: dimensionFor(LEVELS) }, (_, j) => BigInt((i * 7 + j * 3) % 5));
      const alpha = randomScalar();
      const beta = randomScalar();
      return { vector, alpha, beta };
    });
    const results = await Promise.all(
      jobs.map(async ({ vector, alpha, beta }) => ({
        left: await pool.encryptLeftK2Words(vector, alpha),
        right: await pool.encryptRightC2Words(vector, beta),
      })),
    );
    results.forEach((result, i) => {
      const { vector, alpha, beta } = jobs[i]!;
      expect(result.left).toEqual(g1VectorToWords(encryptLeftK2(msk, vector, alpha)));
      expect(result.right).toEqual(g2VectorToWords(encryptRightC2(msk, vector, beta)));
    });
  });

  it("pooled bids compare like any others", async () => {
    const high = await pool.encryptBid(LEVELS, 8, { alpha: randomScalar(), beta: randomScalar() });
    const low = encryptBid(msk, LEVELS, 2, { alpha: randomScalar(), beta: randomScalar() });
    expect(compareBids(high, low)).toBe(true);
    expect(compareBids(low, high)).toBe(false);
  });

  it("rejects bad input before any work is sent", async () => {
    await expect(pool.encryptBid(LEVELS + 1, 0, { alpha: 1n, beta: 1n })).rejects.toThrow(DimensionMismatchError);
    await expect(pool.encryptBid(LEVELS, LEVELS, { alpha: 1n, beta: 1n })).rejects.toThrow(PriceLevelOutOfRangeError);
    await expect(createEncryptionPool(msk, { threads: 0 })).rejects.toThrow(EncryptionPoolError);
    for (const spinMs of [-1, Number.NaN, 101]) {
      await expect(createEncryptionPool(msk, { threads: 2, spinMs })).rejects.toThrow(/spinMs must be a number of milliseconds in \[0, 100\]/);
    }
  });

  it("wakes sleeping workers after their polling window (jobs far apart)", async () => {
    const sleepy = await createEncryptionPool(msk, { threads: 2, callerHelps: false, spinMs: 1 });
    try {
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        const randomizers = { alpha: randomScalar(), beta: randomScalar() };
        expect(await sleepy.encryptBid(LEVELS, i, randomizers)).toEqual(encryptBid(msk, LEVELS, i, randomizers));
      }
    } finally {
      await sleepy.close();
    }
  });

  for (const options of [{ threads: 3 }, { threads: 2, callerHelps: false }, { threads: 1 }, { threads: 2, spinMs: 0 }, { threads: 2, callerHelps: false, spinMs: 50 }]) {
    it(`stays exact under many queued jobs (${JSON.stringify(options)}: claims race between threads)`, async () => {
      const busy = await createEncryptionPool(msk, options);
      try {
        expect(busy.threads).toBe(options.threads);
        const jobs = Array.from({ length: 30 }, (_, i) => ({ level: i % LEVELS, alpha: randomScalar(), beta: randomScalar() }));
        const pooled = await Promise.all(jobs.map((job) => busy.encryptBid(LEVELS, job.level, job)));
        pooled.forEach((ciphertext, i) => expect(ciphertext).toEqual(encryptBid(msk, LEVELS, jobs[i]!.level, jobs[i]!)));
      } finally {
        await busy.close();
      }
    });
  }

  it("refuses work after close", async () => {
    const small = await createEncryptionPool(setup(2), { threads: 1, callerHelps: false });
    await small.close();
    await expect(small.encryptRightC2Words([1n, 1n], randomScalar())).rejects.toThrow(EncryptionPoolError);
  });
});
