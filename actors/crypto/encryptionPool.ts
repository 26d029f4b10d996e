// DSO-side parallel encryption: the d point multiplications of one ciphertext are shared by T threads.
//
// Why shared memory rather than one message per worker: a static split waits for the slowest thread, and on a
// shared 2-core machine one worker is often descheduled. Here the d exponents sit in a SharedArrayBuffer and
// every thread claims the next point with a compare-and-swap, so an idle core takes over the work of a busy one
// and the only messages are the key at start-up and one "done" per ciphertext.
//
// Why the calling thread helps by default: waking a sleeping worker costs 0.2–0.4 ms on this VM (measured),
// a tenth of a whole n = 20 ciphertext. With T threads = the caller + T − 1 workers, the caller starts at once
// and a late worker just claims fewer points. The caller is busy for the job's duration, as with plain
// `encryptBid`; pass `callerHelps: false` for T workers and a caller that stays free (one more wake-up per job).
//
// Why the caller takes points over: a worker descheduled in the middle of a point (this VM's host does that for
// milliseconds) used to hold the whole ciphertext until it ran again. Now, once the caller has nothing left to claim
// and a claimed point is still unfinished after 1.5 of the caller's own point times, the caller computes it itself;
// the worker's late result is dropped (encryptionPoolLayout.ts: per-point ownership, two buffer sets). Idle workers
// poll for `spinMs` before they sleep, so a stream of ciphertexts pays no wake-ups.
import { Worker } from "node:worker_threads";
import { encodeMsk } from "../../protocol/fhipe/binary.ts";
import { checkMarketDimension, type BidCiphertext, type BidRandomizers } from "../../protocol/encoding/bidCiphertext.ts";
import { leftExponents, rightExponents, type MasterSecretKey } from "../../protocol/fhipe/fhipe.ts";
import { FIXED_BASE_WINDOW_BITS } from "../../protocol/fhipe/fixedBase.ts";
import { g1ToWords, g2ToWords } from "../../protocol/fhipe/evmWords.ts";
import { g1Table, g2Table, precomputeTables } from "../../protocol/fhipe/fhipe.ts";
import { EncryptionPoolClosedError, EncryptionWorkerError, IncompleteJobError, InvalidPoolOptionError } from "./errors.ts";
import {
  allocateSet,
  claimAndCompute,
  CLOSE_SEQUENCE,
  Control,
  G1_WORDS,
  G2_WORDS,
  GROUP_G1,
  GROUP_G2,
  PointState,
  SEQUENCE_LIMIT,
  SetSlot,
  setOf,
  setSlot,
  sharedViews,
  takeOverUnfinished,
  WORD_BYTES,
  type MulToWords,
  type SharedViews,
  type WorkerInit,
  type WorkerMessage,
} from "./encryptionPoolLayout.ts";
import { leftVector, rightVector } from "../../protocol/encoding/priceEncoding.ts";

export type EncryptionPoolOptions = {
  /** Threads computing each ciphertext, the caller included unless `callerHelps` is false. */
  threads: number;
  windowBits?: number;
  /** Default true: the calling thread computes points too, so T threads = caller + T − 1 workers. */
  callerHelps?: boolean;
  /**
   * How long an idle worker keeps polling for the next job before it sleeps (default WORKER_SPIN_MS). A sleeping
   * worker takes 0.2–0.4 ms to wake on this VM, as long as the worker's whole share of a small ciphertext;
   * 0 sleeps at once (no idle CPU spent).
   */
  spinMs?: number;
};

/** Default polling window of an idle worker: covers the gap between the ciphertexts of a stream of bids. */
export const WORKER_SPIN_MS = 2;

// When the caller has claimed its last point, the job's remaining points are in flight on workers and finish within
// about one multiplication. A worker that has not finished one of them after TAKE_OVER_POINTS of the caller's own
// point times was descheduled (this VM's host does that for milliseconds at a time): the caller computes those
// points itself instead of waiting (the worker's late result is dropped). After that only points being written
// remain; past CALLER_SPIN_LIMIT_MS the caller sleeps until the worker's "done" message.
const TAKE_OVER_POINTS = 1.5;
const CALLER_SPIN_LIMIT_MS = 1;
// An idle worker that polls longer than this wastes a core for nothing a DSO would notice.
const MAX_SPIN_MS = 100;
// How often a job waiting for a late worker to leave its buffer set looks again (it is woken when the worker leaves).
const SET_VACATED_POLL_MS = 50;

