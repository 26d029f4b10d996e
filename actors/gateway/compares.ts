// How many FHIPE `Compare`s (pairing checks) a transaction ran, from its receipt's events (issue 5, `chain.tx`).
import type { MarketEvent } from "../../contracts/client/index.ts";

/** The contract's own count when its events carry one; undefined otherwise (never guessed from gas). */
export function comparesIn(events: readonly MarketEvent[]): number | undefined {
  void events;
  return undefined;
}
