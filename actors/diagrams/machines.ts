// The protocol machines that `gridveil diagrams` draws, with where each is defined and what it is.
import type { AnyStateMachine } from "xstate";
import { bidSession } from "../../machines/bidSession.ts";
import { dso } from "../../machines/dso.ts";
import { gateway } from "../../machines/gateway.ts";
import { meter } from "../../machines/meter.ts";
import { tradeSettlement } from "../../machines/tradeSettlement.ts";

export type DiagrammedMachine = {
  /** File name stem: `docs/machines/<name>.mmd`. */
  name: string;
  machine: AnyStateMachine;
  source: string;
  summary: string;
};

export const diagrammedMachines: readonly DiagrammedMachine[] = [
  { name: "dso", machine: dso, source: "machines/dso.ts", summary: "the utility: market set-up, enrolment and ticket requests, one `tradeSettlement` child per match" },
  { name: "tradeSettlement", machine: tradeSettlement, source: "machines/tradeSettlement.ts", summary: "one matched trade at the DSO: openings, verification, terms, disputes, readings, settlement (PROTOCOL §5 trading)" },
  { name: "meter", machine: meter, source: "machines/meter.ts", summary: "a prosumer's smart meter: enrolment, then its planned bids, one `bidSession` child per bid" },
  { name: "bidSession", machine: bidSession, source: "machines/bidSession.ts", summary: "one bid of a meter: one-time id, ticket, encryption, submission, match, opening, verification, delivery, settlement" },
  { name: "gateway", machine: gateway, source: "machines/gateway.ts", summary: "the chain gateway: bids batched into transactions, cancels, chain events followed and published" },
];
