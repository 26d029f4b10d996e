// Worker thread of the encryption pool: holds its own mcl instance and fixed-base tables, multiplies exponents on request.
import { parentPort, workerData } from "node:worker_threads";
import type { G1, G2 } from "mcl-wasm";
import { initCurve } from "./curve.ts";
import { EncryptionPoolError } from "./errors.ts";
import { decodeMsk } from "./binary.ts";
import { g1Table, g2Table, precomputeTables, randomScalar } from "./fhipe.ts";
import { g1VectorToWords, g2VectorToWords } from "./evmWords.ts";
import type { WorkerInit, WorkerJob, WorkerReply } from "./encryptionPool.ts";

if (parentPort === null) throw new EncryptionPoolError("encryptionWorker.ts must run as a worker thread");
const port = parentPort;
const init = workerData as WorkerInit;

await initCurve();
// The key arrives once, as bytes: each job then carries only the d exponents of its share of one ciphertext.
const msk = decodeMsk(init.msk);
precomputeTables(msk, init.windowBits);
const table1 = g1Table(msk);
const table2 = g2Table(msk);

// Run the hot path before reporting ready, so the first real ciphertexts do not pay for the JIT's warm-up.
const WARM_UP_POINTS = 128;
const warmUpExponents = Array.from({ length: WARM_UP_POINTS }, randomScalar);
g1VectorToWords(warmUpExponents.map((exponent) => table1.mul(exponent)));
g2VectorToWords(warmUpExponents.map((exponent) => table2.mul(exponent)));

port.on("message", (job: WorkerJob) => {
  let reply: WorkerReply;
  try {
    const words =
      job.group === "g1"
        ? g1VectorToWords(job.exponents.map((exponent): G1 => table1.mul(exponent)))
        : g2VectorToWords(job.exponents.map((exponent): G2 => table2.mul(exponent)));
    reply = { id: job.id, words };
  } catch (error) {
    reply = { id: job.id, error: error instanceof Error ? error.message : String(error) };
  }
  port.postMessage(reply);
});
port.postMessage({ ready: true });
