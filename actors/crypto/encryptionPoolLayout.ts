// Shared-memory layout between the encryption pool and its workers: control slots, buffer shapes, the per-point
// ownership that lets the calling thread take over a point a descheduled worker sits on, and the two buffer sets that
// keep a late worker of one job out of the next.
//
// Jobs alternate between two sets of buffers (job s uses set s & 1). A worker announces itself in a set (`inJob`)
// before it checks that the job is still current, and leaves when it is done with it; the pool reuses a set only
// once nobody is in it. So a worker that was descheduled in the middle of job s, and wakes after the caller finished
// that job alone, can only ever touch set s & 1, which job s + 1 does not use and job s + 2 waits for.

/** Per-set slots, at `setSlot(set, SetSlot.x)`. */
export const SetSlot = {
  /** Next point index to claim (a hint: a point is owned through its state word). */
  claim: 0,
  /** Points published in the set's current job; each point is counted once, by whoever published it. */
  done: 1,
  count: 2,
  group: 3,
  /** Threads inside the set's current job (workers announce themselves before checking the sequence). */
  inJob: 4,
} as const;

const SLOTS_PER_SET = Object.keys(SetSlot).length;

/** Slots of the shared Int32 control block: the sequence, then the slots of the two buffer sets. */
export const Control = {
  /** Job sequence number; workers sleep on it (Atomics.wait). CLOSE_SEQUENCE asks them to exit. */
  sequence: 0,
  length: 1 + 2 * SLOTS_PER_SET,
} as const;

export function setSlot(set: number, slot: number): number {
  return 1 + set * SLOTS_PER_SET + slot;
}

export function setOf(sequence: number): number {
  return sequence & 1;
}

export const CLOSE_SEQUENCE = -1;
export const WORD_BYTES = 32;
export const G1_WORDS = 2;
export const G2_WORDS = 4;
export const GROUP_G1 = 1;
export const GROUP_G2 = 2;
/** Sequences run 1..SEQUENCE_LIMIT and wrap (only equality with the current sequence matters). */
export const SEQUENCE_LIMIT = 2 ** 30;

/**
 * State of one point in its set's current job (reset to FREE when the set starts a job). A thread that took an index
 * from the claim hint marks it CLAIMED (from FREE), computes it, and writes the result only after moving it
 * CLAIMED → PUBLISHING; the calling thread may take any FREE or CLAIMED point straight to PUBLISHING and compute it
 * itself. Whoever loses drops its result: each point is written once, by its owner.
 */
export const PointState = { free: 0, claimed: 1, publishing: 2, done: 3 } as const;

export type WorkerInit = {
  msk: Uint8Array;
  windowBits: number;
  /** How long a worker polls for the next job after finishing one before it sleeps (Atomics.wait). */
  spinMs: number;
  control: SharedArrayBuffer;
  /** Per set: one Int32 state word per point, the exponents (32 bytes each), the results (up to 4 words each). */
  sets: readonly [SetBuffers, SetBuffers];
};
export type SetBuffers = { points: SharedArrayBuffer; exponents: SharedArrayBuffer; results: SharedArrayBuffer };
export type WorkerMessage = { ready: true } | { done: number };

export function allocateSet(maxPoints: number): SetBuffers {
  return {
    points: new SharedArrayBuffer(maxPoints * Int32Array.BYTES_PER_ELEMENT),
    exponents: new SharedArrayBuffer(maxPoints * WORD_BYTES),
    results: new SharedArrayBuffer(maxPoints * G2_WORDS * WORD_BYTES),
  };
}

/** Shared views over one set's buffers, as both the pool and its workers see them. */
export type SetViews = { points: Int32Array; exponentBytes: Buffer; resultBytes: Buffer };
export type SharedViews = { control: Int32Array; sets: readonly [SetViews, SetViews] };

export function sharedViews(buffers: Pick<WorkerInit, "control" | "sets">): SharedViews {
  const view = (set: SetBuffers): SetViews => ({
    points: new Int32Array(set.points),
    exponentBytes: Buffer.from(set.exponents),
    resultBytes: Buffer.from(set.results),
  });
  return { control: new Int32Array(buffers.control), sets: [view(buffers.sets[0]), view(buffers.sets[1])] };
}

