// Worker thread of the encryption pool: its own mcl instance and fixed-base tables; claims points of the current job from shared memory.
import { parentPort, workerData } from "node:worker_threads";
import { initCurve } from "./curve.ts";
import { EncryptionPoolError } from "./errors.ts";
import { decodeMsk } from "./binary.ts";
import { g1Table, g2Table, precomputeTables, randomScalar } from "./fhipe.ts";
import { g1ToWords, g2ToWords } from "./evmWords.ts";
import {
  claimWord,
  CLOSE_SEQUENCE,
  Control,
  G1_WORDS,
  G2_WORDS,
  GROUP_G1,
  INDEX_MASK,
  WORD_BYTES,
  type WorkerInit,
  type WorkerMessage,
} from "./encryptionPoolLayout.ts";

if (parentPort === null) throw new EncryptionPoolError("encryptionWorker.ts must run as a worker thread");
const port = parentPort;
const init = workerData as WorkerInit;
const control = new Int32Array(init.control);
const exponentBytes = Buffer.from(init.exponents);
const resultBytes = Buffer.from(init.results);

await initCurve();
// The key arrives once, as bytes; jobs then carry only exponents, through shared memory.
const msk = decodeMsk(init.msk);
precomputeTables(msk, init.windowBits);
const table1 = g1Table(msk);
const table2 = g2Table(msk);

// Run the hot path before reporting ready, so the first real ciphertexts do not pay for the JIT's warm-up.
const WARM_UP_POINTS = 128;
for (let i = 0; i < WARM_UP_POINTS; i++) {
  g1ToWords(table1.mul(randomScalar()));
  g2ToWords(table2.mul(randomScalar()));
}

/** Computes one point of the job and writes its words (32-byte big-endian) at its slot. */
function computePoint(group: number, index: number): void {
  const exponent = BigInt(`0x${exponentBytes.toString("hex", index * WORD_BYTES, (index + 1) * WORD_BYTES)}`);
  const words = group === GROUP_G1 ? g1ToWords(table1.mul(exponent)) : g2ToWords(table2.mul(exponent));
  const offset = index * (group === GROUP_G1 ? G1_WORDS : G2_WORDS) * WORD_BYTES;
  words.forEach((word, k) => resultBytes.write(word.toString(16).padStart(2 * WORD_BYTES, "0"), offset + k * WORD_BYTES, "hex"));
}

function work(sequence: number): void {
  const count = Atomics.load(control, Control.count);
  const group = Atomics.load(control, Control.group);
  for (;;) {
    const claim = Atomics.load(control, Control.claim);
    const index = claim & INDEX_MASK;
    // A claim word of another job, or an exhausted one: nothing left for this worker in this job.
    if (claim !== claimWord(sequence, index) || index >= count) return;
    if (Atomics.compareExchange(control, Control.claim, claim, claim + 1) !== claim) continue;
    computePoint(group, index);
    if (Atomics.add(control, Control.done, 1) + 1 === count) {
      const message: WorkerMessage = { done: sequence };
      port.postMessage(message);
    }
  }
}

const ready: WorkerMessage = { ready: true };
port.postMessage(ready);
// Sleep on the sequence slot; the pool bumps it for each job and sets CLOSE_SEQUENCE to end the thread.
let seen = Atomics.load(control, Control.sequence);
for (;;) {
  Atomics.wait(control, Control.sequence, seen);
  const sequence = Atomics.load(control, Control.sequence);
  if (sequence === CLOSE_SEQUENCE) break;
  if (sequence === seen) continue;
  seen = sequence;
  work(sequence);
}
