// Work a runtime starts and does not await (effects, background settles): kept in one set so that `stop()` can
// wait for all of it, and so that a failure is logged instead of becoming an unhandled rejection.
import type { Logger } from "../telemetry/logger.ts";

export type TrackedWork = {
  /** Keeps `work` until it settles; a rejection is logged (it has nobody else to report to). */
  track<T>(work: Promise<T>, what?: string): void;
  /** Runs `work` and keeps it until it settles; its result and error go to the caller as usual. */
  run<T>(work: () => Promise<T>): Promise<T>;
  /** Waits for everything tracked now (and whatever it started meanwhile). */
  settled(): Promise<void>;
  readonly size: number;
};

export function trackedWork(logger: Logger): TrackedWork {
  const running = new Set<Promise<unknown>>();
  const keep = <T>(work: Promise<T>): Promise<T> => {
    running.add(work);
    void work.then(
      () => running.delete(work),
      () => running.delete(work),
    );
    return work;
  };
  return {
    track(work, what = "background work") {
      keep(work.catch((error: unknown) => logger.error({ err: error }, `${what} failed`)));
    },
    run: (work) => keep(work()),
    async settled() {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
    get size() {
      return running.size;
    },
  };
}