/** One point's scalar multiplication, returned as its EVM words. */
export type MulToWords = (group: number, exponent: bigint) => readonly bigint[];

/** What one thread did in a job. */
export type Share = { computed: number; finishedLast: boolean };

function exponentAt(set: SetViews, index: number): bigint {
  return BigInt(`0x${set.exponentBytes.toString("hex", index * WORD_BYTES, (index + 1) * WORD_BYTES)}`);
}

/** Job `sequence` as its set describes it. */
function jobOf(views: SharedViews, sequence: number) {
  const { control } = views;
  const set = setOf(sequence);
  return {
    control,
    set,
    setViews: views.sets[set],
    count: Atomics.load(control, setSlot(set, SetSlot.count)),
    group: Atomics.load(control, setSlot(set, SetSlot.group)),
  };
}

/** Writes an owned (PUBLISHING) point's words, marks it done; true if that completed the job. */
function writeOwned(control: Int32Array, set: number, views: SetViews, index: number, words: readonly bigint[]): boolean {
  const offset = index * words.length * WORD_BYTES;
  words.forEach((word, k) => views.resultBytes.write(word.toString(16).padStart(2 * WORD_BYTES, "0"), offset + k * WORD_BYTES, "hex"));
  Atomics.store(views.points, index, PointState.done);
  return Atomics.add(control, setSlot(set, SetSlot.done), 1) + 1 === Atomics.load(control, setSlot(set, SetSlot.count));
}

/**
 * Claims points of job `sequence` and computes them until none is left to claim. Used identically by workers and
 * by a calling thread that helps; a worker must be announced in the set (`enterJob`) around it.
 */
export function claimAndCompute(views: SharedViews, sequence: number, mulToWords: MulToWords): Share {
  const { control, set, setViews, count, group } = jobOf(views, sequence);
  const share: Share = { computed: 0, finishedLast: false };
  for (;;) {
    const index = Atomics.add(control, setSlot(set, SetSlot.claim), 1);
    if (index >= count) return share;
    // Taken over already (the caller may take a point its claimer has not marked yet): leave it.
    if (Atomics.compareExchange(setViews.points, index, PointState.free, PointState.claimed) !== PointState.free) continue;
    const words = mulToWords(group, exponentAt(setViews, index));
    share.computed += 1;
    // The caller took it over while we computed: its result counts, ours is dropped.
    if (Atomics.compareExchange(setViews.points, index, PointState.claimed, PointState.publishing) !== PointState.claimed) continue;
    if (writeOwned(control, set, setViews, index, words)) share.finishedLast = true;
  }
}

/**
 * The calling thread's backup for a slow worker: computes every point of job `sequence` that is neither written nor
 * being written, taking it from whoever claimed it.
 */
export function takeOverUnfinished(views: SharedViews, sequence: number, mulToWords: MulToWords): Share {
  const { control, set, setViews, count, group } = jobOf(views, sequence);
  const share: Share = { computed: 0, finishedLast: false };
  for (let index = 0; index < count; index++) {
    const state = Atomics.load(setViews.points, index);
    // Being written or written: its owner finishes within microseconds.
    if (state === PointState.publishing || state === PointState.done) continue;
    if (Atomics.compareExchange(setViews.points, index, state, PointState.publishing) !== state) continue;
    share.computed += 1;
    if (writeOwned(control, set, setViews, index, mulToWords(group, exponentAt(setViews, index)))) share.finishedLast = true;
  }
  return share;
}

/**
 * A worker enters the job it woke up for: announced in the job's set first, then the sequence checked, so the pool
 * cannot have reset (or be resetting) that set for a later job while the worker is inside. False: the job is gone.
 */
export function enterJob(control: Int32Array, sequence: number): boolean {
  const slot = setSlot(setOf(sequence), SetSlot.inJob);
  Atomics.add(control, slot, 1);
  if (Atomics.load(control, Control.sequence) === sequence) return true;
  leaveJob(control, sequence);
  return false;
}

export function leaveJob(control: Int32Array, sequence: number): void {
  const slot = setSlot(setOf(sequence), SetSlot.inJob);
  if (Atomics.sub(control, slot, 1) === 1) Atomics.notify(control, slot);
}
