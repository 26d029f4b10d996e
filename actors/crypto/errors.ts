// Errors of the DSO's parallel encryption pool (encryptionPool.ts, encryptionWorker.ts): each builds its message from
// the facts of the failure (protocol/base/errors.ts).
import { GridveilError, errorClass } from "../../protocol/base/errors.ts";

/** The family of the pool's errors: a bad option, a failed worker, a closed pool or a job that came back incomplete. */
export class EncryptionPoolError extends GridveilError {}

/** An option of `createEncryptionPool` out of its range. */
export class InvalidPoolOptionError extends errorClass(
  EncryptionPoolError,
  (params: { option: "threads"; value: number } | { option: "spinMs"; value: number; maxMs: number }) => [
    params.option === "threads" ? "threads must be a positive integer" : `spinMs must be a number of milliseconds in [0, ${params.maxMs}]`,
    { value: params.value },
  ],
) {}

/** When a worker failed: while the pool started it, or afterwards, while it served jobs. */
export type WorkerPhase = "startUp" | "running";

/** An encryption worker thread threw or exited. */
export class EncryptionWorkerError extends EncryptionPoolError {
  constructor(params: { phase: WorkerPhase; cause: unknown } | { phase: WorkerPhase; exitCode: number }) {
    const startUp = params.phase === "startUp";
    if ("exitCode" in params) {
      super(startUp ? "encryption worker exited during start-up" : "encryption worker exited", { value: params.exitCode });
    } else {
      super(startUp ? "encryption worker failed to start" : "encryption worker crashed", { cause: params.cause });
    }
  }
}

/** A job asked of a closed pool (`closing`: the job was queued or running when `close()` was called). */
export class EncryptionPoolClosedError extends errorClass(EncryptionPoolError, (params: { closing?: true } = {}) => [
  params.closing ? "encryption pool closed" : "encryption pool is closed",
]) {}

/** A job reported done with points missing (a bug in the pool's shared-memory protocol). */
export class IncompleteJobError extends EncryptionPoolError {
  constructor(params: { doneCountShort: true } | { unwrittenPoints: number }) {
    if ("unwrittenPoints" in params) super("job finished with points not written", { value: params.unwrittenPoints });
    else super("job finished with missing points");
  }
}

/** encryptionWorker.ts was run as a script rather than started by the pool. */
export class NotAWorkerThreadError extends errorClass(EncryptionPoolError, () => [
  "encryptionWorker.ts must run as a worker thread",
  { hint: "the pool starts it: createEncryptionPool()" },
]) {}
