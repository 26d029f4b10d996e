// Well-formed messages for tests of the transport (streams, permissions): their content is never checked on chain.
import type { BidSubmission } from "../../../protocol/wire/schemas.ts";

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
