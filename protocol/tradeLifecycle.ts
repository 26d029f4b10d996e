// A trade's lifecycle (PROTOCOL §5 trading): the stages a match goes through and which may follow which. The DSO's
// machine decides when a trade moves; its database refuses any move this table does not allow.
import { z } from "zod";

export const tradeStageSchema = z.enum(["awaitingOpenings", "termsFixed", "settled", "voided", "disputed"]);
export type TradeStage = z.output<typeof tradeStageSchema>;

/**
 * `awaitingOpenings` → `termsFixed` (both openings verified) → `settled`, or to `voided` (no opening in time, an
 * opening that fails) or `disputed` (a meter does not accept the trade). A disputed trade awaits manual resolution:
 * the DSO's operator settles or voids it.
 */
export const tradeTransitions: Readonly<Record<TradeStage, readonly TradeStage[]>> = {
  awaitingOpenings: ["termsFixed", "voided"],
  termsFixed: ["settled", "disputed", "voided"],
  disputed: ["settled", "voided"],
  voided: [],
  settled: [],
};

export function canBecome(from: TradeStage, to: TradeStage): boolean {
  return tradeTransitions[from].includes(to);
}

/** The stages from which a trade cannot move any more. */
export function isFinalStage(stage: TradeStage): boolean {
  return tradeTransitions[stage].length === 0;
}