type Job = { group: typeof GROUP_G1 | typeof GROUP_G2; exponents: bigint[] };
type Running = { sequence: number; resolve: () => void; reject: (error: Error) => void };

const WORKER_URL = new URL("./encryptionWorker.ts", import.meta.url);

/**
 * Workers load the TypeScript entry through tsx's loader. The specifier is resolved here, against this package,
 * so the pool works whatever the process's working directory or own loader (tsx, vitest) is.
 */
function workerExecArgv(): string[] {
  return ["--import", import.meta.resolve("tsx")];
}

export class EncryptionPool {
  readonly threads: number;
  readonly callerHelps: boolean;
  private readonly views: SharedViews;
  private readonly mulToWords: MulToWords;
  private sequence = 0;
  /** The caller's last measured time per point (ms): how long to give a worker before taking its points over. */
  private pointMs = 0.1;
  /** Points the caller computed in place of a slow worker (their worker's results were dropped). */
  private takenOver = 0;
  private running: Running | undefined;
  // One ciphertext at a time: each one already uses every worker.
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private readonly msk: MasterSecretKey;
  private readonly workers: Worker[];

  // No TypeScript parameter properties: this file is also loaded under Node's strip-only type removal.
  private constructor(
    msk: MasterSecretKey,
    workers: Worker[],
    buffers: Pick<WorkerInit, "control" | "sets">,
    callerHelps: boolean,
  ) {
    this.msk = msk;
    this.workers = workers;
    this.callerHelps = callerHelps;
    this.threads = workers.length + (callerHelps ? 1 : 0);
    this.views = sharedViews(buffers);
    const table1 = g1Table(msk);
    const table2 = g2Table(msk);
    this.mulToWords = (group, exponent) => (group === GROUP_G1 ? g1ToWords(table1.mul(exponent)) : g2ToWords(table2.mul(exponent)));
    for (const worker of workers) {
      worker.on("message", (message: WorkerMessage) => {
        if ("done" in message && this.running?.sequence === message.done) this.running.resolve();
      });
      worker.on("error", (error) => this.crash(new EncryptionWorkerError({ phase: "running", cause: error })));
      worker.on("exit", (code) => this.crash(new EncryptionWorkerError({ phase: "running", exitCode: code })));
    }
  }

  /** Starts T workers, hands each the key once, and resolves when all have built and warmed their tables. */
  static async create(msk: MasterSecretKey, options: EncryptionPoolOptions): Promise<EncryptionPool> {
    const { threads, windowBits = FIXED_BASE_WINDOW_BITS, callerHelps = true, spinMs = WORKER_SPIN_MS } = options;
    if (!Number.isSafeInteger(threads) || threads < 1) {
      throw new InvalidPoolOptionError({ option: "threads", value: threads });
    }
    if (!Number.isFinite(spinMs) || spinMs < 0 || spinMs > MAX_SPIN_MS) {
      throw new InvalidPoolOptionError({ option: "spinMs", value: spinMs, maxMs: MAX_SPIN_MS });
    }
    if (callerHelps) precomputeTables(msk, windowBits);
    const workerCount = callerHelps ? threads - 1 : threads;
    const buffers = {
      control: new SharedArrayBuffer(Control.length * Int32Array.BYTES_PER_ELEMENT),
      sets: [allocateSet(msk.dim), allocateSet(msk.dim)] as const,
    };
    const init: WorkerInit = { msk: encodeMsk(msk), windowBits, spinMs, ...buffers };
    const workers = Array.from({ length: workerCount }, () => new Worker(WORKER_URL, { workerData: init, execArgv: workerExecArgv() }));
    try {
      await Promise.all(workers.map(waitUntilReady));
    } catch (error) {
      await Promise.all(workers.map((worker) => worker.terminate()));
      throw error;
    }
    for (const worker of workers) worker.unref();
    return new EncryptionPool(msk, workers, buffers, callerHelps);
  }

