// Correlates NATS requests and JetStream deliveries with the machine's replyToRequest / ackMessages actions.
import type { RequestReply } from "../../machines/tradeSettlement.ts";

type Waiter<T> = { resolve: (value: T) => void; timer: NodeJS.Timeout };

/**
 * Promises keyed by id, settled by the machine's fire-and-forget actions. A wait that outlives `timeoutMs` settles
 * with `onTimeout` (the machine may have stopped, or is restarting): handlers never hang.
 */
export class Correlator<T> {
  readonly #waiting = new Map<string, Waiter<T>[]>();

  wait(id: string, timeoutMs: number, onTimeout: T): Promise<T> {
    return new Promise<T>((resolve) => {
      const waiter: Waiter<T> = {
        resolve,
        timer: setTimeout(() => {
          this.#remove(id, waiter);
          resolve(onTimeout);
        }, timeoutMs),
      };
      const list = this.#waiting.get(id) ?? [];
      list.push(waiter);
      this.#waiting.set(id, list);
    });
  }

  /** Settles every wait for `id`; returns whether anyone was waiting. Never throws (called from machine actions). */
  settle(id: string, value: T): boolean {
    const list = this.#waiting.get(id);
    if (!list) return false;
    this.#waiting.delete(id);
    for (const waiter of list) {
      clearTimeout(waiter.timer);
      waiter.resolve(value);
    }
    return true;
  }

  /** Settles everything (shutdown). */
  settleAll(value: T): void {
    for (const id of [...this.#waiting.keys()]) this.settle(id, value);
  }

  get size(): number {
    return this.#waiting.size;
  }

  #remove(id: string, waiter: Waiter<T>): void {
    const list = this.#waiting.get(id)?.filter((candidate) => candidate !== waiter);
    if (!list || list.length === 0) this.#waiting.delete(id);
    else this.#waiting.set(id, list);
  }
}

export type ReplyCorrelator = Correlator<RequestReply>;
/** Acks: `true` when the machine acked, `false` on timeout (the delivery is then nak'ed and comes back). */
export type AckCorrelator = Correlator<boolean>;
