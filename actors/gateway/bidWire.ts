// Bid conversions at the gateway's edges: wire submission (schemas.ts) → domain bid (protocol/domain.ts) → contract call.
import { getBytes } from "ethers";
import { decodeBidCiphertext } from "../../protocol/fhipe/binary.ts";
import { UndecodableCiphertextError } from "./errors.ts";
import type { BidSubmission } from "../../protocol/wire/schemas.ts";
import { codeOfSide, sideOfCode, type SignedBid as MachineBid } from "../../protocol/domain.ts";
import type { SignedBid as ContractBid } from "../../contracts/client/index.ts";
import { type Hex } from "../../protocol/base/hex.ts";

/**
 * The machine's view of a submission. The compact hex ciphertext is decoded here, which also checks every point
 * (PROTOCOL §3): a corrupted bid is refused before it costs gas. Decimal words are passed on as they are (the
 * contract checks them; a bad one is rejected alone in its batch).
 */
export function machineBidOf(submission: BidSubmission): MachineBid {
  let left: string[];
  let right: string[];
  if (typeof submission.ciphertext === "string") {
    try {
      const decoded = decodeBidCiphertext(getBytes(submission.ciphertext));
      left = decoded.left.map(String);
      right = decoded.right.map(String);
    } catch (cause) {
      throw new UndecodableCiphertextError({ bidder: submission.bidder, cause });
    }
  } else {
    left = [...submission.ciphertext.left];
    right = [...submission.ciphertext.right];
  }
  return {
    bidder: submission.bidder,
    side: sideOfCode(submission.side),
    ciphertext: { left, right },
    commitment: submission.commitment,
    ticket: { bidder: submission.bidder, notAfter: submission.ticket.notAfter, signature: submission.ticket.signature },
    bidderSignature: submission.bidSignature,
  };
}

/** The contract's `SignedBid` for `placeBids`. */
export function contractBidOf(bid: MachineBid): ContractBid {
  return {
    bidder: bid.bidder as Hex,
    side: codeOfSide(bid.side),
    notAfter: BigInt(bid.ticket.notAfter),
    commitment: bid.commitment as Hex,
    left: bid.ciphertext.left.map((word) => BigInt(word)),
    right: bid.ciphertext.right.map((word) => BigInt(word)),
    ticketSignature: bid.ticket.signature as Hex,
    bidderSignature: bid.bidderSignature as Hex,
  };
}
