// Shared-memory layout between the encryption pool and its workers: control slots, buffer shapes, claim words.

/** Slots of the shared Int32 control block. */
export const Control = {
  /** Job sequence number; workers sleep on it (Atomics.wait). CLOSE_SEQUENCE asks them to exit. */
  sequence: 0,
  /** (sequence & 0x7fff) << 16 | next unclaimed point index: claiming checks the job and the index in one CAS. */
  claim: 1,
  /** Points finished in the current job. */
  done: 2,
  count: 3,
  group: 4,
  length: 5,
} as const;
export const CLOSE_SEQUENCE = -1;
export const WORD_BYTES = 32;
export const G1_WORDS = 2;
export const G2_WORDS = 4;
export const GROUP_G1 = 1;
export const GROUP_G2 = 2;
export const SEQUENCE_MASK = 0x7fff;
export const INDEX_MASK = 0xffff;

export type WorkerInit = {
  msk: Uint8Array;
  windowBits: number;
  /** How long a worker polls for the next job after finishing one before it sleeps (Atomics.wait). */
  spinMs: number;
  control: SharedArrayBuffer;
  exponents: SharedArrayBuffer;
  results: SharedArrayBuffer;
};
export type WorkerMessage = { ready: true } | { done: number };

export function claimWord(sequence: number, index: number): number {
  return ((sequence & SEQUENCE_MASK) << 16) | (index & INDEX_MASK);
}

/** Shared views over one pool's buffers, as both the pool and its workers see them. */
export type SharedViews = { control: Int32Array; exponentBytes: Buffer; resultBytes: Buffer };

export function sharedViews(buffers: Pick<WorkerInit, "control" | "exponents" | "results">): SharedViews {
  return {
    control: new Int32Array(buffers.control),
    exponentBytes: Buffer.from(buffers.exponents),
    resultBytes: Buffer.from(buffers.results),
  };
}

/** One point's scalar multiplication, returned as its EVM words. */
export type MulToWords = (group: number, exponent: bigint) => readonly bigint[];

/**
 * Claims points of job `sequence` one at a time and computes them until none is left. Returns true if this
 * thread finished the job's last point. Used identically by workers and by a calling thread that helps.
 */
export function claimAndCompute(views: SharedViews, sequence: number, mulToWords: MulToWords): boolean {
  const { control, exponentBytes, resultBytes } = views;
  const count = Atomics.load(control, Control.count);
  const group = Atomics.load(control, Control.group);
  const wordsPerPoint = group === GROUP_G1 ? G1_WORDS : G2_WORDS;
  let finishedLast = false;
  for (;;) {
    const claim = Atomics.load(control, Control.claim);
    const index = claim & INDEX_MASK;
    // A claim word of another job, or an exhausted one: nothing left for this thread in this job.
    if (claim !== claimWord(sequence, index) || index >= count) return finishedLast;
    if (Atomics.compareExchange(control, Control.claim, claim, claim + 1) !== claim) continue;
    const exponent = BigInt(`0x${exponentBytes.toString("hex", index * WORD_BYTES, (index + 1) * WORD_BYTES)}`);
    const offset = index * wordsPerPoint * WORD_BYTES;
    mulToWords(group, exponent).forEach((word, k) =>
      resultBytes.write(word.toString(16).padStart(2 * WORD_BYTES, "0"), offset + k * WORD_BYTES, "hex"),
    );
    if (Atomics.add(control, Control.done, 1) + 1 === count) finishedLast = true;
  }
}
