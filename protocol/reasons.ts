// Why things fail, as values (PROTOCOL §4, §5): every party decides on these unions and the wire carries their codes,
// so no one parses a reason out of a string.
import { z } from "zod";
import type { ErrorCode } from "./wire/schemas.ts";

// ---------------------------------------------------------------------------------------------------------------
// Voids (PROTOCOL §5 trading): the match is void and the unfilled bid may be re-bid.

export const voidReasonSchema = z.enum(["openingTimeout", "openingInvalid", "levelOrder", "termsTimeout"]);
export type VoidReason = z.output<typeof voidReasonSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Rejected bids (PROTOCOL §5 bidding): the contract's custom error name, or the gateway's own check, and its detail.

export const bidRejectionSchema = z.object({ error: z.string().min(1).max(64), detail: z.string().max(1000) });
export type BidRejection = z.output<typeof bidRejectionSchema>;

/** A bid the gateway refused before paying gas for it (its shape, its dimension, its ticket). */
export function invalidBid(problem: string): BidRejection {
  return { error: "InvalidBid", detail: problem.slice(0, 1000) };
}

// ---------------------------------------------------------------------------------------------------------------
// Opening checks (PROTOCOL §4): what re-encrypting an opening and recomputing its commitment can find wrong.

export const openingRejectionSchema = z.enum([
  "malformed-opening",
  "price-level-out-of-range",
  "bad-randomizer",
  "dimension-mismatch",
  "commitment-mismatch",
  "ciphertext-mismatch",
]);
export type OpeningRejection = z.output<typeof openingRejectionSchema>;

/** An opening did not verify: the check failed, or the bid it names is not the one the chain holds. */
export const openingCheckFailureSchema = z.enum([
  ...openingRejectionSchema.options,
  /** The one-time id has no ticket from this DSO. */
  "noTicket",
  /** No bid of that one-time id is on chain. */
  "bidNotOnChain",
  /** The bid on chain is on the other side. */
  "sideMismatch",
]);
export type OpeningCheckFailure = z.output<typeof openingCheckFailureSchema>;

/** What checking an opening answers. */
export type OpeningVerdict = { valid: true } | { valid: false; reason: OpeningCheckFailure };

// ---------------------------------------------------------------------------------------------------------------
// Disputes (PROTOCOL §5 trading step 3): a meter does not accept its trade.

/** The code a dispute travels with. */
export const disputeCodeSchema = z.enum([
  ...openingRejectionSchema.options,
  "levels-not-crossed",
  "terms-mismatch",
  /** The meter could not check the counterpart's opening at all (bid not found on chain, RPC down after retries). */
  "counterpart-unverifiable",
]);
export type DisputeCode = z.output<typeof disputeCodeSchema>;

/** Why a meter disputes its trade, as its bid session decides it. */
export const disputeGroundSchema = z.discriminatedUnion("kind", [
  /** The counterpart's opening did not verify (`check`), or the verifier gave no reason (null). */
  z.object({ kind: z.literal("counterpartOpeningInvalid"), check: openingCheckFailureSchema.nullable() }),
  /** The opening verified but the DSO's terms do not follow from the two openings under the market's rule. */
  z.object({ kind: z.literal("termsMismatch") }),
  /** The counterpart's opening could not be checked at all (after the retries). */
  z.object({ kind: z.literal("counterpartUnverifiable"), error: z.string().max(512) }),
]);
export type DisputeGround = z.output<typeof disputeGroundSchema>;

/** A dispute as the DSO records it and tells both meters: its code and the disputing meter's detail. */
export const disputeClaimSchema = z.object({ code: disputeCodeSchema, detail: z.string().max(1000) });
export type DisputeClaim = z.output<typeof disputeClaimSchema>;

/** The claim a bid session reports for its ground (the code by `disputeCodeOf`, the detail by `describeDisputeGround`). */
export function disputeClaimOf(ground: DisputeGround): DisputeClaim {
  return { code: disputeCodeOf(ground), detail: describeDisputeGround(ground) };
}

/** A claim as one line (what the DSO's database stores). */
export function describeDisputeClaim(claim: DisputeClaim): string {
  return (claim.detail ? `${claim.code}: ${claim.detail}` : claim.code).slice(0, 512);
}

/** The wire code of a dispute ground; a check that is not itself a code is reported as a malformed opening. */
export function disputeCodeOf(ground: DisputeGround): DisputeCode {
  switch (ground.kind) {
    case "termsMismatch":
      return "terms-mismatch";
    case "counterpartUnverifiable":
      return "counterpart-unverifiable";
    case "counterpartOpeningInvalid": {
      const code = disputeCodeSchema.safeParse(ground.check);
      return code.success ? code.data : "malformed-opening";
    }
  }
}

/** One line for logs and the dispute's detail. */
export function describeDisputeGround(ground: DisputeGround): string {
  switch (ground.kind) {
    case "termsMismatch":
      return "the terms do not follow from the two openings";
    case "counterpartUnverifiable":
      return `the counterpart's opening could not be checked: ${ground.error}`;
    case "counterpartOpeningInvalid":
      return `the counterpart's opening does not verify${ground.check ? `: ${ground.check}` : ""}`;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Authentication (PROTOCOL §4): why the DSO did not accept a meter's signed enrolment or ticket request.

export const authenticationFailureSchema = z.enum([
  /** The registry provisions no meter of that id. */
  "unknownMeter",
  /** The signed payload is not the request it claims to be. */
  "malformedPayload",
  /** Signed, but not by the key the registry provisions for that meter. */
  "notTheProvisionedKey",
  /** Signed too long ago (or in the future). */
  "stale",
  /** The signature does not verify. */
  "badSignature",
  /** The enrolment's public key is not the provisioned key. */
  "publicKeyMismatch",
  /** A ticket request from a meter that has not enrolled. */
  "notEnrolled",
  /** A ticket request not sealed by the one-time key it asks a ticket for. */
  "notSealedByBidder",
]);
export type AuthenticationFailure = z.output<typeof authenticationFailureSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Refused requests (PROTOCOL §4, §5): the DSO's answer to an enrolment, ticket, opening or dispute it does not serve.

/** Each refusal and the wire error code it travels as. */
export const refusalCodes = {
  unauthenticated: "unauthorized",
  notAParty: "unauthorized",
  bidderTaken: "conflict",
  alreadyOpened: "conflict",
  unknownMatch: "not-found",
  unavailable: "unavailable",
  busy: "unavailable",
  notReady: "unavailable",
  openingWindowClosed: "rejected",
  noTermsYet: "rejected",
  disputeWindowClosed: "rejected",
} as const satisfies Record<string, ErrorCode>;
export type RefusalReason = keyof typeof refusalCodes;

export const refusalReasonSchema = z.enum(Object.keys(refusalCodes) as [RefusalReason, ...RefusalReason[]]);

/** A refusal; `detail` says more where the reason alone does not (why authentication failed). */
export type Refusal = { reason: RefusalReason; detail?: string };

/** A refusal as one line: `reason` or `reason: detail` (the text meters see in the error reply). */
export function describeRefusal(refusal: Refusal): string {
  return refusal.detail ? `${refusal.reason}: ${refusal.detail}` : refusal.reason;
}
