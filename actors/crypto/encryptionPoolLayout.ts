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
  control: SharedArrayBuffer;
  exponents: SharedArrayBuffer;
  results: SharedArrayBuffer;
};
export type WorkerMessage = { ready: true } | { done: number };

export function claimWord(sequence: number, index: number): number {
  return ((sequence & SEQUENCE_MASK) << 16) | (index & INDEX_MASK);
}
