// Worker thread of the encryption pool: its own mcl instance and fixed-base tables; claims points of the current job from shared memory.
import { parentPort, workerData } from "node:worker_threads";
import { initCurve } from "../../protocol/fhipe/curve.ts";
import { NotAWorkerThreadError } from "./errors.ts";
import { decodeMsk } from "../../protocol/fhipe/binary.ts";
import { g1Table, g2Table, precomputeTables, randomScalar } from "../../protocol/fhipe/fhipe.ts";
import { g1ToWords, g2ToWords } from "../../protocol/fhipe/evmWords.ts";
import {
  claimAndCompute,
  CLOSE_SEQUENCE,
  Control,
  enterJob,
  leaveJob,
  GROUP_G1,
  GROUP_G2,
  sharedViews,
  type MulToWords,
  type WorkerInit,
  type WorkerMessage,
} from "./encryptionPoolLayout.ts";

if (parentPort === null) throw new NotAWorkerThreadError();
const port = parentPort;
const init = workerData as WorkerInit;
const views = sharedViews(init);

await initCurve();
// The key arrives once, as bytes; jobs then carry only exponents, through shared memory.
const msk = decodeMsk(init.msk);
precomputeTables(msk, init.windowBits);
const table1 = g1Table(msk);
const table2 = g2Table(msk);
const mulToWords: MulToWords = (group, exponent) =>
  group === GROUP_G1 ? g1ToWords(table1.mul(exponent)) : g2ToWords(table2.mul(exponent));

// Run the hot path before reporting ready, so the first real ciphertexts do not pay for the JIT's warm-up.
const WARM_UP_POINTS = 128;
for (let i = 0; i < WARM_UP_POINTS; i++) {
  mulToWords(GROUP_G1, randomScalar());
  mulToWords(GROUP_G2, randomScalar());
}

const ready: WorkerMessage = { ready: true };
port.postMessage(ready);
// Wait for the next job on the sequence slot; the pool bumps it for each job and sets CLOSE_SEQUENCE to end the
// thread. A worker first polls for `spinMs` (a job that follows another starts at once), then sleeps.
let seen = Atomics.load(views.control, Control.sequence);
for (;;) {
  const sequence = nextSequence(seen);
  if (sequence === CLOSE_SEQUENCE) break;
  seen = sequence;
  // Announced in the job's buffer set while inside it, so the pool does not reuse the set under us.
  if (!enterJob(views.control, sequence)) continue;
  let finishedLast: boolean;
  try {
    finishedLast = claimAndCompute(views, sequence, mulToWords).finishedLast;
  } finally {
    leaveJob(views.control, sequence);
  }
  if (finishedLast) {
    const done: WorkerMessage = { done: sequence };
    port.postMessage(done);
  }
}

function nextSequence(current: number): number {
  const deadline = performance.now() + init.spinMs;
  for (;;) {
    const sequence = Atomics.load(views.control, Control.sequence);
    if (sequence !== current) return sequence;
    if (performance.now() > deadline) break;
  }
  for (;;) {
    Atomics.wait(views.control, Control.sequence, current);
    const sequence = Atomics.load(views.control, Control.sequence);
    if (sequence !== current) return sequence;
  }
}
