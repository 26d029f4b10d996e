// Well-formed messages for tests of the transport (streams, permissions): their content is never checked on chain.
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import { consumeDurable } from "../../../actors/nats/jetstream.ts";
import { DURABLES } from "../../../protocol/wire/subjects.ts";
import { bidSubmissionSchema, type BidSubmission } from "../../../protocol/wire/schemas.ts";

/** A bid submission that passes `bidSubmissionSchema` (placeholder ciphertext, ticket and signature). */
export function bidSubmission(bidder: string, side: 0 | 1 = 0): BidSubmission {
  return {
    type: "bid.submit",
    bidder: bidder as `0x${string}`,
    side,
    ciphertext: `0x${"11".repeat(64)}`,
    commitment: `0x${"22".repeat(32)}`,
    ticket: { notAfter: 1_900_000_000, signature: `0x${"33".repeat(65)}` },
    bidSignature: `0x${"44".repeat(65)}`,
    submittedAt: 1,
  };
}

/** The gateway's durable consumer of the bids stream, run on `nc` until the first bid arrives (at most 5 s). */
export async function consumeBids(nc: NatsConnection, stream: string) {
  const bidders: string[] = [];
  const consumer = await consumeDurable(jetstream(nc), stream, DURABLES.gatewayBids, {
    schema: bidSubmissionSchema,
    handler: (value) => void bidders.push(value.bidder),
  });
  for (let i = 0; i < 100 && bidders.length === 0; i++) await sleep(50);
  await consumer.stop();
  return { bidders, stats: consumer.stats() };
}
