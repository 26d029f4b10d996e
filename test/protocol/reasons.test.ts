// Typed reasons (PROTOCOL §4, §5): a dispute ground's wire code and text, refusals and their error codes.
import { describe, expect, it } from "vitest";
import { describeDisputeClaim, describeRefusal, disputeClaimOf, disputeCodeOf, refusalCodes } from "../../protocol/reasons.ts";

describe("dispute grounds", () => {
  it("map to the wire's codes: a failed check is its own code, other grounds name theirs", () => {
    expect(disputeCodeOf({ kind: "counterpartOpeningInvalid", check: "ciphertext-mismatch" })).toBe("ciphertext-mismatch");
    expect(disputeCodeOf({ kind: "termsMismatch" })).toBe("terms-mismatch");
    expect(disputeCodeOf({ kind: "counterpartUnverifiable", error: "rpc down" })).toBe("counterpart-unverifiable");
    // A check that is not a code of its own (the bid is not the one on chain), or none: a malformed opening.
    expect(disputeCodeOf({ kind: "counterpartOpeningInvalid", check: "bidNotOnChain" })).toBe("malformed-opening");
    expect(disputeCodeOf({ kind: "counterpartOpeningInvalid", check: null })).toBe("malformed-opening");
  });

  it("travel as a claim whose detail says what the session found", () => {
    expect(disputeClaimOf({ kind: "counterpartUnverifiable", error: "rpc down" })).toEqual({
      code: "counterpart-unverifiable",
      detail: "the counterpart's opening could not be checked: rpc down",
    });
    expect(describeDisputeClaim({ code: "terms-mismatch", detail: "x" })).toBe("terms-mismatch: x");
    expect(describeDisputeClaim({ code: "terms-mismatch", detail: "y".repeat(600) })).toHaveLength(512);
  });
});

describe("refusals", () => {
  it("each has an error code, and reads `reason` or `reason: detail`", () => {
    expect(refusalCodes.unauthenticated).toBe("unauthorized");
    expect(refusalCodes.busy).toBe("unavailable");
    expect(refusalCodes.unknownMatch).toBe("not-found");
    expect(describeRefusal({ reason: "unauthenticated", detail: "unknown meter" })).toBe("unauthenticated: unknown meter");
    expect(describeRefusal({ reason: "busy" })).toBe("busy");
  });
});
