// The gateway's hints (PROTOCOL §5 v2, docs/dso.md "Certified bids and hints"): the DSO's, which it makes from clear
// levels in milliseconds; when the DSO does not answer within its bound, the same hints from public data (zero tests
// on the ciphertexts: slow, but no one's help is needed). After a failure the DSO is left alone for a while, so that
// each batch does not wait out the bound again while it is down.
import { describeError } from "../../machines/kit/errors.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { HintSource } from "./slotPlacer.ts";

export type HintCounters = { fromDso: number; fromPublic: number; dsoFailures: number };

export type FallbackHints = { hints: HintSource; counters(): HintCounters };

export function hintsWithFallback(options: {
  dso: HintSource;
  fallback: HintSource;
  /** After the DSO failed, batches go straight to the fallback for this long (wall ms). */
  dsoRetryAfterMs: number;
  logger: Logger;
}): FallbackHints {
  const counters: HintCounters = { fromDso: 0, fromPublic: 0, dsoFailures: 0 };
  let dsoDownUntil = 0;
  const fromPublic: HintSource = async (...args) => {
    const answer = await options.fallback(...args);
    counters.fromPublic += 1;
    return answer;
  };
  return {
    counters: () => ({ ...counters }),
    hints: async (slot, lists, bidders, now) => {
      if (Date.now() < dsoDownUntil) return fromPublic(slot, lists, bidders, now);
      try {
        const answer = await options.dso(slot, lists, bidders, now);
        counters.fromDso += 1;
        return answer;
      } catch (error) {
        counters.dsoFailures += 1;
        dsoDownUntil = Date.now() + options.dsoRetryAfterMs;
        options.logger.warn({ slot, bids: bidders.length, err: describeError(error), retryDsoInMs: options.dsoRetryAfterMs }, "the DSO's hints failed; hinting from public data");
        return fromPublic(slot, lists, bidders, now);
      }
    },
  };
}
