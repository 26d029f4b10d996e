// DSO-side parallel encryption: the d point multiplications of one ciphertext are split over T worker threads.
import { Worker } from "node:worker_threads";
import { encodeMsk } from "./binary.ts";
import { checkMarketDimension, type BidCiphertext, type BidRandomizers } from "./bidCiphertext.ts";
import { EncryptionPoolError } from "./errors.ts";
import { leftExponents, rightExponents, type MasterSecretKey } from "./fhipe.ts";
import { DEFAULT_WINDOW_BITS } from "./fixedBase.ts";
import { leftVector, rightVector } from "./priceEncoding.ts";

export type WorkerInit = { msk: Uint8Array; windowBits: number };
export type WorkerJob = { id: number; group: "g1" | "g2"; exponents: bigint[] };
export type WorkerReply = { id: number; words: bigint[] } | { id: number; error: string };
type ReadyMessage = { ready: true };

export type EncryptionPoolOptions = { threads: number; windowBits?: number };

type Pending = { resolve: (words: bigint[]) => void; reject: (error: Error) => void };

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
  private readonly workers: Worker[];
  private readonly pending = new Map<number, Pending>();
  private nextJobId = 0;
  private closed = false;

  private constructor(private readonly msk: MasterSecretKey, workers: Worker[]) {
    this.threads = workers.length;
    this.workers = workers;
    for (const worker of workers) {
      worker.on("message", (reply: WorkerReply) => this.settle(reply));
      worker.on("error", (error) => this.failAll(new EncryptionPoolError("encryption worker crashed", { cause: error })));
      worker.on("exit", (code) => {
        if (!this.closed) this.failAll(new EncryptionPoolError("encryption worker exited", { value: code }));
      });
    }
  }

  /** Starts T workers, sends each the key once, and resolves when all have built their tables. */
  static async create(msk: MasterSecretKey, options: EncryptionPoolOptions): Promise<EncryptionPool> {
    const { threads, windowBits = DEFAULT_WINDOW_BITS } = options;
    if (!Number.isSafeInteger(threads) || threads < 1) {
      throw new EncryptionPoolError("threads must be a positive integer", { value: threads });
    }
    const init: WorkerInit = { msk: encodeMsk(msk), windowBits };
    const workers = Array.from({ length: threads }, () => new Worker(WORKER_URL, { workerData: init, execArgv: workerExecArgv() }));
    try {
      await Promise.all(workers.map(waitUntilReady));
    } catch (error) {
      await Promise.all(workers.map((worker) => worker.terminate()));
      throw error;
    }
    return new EncryptionPool(msk, workers);
  }

  /** K2 of x under α as uint256[2d]; identical to the single-threaded path. */
  async encryptLeftK2Words(x: readonly bigint[], alpha: bigint): Promise<bigint[]> {
    return this.run("g1", leftExponents(this.msk, x, alpha));
  }

  /** C2 of y under β as uint256[4d]. */
  async encryptRightC2Words(y: readonly bigint[], beta: bigint): Promise<bigint[]> {
    return this.run("g2", rightExponents(this.msk, y, beta));
  }

  /** The pooled equivalent of `encryptBid`; both halves are in flight at once. */
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
    this.closed = true;
    this.failAll(new EncryptionPoolError("encryption pool closed"));
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }

  /** Contiguous, near-equal slices, one per worker, so the results concatenate back in order. */
  private async run(group: WorkerJob["group"], exponents: bigint[]): Promise<bigint[]> {
    if (this.closed) throw new EncryptionPoolError("encryption pool is closed");
    const slices = Math.min(this.workers.length, exponents.length);
    const jobs: Promise<bigint[]>[] = [];
    let start = 0;
    for (let i = 0; i < slices; i++) {
      const size = Math.floor(exponents.length / slices) + (i < exponents.length % slices ? 1 : 0);
      jobs.push(this.submit(this.workers[i]!, { id: this.nextJobId++, group, exponents: exponents.slice(start, start + size) }));
      start += size;
    }
    return (await Promise.all(jobs)).flat();
  }

  private submit(worker: Worker, job: WorkerJob): Promise<bigint[]> {
    return new Promise((resolve, reject) => {
      this.pending.set(job.id, { resolve, reject });
      worker.postMessage(job);
    });
  }

  private settle(reply: WorkerReply): void {
    const pending = this.pending.get(reply.id);
    if (pending === undefined) return;
    this.pending.delete(reply.id);
    if ("error" in reply) pending.reject(new EncryptionPoolError("encryption job failed in a worker", { value: reply.error }));
    else pending.resolve(reply.words);
  }

  private failAll(error: Error): void {
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }
}

export function createEncryptionPool(msk: MasterSecretKey, options: EncryptionPoolOptions): Promise<EncryptionPool> {
  return EncryptionPool.create(msk, options);
}

function waitUntilReady(worker: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: ReadyMessage | WorkerReply) => {
      if ("ready" in message) {
        cleanup();
        resolve();
      }
    };
    const onError = (error: Error) => {
      cleanup();
      reject(new EncryptionPoolError("encryption worker failed to start", { cause: error }));
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new EncryptionPoolError("encryption worker exited during start-up", { value: code }));
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
