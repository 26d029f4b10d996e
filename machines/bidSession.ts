// One bid of a smart meter, from its one-time identity to settlement (PROTOCOL §4 identities, tickets, commitments;
// §5 bidding and trading). The stages live in machines/bidSession/: preparing, onChain, trading; this file wires them.
import type { MachineImplementationsFrom, SnapshotFrom } from "xstate";
import { promiseEffects } from "./kit/effects.ts";
import { initialContext, settledOutcome, type BidSessionEffects } from "./bidSession/index.ts";
import { bidSessionEvents } from "./bidSession/events.ts";
import { onChain } from "./bidSession/onChain.ts";
import { preparing } from "./bidSession/preparing.ts";
import { bidSessionSetup } from "./bidSession/setup.ts";
import { trading } from "./bidSession/trading.ts";

export * from "./bidSession/index.ts";

export const bidSession = bidSessionSetup.createMachine({
  id: "bidSession",
  context: ({ input }) => initialContext(input),
  // Malformed external events end here (state handlers only take well-formed ones) and are recorded.
  on: bidSessionEvents.fallback("recordIfMalformed"),
  initial: "preparing",
  output: ({ context }) => ({
    type: "BID.SESSION.ENDED",
    sessionId: context.sessionId,
    planId: context.planId,
    attempt: context.attempt,
    bidder: context.bidder,
    outcome: context.outcome ?? { kind: "failed", stage: "identity", reason: "no outcome" },
  }),
  states: {
    preparing,
    onChain,
    trading,
    settled: { type: "final", entry: [{ type: "end", params: ({ context }) => ({ outcome: settledOutcome(context) }) }, "finish"] },
    voided: { type: "final", entry: "finish" },
    disputed: { type: "final", entry: "finish" },
    expired: { type: "final", entry: "finish" },
    closed: { type: "final", entry: "finish" },
    cancelled: { type: "final", entry: "finish" },
    rejected: { type: "final", entry: "finish" },
    failed: { type: "final", entry: "finish" },
  },
});

export type BidSessionMachine = typeof bidSession;
export type BidSessionSnapshot = SnapshotFrom<typeof bidSession>;
export type BidSessionImplementations = MachineImplementationsFrom<typeof bidSession>;

/** Provides every effect at once, so a runtime cannot forget one (the type requires all of them). */
export function provideBidSession(effects: BidSessionEffects): BidSessionMachine {
  return bidSession.provide({ actors: promiseEffects(effects) });
}
