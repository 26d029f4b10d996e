// The bids the gateway's machine takes, one kind per market design (PROTOCOL "Versions"): version 1's signed bid
// (protocol/domain.ts `signedBidSchema`) and version 2's certified slot bid (PROTOCOL §4 v2). The machine reads only
// a bid's bidder; which kind a market takes, and what makes a bid of that kind fit to cost gas, is decided here once.
import { z } from "zod";
import { addressSchema, bytes32Schema, signatureSchema, uint256Schema, unixSecondsSchema } from "../../protocol/base/primitives.ts";
import { SLOT_MAX } from "../../protocol/book/slotBooks.ts";
import { sameAddress } from "../../protocol/base/hex.ts";
import { sideSchema, signedBidSchema, type SignedBid } from "../../protocol/domain.ts";
import { describeIssues } from "../kit/errors.ts";

/**
 * Which bids a market takes. Version 2's `tokens` is m + 1 (PROTOCOL §3.2): a certified ciphertext is
 * `6 · d · tokens` words (left tokens of 2d words, then right tokens of 4d).
 */
export type GatewayDesign = { version: 1 } | { version: 2; tokens: number };

export const VERSION_1: GatewayDesign = { version: 1 };

/**
 * A certified version 2 bid as the gateway holds it (PROTOCOL §4 v2): what the slot market's `Bid` needs besides its
 * hint, the ciphertext as the contract's flat words (decimal). The DSO's ticket signs everything but the hint.
 */
export const slotBidSchema = z.strictObject({
  bidder: addressSchema,
  side: sideSchema,
  slot: z.int().min(0).max(SLOT_MAX),
  notAfter: unixSecondsSchema,
  commitment: bytes32Schema,
  ciphertext: z.array(uint256Schema).min(6).max(4_096),
  ticketSignature: signatureSchema,
});
export type SlotBid = z.output<typeof slotBidSchema>;

/** A bid of either design; the machine only ever reads its bidder. */
export type GatewayBid = SignedBid | SlotBid;

export function isSlotBid(bid: GatewayBid): bid is SlotBid {
  return "slot" in bid;
}

/** Why a bid cannot be sent in a market of this design, or null (checked before it costs gas). */
export function bidProblem(bid: unknown, dimension: number, design: GatewayDesign = VERSION_1): string | null {
  if (design.version === 1) {
    const parsed = signedBidSchema.safeParse(bid);
    if (!parsed.success) return describeIssues(parsed.error);
    if (parsed.data.ciphertext.left.length !== 2 * dimension) return `left must have ${2 * dimension} words`;
    if (parsed.data.ciphertext.right.length !== 4 * dimension) return `right must have ${4 * dimension} words`;
    if (!sameAddress(parsed.data.ticket.bidder, parsed.data.bidder)) return "ticket is for another bidder";
    return null;
  }
  const parsed = slotBidSchema.safeParse(bid);
  if (!parsed.success) return describeIssues(parsed.error);
  const words = 6 * dimension * design.tokens;
  if (parsed.data.ciphertext.length !== words) return `the ciphertext must have ${words} words`;
  return null;
}

/**
 * Version 2's rejections that say nothing about the bid, only about the hints it was sent with or the book it met
 * (PROTOCOL §5 v2: "a stale hint rejects that placement only; the gateway re-hints and resubmits"): the book changed
 * after the hints were made (`StaleHint`), a hint proved nothing (`BadMerkleProof`, `RelationNotProved`: the hint
 * source erred), or too many expired heads wait for a purge (`ExpiredBacklog`). Such a bid is sent again later, never
 * refused. Version 1 has no hints and no purge of its own, so none of its rejections is retried.
 */
const RETRIED_REJECTIONS: ReadonlySet<string> = new Set(["StaleHint", "BadMerkleProof", "RelationNotProved", "ExpiredBacklog"]);

export function isRetriedRejection(reason: string | undefined, design: GatewayDesign): boolean {
  return design.version === 2 && reason !== undefined && RETRIED_REJECTIONS.has(reason);
}
