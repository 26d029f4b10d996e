// The meter's edge conversions: a signed bid → its bids-stream submission, a sealed terms payload → the session's
// `TERMS.RECEIVED`, and the `forgeOpening` fault. Decisions stay in the machines; this only translates.
import type { BidSessionEvent } from "../../machines/bidSession.ts";
import { codeOfSide, type Opening, type SignedBid } from "../../protocol/domain.ts";
import { FR_ORDER } from "../../protocol/fhipe/order.ts";
import type { BidSubmission, SlotTradeTermsPayload, TradeTermsPayload } from "../../protocol/wire/schemas.ts";

/**
 * What goes on the bids stream. The ciphertext travels as its EVM words (what `placeBids` takes and what the
 * machines carry), so the gateway need not decode anything; the compact hex form would save ~20 % of the bytes.
 */
export function submissionOf(bid: SignedBid, submittedAt: number): BidSubmission {
  return {
    type: "bid.submit",
    bidder: bid.bidder,
    side: codeOfSide(bid.side),
    ciphertext: { left: [...bid.ciphertext.left], right: [...bid.ciphertext.right] },
    commitment: bid.commitment,
    ticket: { notAfter: bid.ticket.notAfter, signature: bid.ticket.signature },
    bidSignature: bid.bidderSignature,
    submittedAt,
  };
}

/** A sealed trade-terms payload (already opened and validated) as the session's `TERMS.RECEIVED`. */
export function termsEventOf(payload: TradeTermsPayload | SlotTradeTermsPayload): Extract<BidSessionEvent, { type: "TERMS.RECEIVED" }> {
  return { type: "TERMS.RECEIVED", bidder: payload.bidder, terms: { ...payload.terms }, counterpartOpening: { ...payload.counterpart.opening } };
}

/** The `forgeOpening` fault: the same opening with α + 1, so the commitment still matches but the ciphertext does not. */
export function forgedOpening(opening: Opening): Opening {
  const alpha = (BigInt(opening.alpha) + 1n) % FR_ORDER;
  return { ...opening, alpha: (alpha === 0n ? 1n : alpha).toString() };
}
