// The gateway's hint source for version 2 placements (PROTOCOL §5 v2): the DSO's `dso.hints`, which knows every
// certified level (docs/dso.md "Certified bids and hints"). The public mirror (actors/chain/slotMirror.ts) is the
// fallback when the DSO does not answer.
import type { NatsConnection } from "@nats-io/transport-node";
import { slotHintFromWire } from "../../contracts/client/v2/slotMarket.ts";
import type { PlacementRejection } from "../../protocol/book/slotBooks.ts";
import { endpoints } from "../../protocol/wire/endpoints.ts";
import type { MarketSubjects } from "../../protocol/wire/subjects.ts";
import { call } from "../nats/rpc.ts";
import type { HintSource } from "./slotPlacer.ts";

export function dsoHintSource(nc: NatsConnection, subjects: MarketSubjects, timeoutMs: number): HintSource {
  return async (slot, lists, bidders, now) => {
    const reply = await call(nc, subjects, endpoints.hints, { type: "hints.request", slot, lists: { buy: [...lists.buy], sell: [...lists.sell] }, bidders: [...bidders], now }, { timeoutMs });
    return {
      hints: reply.hints.map((entry) => ({
        bidder: entry.bidder,
        hint: slotHintFromWire(entry.hint),
        outcome: entry.outcome.placed ? entry.outcome : { placed: false as const, reason: entry.outcome.reason as PlacementRejection },
      })),
      lists: reply.lists,
    };
  };
}