  /** Points the calling thread computed in place of a worker that was too slow (descheduled) since the pool started. */
  get takenOverPoints(): number {
    return this.takenOver;
  }

  /** K2 of x under α as uint256[2d]; identical to the single-threaded path. */
  async encryptLeftK2Words(x: readonly bigint[], alpha: bigint): Promise<bigint[]> {
    return this.enqueue({ group: GROUP_G1, exponents: leftExponents(this.msk, x, alpha) });
  }

  /** C2 of y under β as uint256[4d]. */
  async encryptRightC2Words(y: readonly bigint[], beta: bigint): Promise<bigint[]> {
    return this.enqueue({ group: GROUP_G2, exponents: rightExponents(this.msk, y, beta) });
  }

  /** The pooled equivalent of `encryptBid`. */
  async encryptBid(levels: number, priceLevel: number, randomizers: BidRandomizers): Promise<BidCiphertext> {
    checkMarketDimension(this.msk, levels);
    const [left, right] = await Promise.all([
      this.encryptLeftK2Words(leftVector(priceLevel, levels), randomizers.alpha),
      this.encryptRightC2Words(rightVector(priceLevel, levels), randomizers.beta),
    ]);
    return { left, right };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.shutDown(new EncryptionPoolClosedError({ closing: true }));
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }

  private enqueue(job: Job): Promise<bigint[]> {
    if (this.closed) return Promise.reject(new EncryptionPoolClosedError());
    const result = this.queue.then(() => this.run(job));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async run(job: Job): Promise<bigint[]> {
    if (this.closed) throw new EncryptionPoolClosedError();
    const sequence = (this.sequence = (this.sequence % SEQUENCE_LIMIT) + 1);
    // Idle workers are unref'd so a forgotten pool does not keep the process alive; a running job holds it open.
    for (const worker of this.workers) worker.ref();
    try {
      // A worker that fell behind two jobs ago may still be inside this job's buffer set: wait until it has left.
      await this.setVacated(setOf(sequence));
      if (this.closed) throw new EncryptionPoolClosedError();
      return await this.runInSet(job, sequence);
    } finally {
      for (const worker of this.workers) worker.unref();
    }
  }

  private async runInSet(job: Job, sequence: number): Promise<bigint[]> {
    const { control } = this.views;
    const count = job.exponents.length;
    const set = setOf(sequence);
    const { points, exponentBytes, resultBytes } = this.views.sets[set];
    job.exponents.forEach((exponent, i) => {
      exponentBytes.write(exponent.toString(16).padStart(2 * WORD_BYTES, "0"), i * WORD_BYTES, "hex");
      Atomics.store(points, i, PointState.free);
    });
    Atomics.store(control, setSlot(set, SetSlot.count), count);
    Atomics.store(control, setSlot(set, SetSlot.group), job.group);
    Atomics.store(control, setSlot(set, SetSlot.done), 0);
    Atomics.store(control, setSlot(set, SetSlot.claim), 0);
    const finished = new Promise<void>((resolve, reject) => {
      this.running = { sequence, resolve, reject };
    });
    const results = new ResultReader(points, resultBytes, count, job.group === GROUP_G1 ? G1_WORDS : G2_WORDS);
    Atomics.store(control, Control.sequence, sequence);
    Atomics.notify(control, Control.sequence);
    try {
      if (!(this.callerHelps && this.helpAndSpin(sequence, count, results))) await finished;
    } finally {
      this.running = undefined;
    }
    // The atomic reads (of `done`, then of each point's state) order every thread's result writes before the parsing.
    if (Atomics.load(control, setSlot(set, SetSlot.done)) !== count) throw new IncompleteJobError({ doneCountShort: true });
    results.parseDone();
    return results.words();
  }

  /** Resolves once no worker is inside `set` (at once, unless a worker fell behind by two jobs). */
  private async setVacated(set: number): Promise<void> {
    const slot = setSlot(set, SetSlot.inJob);
    for (let inside = Atomics.load(this.views.control, slot); inside !== 0 && !this.closed; inside = Atomics.load(this.views.control, slot)) {
      const waited = Atomics.waitAsync(this.views.control, slot, inside, SET_VACATED_POLL_MS);
      if (waited.async) await waited.value;
    }
  }

  /**
   * The caller's share, then its backup for slow workers; true if the job is complete when it returns. While it waits
   * for the workers' last points it parses the points already done (the parse is otherwise serial work after them).
   */
  private helpAndSpin(sequence: number, count: number, results: ResultReader): boolean {
    const control = this.views.control;
    const doneSlot = setSlot(setOf(sequence), SetSlot.done);
    const started = performance.now();
    const share = claimAndCompute(this.views, sequence, this.mulToWords);
    const now = performance.now();
    if (share.computed > 0) this.pointMs = (now - started) / share.computed;
    const takeOverAt = now + TAKE_OVER_POINTS * this.pointMs;
    while (Atomics.load(control, doneSlot) !== count) {
      results.parseDone();
      if (performance.now() > takeOverAt) {
        this.takenOver += takeOverUnfinished(this.views, sequence, this.mulToWords).computed;
        break;
      }
    }
    const deadline = performance.now() + CALLER_SPIN_LIMIT_MS;
    while (Atomics.load(control, doneSlot) !== count) {
      if (performance.now() > deadline) return false;
    }
    return true;
  }

  /** A lost worker could hold a claimed point forever: fail the running job and refuse further work. */
  private crash(error: Error): void {
    if (this.closed) return;
    this.shutDown(error);
    for (const worker of this.workers) void worker.terminate();
  }

  private shutDown(error: Error): void {
    this.closed = true;
    this.running?.reject(error);
    this.running = undefined;
    Atomics.store(this.views.control, Control.sequence, CLOSE_SEQUENCE);
    Atomics.notify(this.views.control, Control.sequence);
  }
}

/** A job's result words, parsed point by point as points are done (any order). */
class ResultReader {
  private readonly out: bigint[];
  private readonly parsed: Uint8Array;
  private left: number;
  private readonly points: Int32Array;
  private readonly resultBytes: Buffer;
  private readonly wordsPerPoint: number;

