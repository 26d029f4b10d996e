// The pool's shared-memory protocol, step by step on one thread: claims, a caller taking over a stalled worker's
// points (the worker's late result is dropped), and the enter/leave guard that keeps a late worker out of the next job.
import { describe, expect, it } from "vitest";
import {
  allocateSet,
  claimAndCompute,
  Control,
  enterJob,
  leaveJob,
  PointState,
  SetSlot,
  setOf,
  setSlot,
  sharedViews,
  takeOverUnfinished,
  type MulToWords,
  type SharedViews,
} from "../../actors/crypto/encryptionPoolLayout.ts";

const COUNT = 5;
/** A stand-in multiplication: the words name the exponent and who computed it. */
const computedBy = (who: bigint): MulToWords => (_group, exponent) => [exponent, who];

function startJob(views: SharedViews, sequence: number, exponents: readonly bigint[]): void {
  const set = setOf(sequence);
  const { points, exponentBytes } = views.sets[set];
  exponents.forEach((exponent, i) => {
    exponentBytes.write(exponent.toString(16).padStart(64, "0"), i * 32, "hex");
    Atomics.store(points, i, PointState.free);
  });
  Atomics.store(views.control, setSlot(set, SetSlot.count), exponents.length);
  Atomics.store(views.control, setSlot(set, SetSlot.group), 1);
  Atomics.store(views.control, setSlot(set, SetSlot.done), 0);
  Atomics.store(views.control, setSlot(set, SetSlot.claim), 0);
  Atomics.store(views.control, Control.sequence, sequence);
}

function resultWords(views: SharedViews, sequence: number, count: number): bigint[][] {
  const { resultBytes } = views.sets[setOf(sequence)];
  return Array.from({ length: count }, (_, i) => [0, 1].map((k) => BigInt(`0x${resultBytes.toString("hex", (2 * i + k) * 32, (2 * i + k + 1) * 32)}`)));
}

function newViews(): SharedViews {
  return sharedViews({ control: new SharedArrayBuffer(Control.length * 4), sets: [allocateSet(8), allocateSet(8)] });
}

describe("encryption pool layout", () => {
  it("one thread claims and publishes every point once, and reports the last", () => {
    const views = newViews();
    const exponents = [11n, 12n, 13n, 14n, 15n];
    startJob(views, 1, exponents);
    expect(claimAndCompute(views, 1, computedBy(1n))).toEqual({ computed: COUNT, finishedLast: true });
    expect(resultWords(views, 1, COUNT)).toEqual(exponents.map((e) => [e, 1n]));
    expect(Atomics.load(views.control, setSlot(1, SetSlot.done))).toBe(COUNT);
  });

  it("the caller takes over points a stalled worker claimed (or only took from the counter) and the worker's late result is dropped", () => {
    const views = newViews();
    const exponents = [21n, 22n, 23n, 24n, 25n];
    startJob(views, 3, exponents);
    const set = views.sets[setOf(3)];
    // The worker took indices 0 and 1 from the counter: marked 0 CLAIMED, was descheduled before marking 1.
    Atomics.store(views.control, setSlot(1, SetSlot.claim), 2);
    expect(Atomics.compareExchange(set.points, 0, PointState.free, PointState.claimed)).toBe(PointState.free);
    // The caller claims the rest, then takes over 0 and 1.
    expect(claimAndCompute(views, 3, computedBy(2n))).toEqual({ computed: 3, finishedLast: false });
    expect(takeOverUnfinished(views, 3, computedBy(2n))).toEqual({ computed: 2, finishedLast: true });
    // The worker wakes: it can neither mark index 1 nor publish index 0.
    expect(Atomics.compareExchange(set.points, 1, PointState.free, PointState.claimed)).toBe(PointState.done);
    expect(Atomics.compareExchange(set.points, 0, PointState.claimed, PointState.publishing)).toBe(PointState.done);
    expect(resultWords(views, 3, COUNT)).toEqual(exponents.map((e) => [e, 2n]));
    expect(Atomics.load(views.control, setSlot(1, SetSlot.done))).toBe(COUNT);
  });

  it("takes over nothing that is being written or done", () => {
    const views = newViews();
    startJob(views, 5, [31n, 32n]);
    const set = views.sets[setOf(5)];
    Atomics.store(set.points, 0, PointState.publishing);
    Atomics.store(set.points, 1, PointState.done);
    expect(takeOverUnfinished(views, 5, computedBy(9n))).toEqual({ computed: 0, finishedLast: false });
  });

  it("a worker enters only the current job; a set stays occupied until it leaves", () => {
    const views = newViews();
    const inJob = (set: number) => Atomics.load(views.control, setSlot(set, SetSlot.inJob));
    startJob(views, 7, [1n]);
    expect(enterJob(views.control, 7)).toBe(true);
    expect(inJob(1)).toBe(1);
    // The job moved on (the caller finished it alone) and the next uses the other set: the late worker is still in set 1.
    startJob(views, 8, [1n]);
    expect(enterJob(views.control, 7)).toBe(false);
    expect(inJob(1)).toBe(1);
    leaveJob(views.control, 7);
    expect(inJob(1)).toBe(0);
    expect(inJob(0)).toBe(0);
  });
});
