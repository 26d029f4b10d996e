// Bid conversions at the gateway's edges: wire submission (schemas.ts) → domain bid (protocol/domain.ts) → contract call.
import { getBytes } from "ethers";
import { decodeBidCiphertext } from "../../protocol/fhipe/binary.ts";
import { g1VectorFromWords, g2VectorFromWords } from "../../protocol/fhipe/evmWords.ts";
import { UndecodableCiphertextError } from "./errors.ts";
import type { BidSubmission } from "../../protocol/wire/schemas.ts";
import { codeOfSide, sideOfCode, type SignedBid as MachineBid } from "../../protocol/domain.ts";
import type { SignedBid as ContractBid } from "../../contracts/client/index.ts";
import { type Hex } from "../../protocol/base/hex.ts";

/**
 * The machine's view of a submission. Either form of the ciphertext has every point checked here (on the curve, and
 * G2 in its subgroup; PROTOCOL §3): the compact hex as it is decoded, the decimal words as they are parsed. A corrupted
 * bid is refused before it costs gas. (`checkPoints: false` only for the bench's plaintext market, whose words are
 * clear price levels, not points.)
 */
export function machineBidOf(submission: BidSubmission, options: { checkPoints: boolean } = { checkPoints: true }): MachineBid {
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
    if (options.checkPoints) checkPoints(submission.bidder, left, right);
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

/** Parses every point of a word-form ciphertext (on the curve, G2 in its subgroup), or refuses the bid. */
function checkPoints(bidder: string, left: readonly string[], right: readonly string[]): void {
  try {
    g1VectorFromWords(left.map(BigInt));
    g2VectorFromWords(right.map(BigInt));
  } catch (cause) {
    throw new UndecodableCiphertextError({ bidder, cause });
  }
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