  constructor(points: Int32Array, resultBytes: Buffer, count: number, wordsPerPoint: number) {
    this.points = points;
    this.resultBytes = resultBytes;
    this.wordsPerPoint = wordsPerPoint;
    this.out = new Array<bigint>(count * wordsPerPoint);
    this.parsed = new Uint8Array(count);
    this.left = count;
  }

  /** Parses every point whose state says done and that is not parsed yet. */
  parseDone(): void {
    if (this.left === 0) return;
    const { wordsPerPoint } = this;
    for (let index = 0; index < this.parsed.length; index++) {
      if (this.parsed[index] === 1 || Atomics.load(this.points, index) !== PointState.done) continue;
      const hex = this.resultBytes.toString("hex", index * wordsPerPoint * WORD_BYTES, (index + 1) * wordsPerPoint * WORD_BYTES);
      for (let k = 0; k < wordsPerPoint; k++) this.out[index * wordsPerPoint + k] = BigInt(`0x${hex.slice(k * 64, k * 64 + 64)}`);
      this.parsed[index] = 1;
      this.left -= 1;
    }
  }

  words(): bigint[] {
    if (this.left !== 0) throw new IncompleteJobError({ unwrittenPoints: this.left });
    return this.out;
  }
}

export function createEncryptionPool(msk: MasterSecretKey, options: EncryptionPoolOptions): Promise<EncryptionPool> {
  return EncryptionPool.create(msk, options);
}

function waitUntilReady(worker: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: WorkerMessage) => {
      if ("ready" in message) {
        cleanup();
        resolve();
      }
    };
    const onError = (error: Error) => {
      cleanup();
      reject(new EncryptionWorkerError({ phase: "startUp", cause: error }));
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new EncryptionWorkerError({ phase: "startUp", exitCode: code }));
    };
    const cleanup = () => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
    };
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
  });
}
